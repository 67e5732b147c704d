"""Modality modules MM_m of the recogniser (paper Fig. 1, eq. 1): one transformer encoder per modality.

Each one reads a padded (B, T, D_m) feature sequence: long inputs are first shortened in time by
masked average pooling (so 400-step audio or 500-step video costs about as much as 64 steps), then a
linear layer projects D_m to the model width, sinusoidal positions are added, and a pre-norm
transformer encoder attends over the real steps.
"""

from __future__ import annotations

import torch
from torch import nn

from xmer.models.layers import TransformerEncoder, shorten, sinusoidal_positions


class ModalityEncoder(nn.Module):
    """MM_m: shorten, project, add positions, transformer encoder.

    Args:
        input_dim: feature size D_m of the modality.
        d_model: model width.
        d_ff: feed-forward width.
        heads: attention heads.
        layers: transformer layers.
        max_steps: inputs with more real steps are average-pooled in time to at most this many.
        dropout: dropout on the embedding and on residual branches.
        attention_dropout: dropout inside attention.
    """

    def __init__(
        self,
        input_dim: int,
        d_model: int,
        d_ff: int,
        heads: int,
        layers: int,
        max_steps: int,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.max_steps = max_steps
        self.project = nn.Linear(input_dim, d_model)
        self.register_buffer("positions", sinusoidal_positions(max_steps, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.encoder = TransformerEncoder(layers, d_model, d_ff, heads, dropout, attention_dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode one modality.

        Args:
            x: (B, T, D_m) features, any value at padding.
            mask: (B, T) bool, True at real steps; every row needs at least one.

        Returns:
            ``(h, mask')``: (B, T', d_model) encodings and their (B, T') bool mask, T' <= max_steps
            when the input was shortened, else T' <= T (trailing all-padding steps are cut).
        """
        x, mask = shorten(x, mask, self.max_steps)  # (B, T', D_m), (B, T')
        x = x.masked_fill(~mask[..., None], 0.0)  # whatever padding held (even NaN) cannot leak
        h = self.project(x) + self.positions[: x.shape[1]]  # (B, T', d_model); T' <= max_steps
        return self.encoder(self.dropout(h), mask), mask
