"""The data contract: one sample, one batch, and the collate function between them.

A sample carries a variable-length (T_m, D_m) float32 sequence for each modality it *has*; a missing
modality is absent from ``Sample.features``, never a zero array. A batch pads each modality's
sequences to the longest in the batch and carries two masks that mean different things:

- ``mask[m]``    (B, T_m) bool, True at real time steps (False at padding);
- ``present[m]`` (B,) bool, True where the sample has modality m at all.

A sample without modality m has an all-False ``mask[m]`` row, zeros in ``features[m]`` and
``present[m] == False``. Every modality the batch was collated for is a key of all three dicts (so
model code can iterate ``MODALITIES`` without special cases), even if no sample in the batch has it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np
import torch

from xmer.errors import DataError
from xmer.modalities import MODALITIES


@dataclass
class Sample:
    """One sample as read from a prepared dataset.

    Attributes:
        id: unique sample id within the dataset.
        source: name of the dataset the sample comes from (``"toy"``, ``"fer2013"``, ...).
        features: modality -> (T, D) float32 array, only for the modalities the sample has.
        label: class index (single-label) or a (K,) float32 multi-hot vector (multi-label).
    """

    id: str
    source: str
    features: dict[str, np.ndarray]
    label: int | np.ndarray

    def __post_init__(self) -> None:
        if not self.features:
            raise DataError(f"sample {self.id!r}: has no modality at all")
        for modality, array in self.features.items():
            if modality not in MODALITIES:
                raise DataError(f"sample {self.id!r}: unknown modality {modality!r}")
            if array.ndim != 2 or array.shape[0] == 0:
                raise DataError(
                    f"sample {self.id!r}, modality {modality!r}: expected a (T, D) array with T >= 1, "
                    f"got shape {tuple(array.shape)}"
                )
            if not np.isfinite(array).all():
                raise DataError(f"sample {self.id!r}, modality {modality!r}: features contain NaN or Inf")


@dataclass
class Batch:
    """A padded batch. Shapes: B samples, T_m padded steps, D_m feature size of modality m, K classes.

    Attributes:
        features: modality -> (B, T_m, D_m) float32, zero at padding and for absent samples.
        mask: modality -> (B, T_m) bool, True at real steps.
        present: modality -> (B,) bool, True where the sample has the modality.
        labels: (B,) int64 class indices, or (B, K) float32 multi-hot for multi-label sets.
        ids: the B sample ids.
        sources: the B source (dataset) names.
        imagined: modality -> (B,) bool, True where ``features[m]`` was produced by a translator
            rather than observed. Empty unless a translator filled the batch in.
    """

    features: dict[str, torch.Tensor]
    mask: dict[str, torch.Tensor]
    present: dict[str, torch.Tensor]
    labels: torch.Tensor
    ids: list[str]
    sources: list[str]
    imagined: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m in MODALITIES if m in self.features)

    def to(self, device: torch.device | str) -> "Batch":
        move = lambda d: {k: v.to(device, non_blocking=True) for k, v in d.items()}  # noqa: E731
        return replace(
            self,
            features=move(self.features),
            mask=move(self.mask),
            present=move(self.present),
            labels=self.labels.to(device, non_blocking=True),
            imagined=move(self.imagined),
        )

    def keep_modalities(self, keep: Iterable[str]) -> "Batch":
        """The same batch with every modality outside ``keep`` marked absent (for subset evaluation)."""
        keep = set(keep)
        present = {}
        mask = {}
        features = {}
        for m in self.features:
            if m in keep:
                present[m], mask[m], features[m] = self.present[m], self.mask[m], self.features[m]
            else:
                present[m] = torch.zeros_like(self.present[m])
                mask[m] = torch.zeros_like(self.mask[m])
                features[m] = torch.zeros_like(self.features[m])
        return replace(self, features=features, mask=mask, present=present)

    def withhold(self, drop: dict[str, torch.Tensor]) -> "Batch":
        """The same batch with modality m marked absent in the rows where ``drop[m]`` (B,) is True
        (modality dropout in training; :func:`modality_dropout` draws ``drop``)."""
        features, mask, present = dict(self.features), dict(self.mask), dict(self.present)
        for m, rows in drop.items():
            keep = ~rows
            present[m] = self.present[m] & keep
            mask[m] = self.mask[m] & keep[:, None]
            features[m] = self.features[m] * keep[:, None, None]
        return replace(self, features=features, mask=mask, present=present)

    def select(self, index: torch.Tensor) -> "Batch":
        """Rows ``index`` (a (B',) long or (B,) bool tensor) of the batch."""
        rows = index.nonzero().squeeze(1) if index.dtype == torch.bool else index
        pick = lambda d: {k: v[rows] for k, v in d.items()}  # noqa: E731
        keep = rows.tolist()
        return Batch(
            features=pick(self.features),
            mask=pick(self.mask),
            present=pick(self.present),
            labels=self.labels[rows],
            ids=[self.ids[i] for i in keep],
            sources=[self.sources[i] for i in keep],
            imagined=pick(self.imagined),
        )


def collate(
    samples: Sequence[Sample],
    modalities: Sequence[str],
    dims: dict[str, int],
    num_classes: int,
    multi_label: bool,
) -> Batch:
    """Pad a list of samples into a :class:`Batch`.

    Args:
        samples: the samples, any mix of modality subsets.
        modalities: the modalities to carry (keys of the batch dicts), normally the model's.
        dims: modality -> feature size D_m; a sample whose array has another size is an error that
            names the sample and the modality.
        num_classes: K.
        multi_label: whether labels are (K,) multi-hot vectors.
    """
    if not samples:
        raise ValueError("collate: empty list of samples")
    size = len(samples)
    features, mask, present = {}, {}, {}
    for m in modalities:
        lengths = [s.features[m].shape[0] if m in s.features else 0 for s in samples]
        steps = max(max(lengths), 1)
        x = torch.zeros(size, steps, dims[m], dtype=torch.float32)
        valid = torch.zeros(size, steps, dtype=torch.bool)
        for i, s in enumerate(samples):
            array = s.features.get(m)
            if array is None:
                continue
            if array.shape[1] != dims[m]:
                raise DataError(
                    f"sample {s.id!r}, modality {m!r}: feature size {array.shape[1]}, expected {dims[m]}"
                )
            x[i, : lengths[i]] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
            valid[i, : lengths[i]] = True
        features[m], mask[m] = x, valid
        present[m] = torch.tensor([n > 0 for n in lengths], dtype=torch.bool)
    if multi_label:
        labels = torch.zeros(size, num_classes, dtype=torch.float32)
        for i, s in enumerate(samples):
            labels[i] = torch.as_tensor(np.asarray(s.label, dtype=np.float32))
    else:
        labels = torch.tensor([int(s.label) for s in samples], dtype=torch.long)
    return Batch(
        features=features,
        mask=mask,
        present=present,
        labels=labels,
        ids=[s.id for s in samples],
        sources=[s.source for s in samples],
    )


def modality_dropout(present: dict[str, torch.Tensor], p: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Which present modalities to withhold: each with probability ``p``, never all of a sample's.

    Why: a recogniser trained only on full inputs leans on whichever modality is easiest and is
    thrown off when that one is weak or missing at test time; trained on random subsets of every
    multimodal sample, it learns to read each modality alone and to weigh them.

    Args:
        present: modality -> (B,) bool.
        p: withholding probability per present modality.
        generator: the local, seeded RNG (CPU).

    Returns:
        modality -> (B,) bool, True where that modality is withheld; at least one present modality
        of every sample stays (a sample whose draw would remove all keeps one of them, chosen at random).
    """
    names = list(present)
    have = torch.stack([present[m].cpu() for m in names], 1)  # (B, M)
    drop = (torch.rand(have.shape, generator=generator) < p) & have
    emptied = have.any(1) & ~(have & ~drop).any(1)  # (B,) every present modality drawn
    if emptied.any():
        score = torch.rand(have.shape, generator=generator).masked_fill(~have, -1.0)
        spared = score.argmax(1)  # a random present modality per sample
        rows = emptied.nonzero().squeeze(1)
        drop[rows, spared[rows]] = False
    device = present[names[0]].device
    return {m: drop[:, i].to(device) for i, m in enumerate(names)}
