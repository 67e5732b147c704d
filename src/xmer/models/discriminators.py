"""Discriminators of the translators: per-step Dis_m and whole-sequence SeqDis_m (paper Fig. 2).

- ``StepDiscriminator`` (Dis_m) judges single steps of modality m: real or generated (one logit).
- ``SequenceDiscriminator`` (SeqDis_m) reads a whole sequence of modality m with a transformer (paper
  IV.B.3: one layer, width 128, feed-forward 128, 4 heads) and uses the (K+1)-class objective of
  eq. 14: K emotion classes for real sequences, class K+1 for generated ones. For multi-label sets
  (DESIGN.md 2.4) it has K per-emotion sigmoid outputs plus one real/fake output instead.

``Discriminators`` holds one of each per modality in ``nn.ModuleDict``s, so that the training loop
gives them their own optimiser in one line.
"""

from __future__ import annotations

import torch
from torch import nn

from xmer.config import ModelConfig, TranslatorConfig
from xmer.models.encoders import ModalityEncoder
from xmer.models.layers import masked_mean
from xmer.modalities import MODALITIES


class StepDiscriminator(nn.Module):
    """Dis_m: (..., D_m) steps -> (...) real/fake logits."""

    def __init__(self, input_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(input_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class SequenceDiscriminator(nn.Module):
    """SeqDis_m: a (B, T, D_m) sequence -> (B, K + 1) logits; the last one is "generated"."""

    def __init__(self, input_dim: int, num_classes: int, model: ModelConfig, layers: int, max_steps: int):
        super().__init__()
        # No dropout: a discriminator that is regularised by the generator needs none, and on CPU
        # dropout's random masks cost about a tenth of SeqDis's time.
        self.encoder = ModalityEncoder(input_dim, model.d_model, model.d_ff, model.heads, layers, max_steps, 0.0, 0.0)
        self.head = nn.Linear(model.d_model, num_classes + 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, mask = self.encoder(x, mask)  # (B, T', d_model)
        return self.head(masked_mean(h, mask))  # (B, K + 1)


class Discriminators(nn.Module):
    """Dis_m and SeqDis_m for every modality."""

    def __init__(self, input_dims: dict[str, int], num_classes: int, model: ModelConfig, config: TranslatorConfig):
        super().__init__()
        modalities = [m for m in MODALITIES if m in input_dims]
        self.step = nn.ModuleDict({m: StepDiscriminator(input_dims[m], config.step_disc_hidden) for m in modalities})
        self.sequence = nn.ModuleDict(
            {
                m: SequenceDiscriminator(input_dims[m], num_classes, model, config.seqdis_layers, config.seqdis_max_steps)
                for m in modalities
            }
        )
