"""The three modalities and their subsets, spelled once.

Every per-modality structure in xmer (``nn.ModuleDict``s, feature stores, batch dicts) is keyed by
these names, and every per-pair structure by ``pair_name(source, target)`` (``"visual_to_audio"``).
"""

from __future__ import annotations

from enum import Enum
from itertools import combinations, permutations


class Modality(str, Enum):
    VISUAL = "visual"
    AUDIO = "audio"
    TEXT = "text"


MODALITIES: tuple[str, ...] = tuple(m.value for m in Modality)
"""Canonical order: visual, audio, text."""

SUBSETS: tuple[tuple[str, ...], ...] = tuple(
    subset for size in (3, 2, 1) for subset in combinations(MODALITIES, size)
)
"""The 7 non-empty subsets, largest first: (v, a, t), (v, a), (v, t), (a, t), (v,), (a,), (t,)."""

PAIRS: tuple[tuple[str, str], ...] = tuple(permutations(MODALITIES, 2))
"""The 6 ordered (source, target) pairs, one per cross-modal translator."""


def subset_name(subset) -> str:
    """``("visual", "text")`` -> ``"visual+text"``, in canonical order."""
    return "+".join(m for m in MODALITIES if m in set(subset))


def parse_subset(name: str) -> tuple[str, ...]:
    """Inverse of :func:`subset_name`; also accepts initials (``"v+t"``, ``"vat"``)."""
    initials = {m[0]: m for m in MODALITIES}
    parts = name.split("+") if "+" in name else ([name] if name in MODALITIES else list(name))
    out = []
    for part in parts:
        part = part.strip().lower()
        modality = part if part in MODALITIES else initials.get(part)
        if modality is None:
            raise ValueError(f"unknown modality {part!r} in {name!r}; expected {', '.join(MODALITIES)}")
        out.append(modality)
    return tuple(m for m in MODALITIES if m in out)


def pair_name(source: str, target: str) -> str:
    return f"{source}_to_{target}"
