"""Cross-modal translators: six sequential VAE-GAN translations through one shared latent space.

Paper III.B and Fig. 2; DESIGN.md 1. Each modality m has a step-wise encoder Enc_m (one sequence
step in, a Gaussian latent out) and a step-wise decoder Dec_m (a latent in, one step of m out).
Following UNIT (the paper's ref. 47), the *last* layer of every encoder and the *first* layer of
every decoder are shared across modalities, so all encoders map into one latent space and

    T_{i->j}(x_i) = Dec_j(Enc_i(x_i))        (applied to every step; the output has x_i's length)

is a translation for each of the 6 ordered pairs. The per-step discriminators Dis_m and the
sequence discriminators SeqDis_m live in :mod:`xmer.models.discriminators`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from xmer.config import TranslatorConfig
from xmer.modalities import MODALITIES


@dataclass
class Encoding:
    """A Gaussian latent per step: mean and log-variance (B, T, Z), and a draw z (B, T, Z)."""

    mean: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor


class CrossModalTranslator(nn.Module):
    """Enc_m and Dec_m for every modality, with the UNIT-style shared layers.

    Args:
        input_dims: modality -> feature size D_m.
        config: widths of the step networks and the latent space.
    """

    def __init__(self, input_dims: dict[str, int], config: TranslatorConfig):
        super().__init__()
        self.modalities = tuple(m for m in MODALITIES if m in input_dims)
        h, z = config.hidden, config.latent
        self.encoders = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(input_dims[m], h), nn.LayerNorm(h), nn.GELU()) for m in self.modalities}
        )
        self.shared_encoder_head = nn.Linear(h, 2 * z)  # last encoder layer, shared: -> (mean, logvar)
        self.shared_decoder_stem = nn.Sequential(nn.Linear(z, h), nn.GELU())  # first decoder layer, shared
        self.decoders = nn.ModuleDict({m: nn.Linear(h, input_dims[m]) for m in self.modalities})

    def encode(self, modality: str, x: torch.Tensor) -> Encoding:
        """Enc_m, step by step: x (B, T, D_m) -> Encoding with (B, T, Z) tensors.

        Draws z by reparameterisation in training mode and takes the mean in eval mode.
        """
        mean, logvar = self.shared_encoder_head(self.encoders[modality](x)).chunk(2, dim=-1)
        logvar = logvar.clamp(-8.0, 8.0)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if self.training else mean
        return Encoding(mean, logvar, z)

    def decode(self, modality: str, z: torch.Tensor) -> torch.Tensor:
        """Dec_m, step by step: z (B, T, Z) -> (B, T, D_m)."""
        return self.decoders[modality](self.shared_decoder_stem(z))

    def translate(self, source: str, target: str, x: torch.Tensor) -> tuple[torch.Tensor, Encoding]:
        """T_{source->target}: x (B, T, D_source) -> (B, T, D_target), plus the source's encoding.

        With ``source == target`` this is the VAE reconstruction Dec_i(Enc_i(x_i)).
        """
        encoding = self.encode(source, x)
        return self.decode(target, encoding.z), encoding
