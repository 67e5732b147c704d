"""Fusion of the modality modules' outputs (paper eq. 1-2, DESIGN.md 2.1).

The MM_m outputs have different lengths, so each is first resampled in time to a common fusion
length L (:func:`resample`, masked adaptive average pooling: a row's n real steps are spread over
the L steps whatever its padding). Then the weighted sum of eq. 1 (:func:`weighted_sum`) combines
them, and the fusion module MFM (:class:`FusionModule`, a transformer over the L steps) reads it.

Missing modalities: a sample without modality m gets no term from m, and the weights of the
modalities it has are renormalised to sum to 1 for that sample. With every modality present and the
paper's w_m = 1/3 this is exactly eq. 1; with one missing it is what the recogniser does when no
translator imagines the missing modality. Every L step of every sample then has a real input, so
the fused sequence carries no padding.
"""

from __future__ import annotations

import torch
from torch import nn

from xmer.models.layers import TransformerEncoder, segment_mean


def resample(x: torch.Tensor, mask: torch.Tensor, length: int) -> torch.Tensor:
    """Masked adaptive average pooling in time to a fixed length.

    As ``torch.nn.functional.adaptive_avg_pool1d`` applied to each row's own n real steps: output
    step i averages real steps floor(i n / L) .. ceil((i + 1) n / L) - 1, so a shorter row (n < L)
    repeats its steps and a longer one averages them. Padding never counts.

    Args:
        x: (B, T, D).
        mask: (B, T) bool, True at real steps.
        length: L.

    Returns:
        (B, L, D); all zeros for a row without real steps, otherwise every step holds real input.
    """
    count = mask.sum(1, keepdim=True)  # (B, 1)
    index = torch.arange(length, device=x.device)[None, :]  # (1, L)
    starts = torch.div(index * count, length, rounding_mode="floor")  # (B, L)
    ends = torch.div((index + 1) * count + length - 1, length, rounding_mode="floor")
    return segment_mean(x, mask, starts, ends)


def modality_weights(present: dict[str, torch.Tensor], weights: dict[str, float]) -> dict[str, torch.Tensor]:
    """Per-sample weights of eq. 1, renormalised over the modalities each sample has.

    Args:
        present: modality -> (B,) bool.
        weights: modality -> w_m > 0 (the paper: 1/3 each).

    Returns:
        modality -> (B,) float32 weight, zero where the modality is absent; each row sums to 1
        (0 for a row with no modality, which callers reject before).
    """
    raw = {m: present[m].float() * weights[m] for m in present}  # m -> (B,)
    total = torch.stack(list(raw.values())).sum(0).clamp(min=torch.finfo(torch.float32).tiny)  # (B,)
    return {m: w / total for m, w in raw.items()}


def weighted_sum(streams: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """WS = sum_m w_m * stream_m (eq. 1), with per-sample weights.

    Args:
        streams: modality -> (B, L, D) resampled MM_m output (modalities no sample has may be left out).
        weights: modality -> (B,) weight, from :func:`modality_weights`.

    Returns:
        (B, L, D).
    """
    terms = [weights[m].to(s.dtype)[:, None, None] * s for m, s in streams.items()]  # each (B, L, D)
    return torch.stack(terms).sum(0) if len(terms) > 1 else terms[0]


class FusionModule(nn.Module):
    """MFM (eq. 2): a transformer encoder over the L fused steps, then mean pooling over them.

    Args:
        d_model, d_ff, heads, layers, dropout, attention_dropout: as in :class:`TransformerEncoder`.
    """

    def __init__(
        self, d_model: int, d_ff: int, heads: int, layers: int, dropout: float = 0.0, attention_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.encoder = TransformerEncoder(layers, d_model, d_ff, heads, dropout, attention_dropout)

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        """(B, L, D) weighted sum -> (B, D) pooled fusion output MF. All L steps are real (see module doc)."""
        return self.encoder(fused).mean(1)
