"""Per-source standardisation: each source's features moved onto zero mean and unit spread.

A corpus recorded in another room, through another microphone, by other speakers in another
language shifts every speech feature at once: a model that learned what "angry" looks like in one
corpus's raw numbers reads a new corpus's calm voices as whatever lies where they landed, often
"neutral". Removing each source's own mean and spread before the model sees its features keeps
what differs between the clips of one source (the emotion, among other things) and drops most of
what differs between sources. Measured across corpora left out of training in docs/frontends.md.

How xmer uses it (``data.standardise: [audio]``):

* in training, every prepared folder's features of those modalities are standardised with the
  moments of the folder's own training split (all its records if it has none): a folder is one
  source;
* the model card keeps the training folders' **pooled** moments (the mean of their means, the
  root mean of their variances, each folder once), used for an input whose source is unknown: a
  single clip;
* at prediction over many inputs from one source (a collection of clips, the segments of one
  recording), the moments of those inputs themselves are used instead (:func:`source_moments`),
  as in training. Fewer than :data:`MIN_SOURCE_STEPS` steps say too little about a source, and the
  pooled moments are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from xmer.errors import DataError

MIN_STD = 1e-4
"""Spreads below this (a feature that is constant within a source) are raised to it."""

MIN_SOURCE_STEPS = 20
"""The fewest feature steps (clips, for one-step features) whose moments stand for their source."""


@dataclass(frozen=True)
class Moments:
    """Per-dimension mean and standard deviation of a source's features.

    Attributes:
        mean: (D,) float32.
        std: (D,) float32, at least :data:`MIN_STD`.
        steps: how many feature steps they were computed from.
    """

    mean: np.ndarray
    std: np.ndarray
    steps: int

    @classmethod
    def of(cls, arrays: Iterable[np.ndarray]) -> "Moments":
        """The moments over every step of ``arrays`` ((T_i, D) each)."""
        total, squares, steps = None, None, 0
        for a in arrays:
            a = np.asarray(a, dtype=np.float64)
            total = a.sum(0) if total is None else total + a.sum(0)
            squares = (a * a).sum(0) if squares is None else squares + (a * a).sum(0)
            steps += a.shape[0]
        if not steps:
            raise DataError("no feature steps to compute a mean and spread from")
        mean = total / steps
        var = np.maximum(squares / steps - mean * mean, 0.0)
        return cls(mean.astype(np.float32), np.maximum(np.sqrt(var), MIN_STD).astype(np.float32), steps)

    @classmethod
    def pooled(cls, parts: Sequence["Moments"]) -> "Moments":
        """The moments a source of unknown origin is read with: mean of means, root mean of variances."""
        if not parts:
            raise DataError("no sources to pool moments over")
        mean = np.mean([p.mean for p in parts], axis=0)
        std = np.sqrt(np.mean([np.square(p.std.astype(np.float64)) for p in parts], axis=0))
        return cls(mean.astype(np.float32), np.maximum(std, MIN_STD).astype(np.float32), sum(p.steps for p in parts))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(T, D) features -> (T, D) standardised, float32."""
        if x.shape[-1] != self.mean.shape[0]:
            raise DataError(f"features of size {x.shape[-1]} cannot be standardised with moments of size {self.mean.shape[0]}")
        return ((x - self.mean) / self.std).astype(np.float32)

    def to_json(self) -> dict:
        """Nine significant digits: read back, the same float32 values (a worker, a model card)."""
        return {"mean": [float(f"{v:.9g}") for v in self.mean], "std": [float(f"{v:.9g}") for v in self.std],
                "steps": int(self.steps)}

    @classmethod
    def from_json(cls, raw: object, where: str = "moments") -> "Moments":
        try:
            mean, std = np.asarray(raw["mean"], np.float32), np.asarray(raw["std"], np.float32)
            steps = int(raw.get("steps", 0))
        except (TypeError, KeyError, ValueError) as error:
            raise DataError(f"{where}: expected {{\"mean\": [...], \"std\": [...]}} ({error})") from None
        if mean.ndim != 1 or mean.shape != std.shape or not np.isfinite(mean).all() or not (std > 0).all():
            raise DataError(f"{where}: mean and std must be equally long lists of numbers, std > 0")
        return cls(mean, std, steps)


def source_moments(items: Sequence[dict[str, np.ndarray]], modalities: Iterable[str]) -> dict[str, Moments]:
    """Modality -> the moments of that modality over ``items`` (inputs from one source), for each
    of ``modalities`` with at least :data:`MIN_SOURCE_STEPS` steps among them; the others are left
    out (they are read with the model's pooled moments)."""
    out = {}
    for m in modalities:
        arrays = [np.asarray(f[m], np.float32) for f in items if m in f]
        if sum(a.shape[0] for a in arrays) >= MIN_SOURCE_STEPS:
            out[m] = Moments.of(arrays)
    return out
