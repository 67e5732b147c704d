"""The whole model: the trimodal recogniser plus (optionally) the translators that imagine missing
modalities, and Algorithm 1's candidate combinations (paper III.C).

For every sample and every modality m, the *candidates* are the real m (if the sample has it) and
the translations T_{s->m}(x_s) from each other modality s the sample has. A *combination* picks one
candidate per modality. Training (Algorithm 1) feeds the recogniser combinations of real and imagined
candidates: ``all`` of them (up to 27 for a trimodal sample, 1 for a unimodal one) or ``k`` sampled
per sample per step. Inference keeps every observed modality real, imagines each missing one from
each observed source, and averages the recogniser's logits over those combinations.

Combinations are written as one source initial per modality in v, a, t order: ``"vvt"`` = real
visual, audio imagined from visual, real text.
"""

from __future__ import annotations

from itertools import product

import torch
from torch import nn

from xmer.data.contract import Batch
from xmer.models.discriminators import Discriminators
from xmer.models.translators import CrossModalTranslator


class XmerSystem(nn.Module):
    """Recogniser + translators + discriminators, with the recogniser's interface
    (``forward(batch) -> logits``, ``loss``, ``probabilities``) so evaluation and prediction treat
    every model alike.

    Args:
        recognizer: the trimodal recogniser (eq. 1-3).
        translator: the cross-modal translators, or None for the recogniser alone.
        discriminators: Dis_m and SeqDis_m (training only), or None.
    """

    is_ensemble = False
    """One system (an :class:`~xmer.models.ensemble.Ensemble` says True): evaluation adds its diagnostics."""

    def __init__(self, recognizer: nn.Module, translator: CrossModalTranslator | None = None,
                 discriminators: Discriminators | None = None):
        super().__init__()
        self.recognizer = recognizer
        self.translator = translator
        self.discriminators = discriminators
        self.temperature = 1.0
        """Softmax temperature fitted on validation after training (xmer.evaluation.calibration); not a weight."""
        self.modalities: tuple[str, ...] = translator.modalities if translator is not None else ()
        # COMBOS[c, i] = index (into self.modalities) of the source of modality i in combination c.
        combos = list(product(range(len(self.modalities)), repeat=len(self.modalities)))
        self.register_buffer("combos", torch.tensor(combos, dtype=torch.long).reshape(len(combos), -1), persistent=False)

    @property
    def multi_label(self) -> bool:
        return self.recognizer.multi_label

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.recognizer.loss(logits, labels)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities; single-label logits are divided by the calibrated :attr:`temperature` first."""
        if not self.multi_label and self.temperature != 1.0:
            logits = logits / self.temperature
        return self.recognizer.probabilities(logits)

    def can_imagine(self) -> bool:
        return self.translator is not None

    # -- Algorithm 1 --------------------------------------------------------------------------

    def valid_combinations(self, present: dict[str, torch.Tensor], imaginable=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Which combinations each sample allows, from its ``present`` masks alone.

        Args:
            imaginable: the modalities that may be imagined (default: all). Any other modality is
                only ever itself: real where the sample has it, left out where it does not
                (Tables 7/8: augmentation applied to some modalities only).

        Returns:
            valid: (B, C) bool, every chosen source exists for sample b;
            observed: (B, C) bool, valid and every observed modality kept real (what inference uses).
        """
        imaginable = self.modalities if imaginable is None else tuple(imaginable)
        valid = observed = None
        for i, m in enumerate(self.modalities):
            avail = torch.stack([present[s] for s in self.modalities])  # (S, B)
            source = self.combos[:, i]  # (C,)
            ok = avail[source].T  # (B, C)
            if m not in imaginable:
                ok = (source == i)[None, :].expand_as(ok)  # itself, present or not
            real_kept = ~present[m][:, None] | (source == i)[None, :]  # (B, C)
            valid = ok if valid is None else valid & ok
            observed = real_kept if observed is None else observed & real_kept
        return valid, valid & observed

    def combine(self, batch: Batch, rows: torch.Tensor, combos: torch.Tensor) -> Batch:
        """The batch of combinations: row r is sample ``rows[r]`` with combination ``combos[r]``.

        Only the translations the chosen combinations use are computed, each source encoded once
        over the rows that need it (translation keeps the source's length, so modality m's padded
        length is the longest of its chosen sources).
        """
        names = self.modalities
        sources = {m: self.combos[combos, i] for i, m in enumerate(names)}  # m -> (R,) source index
        encoded = {}
        for s_index, s in enumerate(names):
            need = torch.zeros(len(rows), dtype=torch.bool, device=rows.device)
            for i, m in enumerate(names):
                if i != s_index:
                    need |= sources[m] == s_index
            if need.any():
                picked = need.nonzero().squeeze(1)  # positions in R
                encoded[s] = (picked, self.translator.encode(s, batch.features[s][rows[picked]]).z)
        features, mask, present, imagined = {}, {}, {}, {}
        for i, m in enumerate(names):
            parts = []  # (positions in R, features, mask)
            for s_index, s in enumerate(names):
                positions = (sources[m] == s_index).nonzero().squeeze(1)
                if not len(positions):
                    continue
                if s_index == i:
                    x = batch.features[m][rows[positions]]
                else:
                    picked, z = encoded[s]
                    lookup = torch.full((len(rows),), -1, dtype=torch.long, device=rows.device)
                    lookup[picked] = torch.arange(len(picked), device=rows.device)
                    x = self.translator.decode(m, z[lookup[positions]])  # (N, T_s, D_m)
                parts.append((positions, x, batch.mask[s][rows[positions]]))
            steps = max(x.shape[1] for _, x, _ in parts)
            out = batch.features[m].new_zeros(len(rows), steps, batch.features[m].shape[-1])
            out_mask = torch.zeros(len(rows), steps, dtype=torch.bool, device=rows.device)
            for positions, x, mk in parts:
                out = out.index_copy(0, positions, nn.functional.pad(x, (0, 0, 0, steps - x.shape[1])))
                out_mask[positions] = nn.functional.pad(mk, (0, steps - mk.shape[1]))
            features[m], mask[m] = out, out_mask
            imagined[m] = sources[m] != i
            present[m] = imagined[m] | batch.present[m][rows]  # a non-imaginable modality may stay absent
        keep = rows.tolist()
        return Batch(
            features=features, mask=mask, present=present, labels=batch.labels[rows],
            ids=[batch.ids[r] for r in keep], sources=[batch.sources[r] for r in keep], imagined=imagined,
        )

    def augment(self, batch: Batch, mode: str = "sampled", k: int = 1, include_observed: bool = True,
                generator: torch.Generator | None = None, imaginable=None) -> tuple[Batch, torch.Tensor]:
        """Algorithm 1: the batch of real + imagined combinations the recogniser trains on.

        Args:
            mode: ``"all"`` (every possible combination) or ``"sampled"`` (k per sample).
            k: combinations per sample in ``"sampled"`` mode (fewer if a sample has fewer).
            include_observed: in ``"sampled"`` mode, one of the k keeps the observed modalities real.
            generator: the local RNG for sampling (seeded by the training loop).
            imaginable: the modalities Algorithm 1 may imagine (default: all three).

        Returns:
            the batch of combinations (R rows) and the (R,) combination index of each row
            (:meth:`combination_names` names them).
        """
        valid, observed = self.valid_combinations(batch.present, imaginable)  # (B, C)
        if mode == "all":
            rows, combos = valid.nonzero(as_tuple=True)
        elif mode == "sampled":
            score = torch.rand(valid.shape, generator=generator).to(valid.device)
            chosen = torch.zeros_like(valid)
            if include_observed:
                first = score.masked_fill(~observed, -1.0).argmax(1)  # (B,)
                chosen[torch.arange(len(batch), device=valid.device), first] = True
            rest = score.masked_fill(~valid | chosen, -1.0)
            extra = rest.topk(max(0, k - int(include_observed)), dim=1)
            for j in range(extra.indices.shape[1]):
                take = extra.values[:, j] >= 0
                chosen[take, extra.indices[take, j]] = True
            rows, combos = chosen.nonzero(as_tuple=True)
        else:
            raise ValueError(f"unknown combination mode {mode!r}; expected 'all' or 'sampled'")
        return self.combine(batch, rows, combos), combos

    def combination_names(self, combos: torch.Tensor) -> list[str]:
        """``"vvt"``-style names (source initial per modality) of combination indices (R,)."""
        initials = [m[0] for m in self.modalities]
        return ["".join(initials[i] for i in self.combos[c].tolist()) for c in combos.tolist()]

    # -- inference ------------------------------------------------------------------------------

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits (B, K). With translators, each missing modality is imagined from every observed
        one and the logits are averaged over those combinations; without, missing modalities are
        left out (the recogniser renormalises its fusion weights)."""
        if self.translator is None:
            return self.recognizer(batch)
        _, observed = self.valid_combinations(batch.present)
        rows, combos = observed.nonzero(as_tuple=True)
        if len(rows) == 0:
            return self.recognizer(batch)
        logits = self.recognizer(self.combine(batch, rows, combos))  # (R, K)
        total = torch.zeros(len(batch), logits.shape[1], device=logits.device, dtype=logits.dtype)
        count = torch.zeros(len(batch), 1, device=logits.device, dtype=logits.dtype)
        total.index_add_(0, rows, logits)
        count.index_add_(0, rows, torch.ones_like(logits[:, :1]))
        return total / count.clamp(min=1.0)

    def imagined_modalities(self, batch: Batch) -> dict[str, torch.Tensor]:
        """modality -> (B,) bool: what :meth:`forward` imagines for each sample."""
        if self.translator is None:
            return {}
        return {m: ~batch.present[m] for m in self.modalities if m in batch.present}


def build_system(config, input_dims: dict[str, int], num_classes: int, multi_label: bool) -> XmerSystem:
    """The model a :class:`~xmer.config.Config` describes: the recogniser, plus translators and
    discriminators when ``translator.enabled``."""
    from xmer.models import build_model

    recognizer = build_model(config.model, input_dims, num_classes, multi_label)
    if not config.translator.enabled:
        return XmerSystem(recognizer)
    translator = CrossModalTranslator(input_dims, config.translator)
    discriminators = Discriminators(input_dims, num_classes, config.model, config.translator)
    return XmerSystem(recognizer, translator, discriminators)
