"""Several trained systems answering as one: their calibrated class probabilities averaged.

Runs of one configuration that differ only in their seed disagree on a few samples each, and not on
the same ones; the mean of their probabilities is right more often than any of them
(``benchmarks/ensemble.py`` measures it; docs/default_model.md has the figures). :class:`Ensemble` has the interface
:class:`~xmer.inference.Recognizer` uses of a system, so everything that predicts takes it as is.
"""

from __future__ import annotations

import torch
from torch import nn

from xmer.data.contract import Batch


class Ensemble(nn.Module):
    """The members' calibrated probabilities, averaged. Single-label models only.

    ``forward`` returns the log of the mean probabilities, so that :meth:`probabilities` (a softmax)
    gives the mean back; which modalities are imagined is the first member's answer (the members
    share a configuration, so they imagine the same ones).
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if any(m.multi_label for m in members):
            raise ValueError("ensembles of multi-label models are not supported")
        self.members = nn.ModuleList(members)
        self.temperature = 1.0  # each member applies its own

    is_ensemble = True
    """Several systems averaged: scored as a whole, without per-system diagnostics (:mod:`xmer.scoring`)."""

    @property
    def multi_label(self) -> bool:
        return False

    def forward(self, batch: Batch) -> torch.Tensor:
        mean = torch.stack([m.probabilities(m(batch)).float() for m in self.members]).mean(0)
        return mean.clamp_min(1e-12).log()

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits / self.temperature, dim=-1)

    def can_imagine(self) -> bool:
        return self.members[0].can_imagine()

    def imagined_modalities(self, batch: Batch) -> dict[str, torch.Tensor]:
        return self.members[0].imagined_modalities(batch)
