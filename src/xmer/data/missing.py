"""The missing-modality protocol of MMIN (Zhao et al., ACL 2021) and its successors, on training data.

A fraction p of the complete (trimodal) training samples stays complete; every other one loses one
or two modalities: it keeps one of the six non-empty proper subsets of (visual, audio, text), drawn
uniformly, so one modality is lost as often as two. The draw is fixed: the complete samples are
ordered by a permutation of their *sorted* ids from ``numpy.random.default_rng(seed)`` and each one's
subset is drawn once from the same generator, independently of p. Hence every condition and every
training seed sees the same removal, and the removals are nested: a sample incomplete at p = 0.5 is
incomplete, the same way, at p = 0.2. Samples that already lack a modality are left as they are.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from xmer.modalities import MODALITIES

KEPT = tuple(c for size in (1, 2) for c in combinations(MODALITIES, size))
"""The six subsets an incomplete sample may keep: visual, audio, text, visual+audio, visual+text, audio+text."""


def remove_modalities(records: list[dict], complete: float, seed: int = 0) -> list[dict]:
    """``records`` with all but a fraction ``complete`` of the trimodal ones made incomplete.

    Args:
        records: manifest records (``modalities`` lists what each has).
        complete: p in (0, 1], the fraction of the trimodal records kept complete (rounded).
        seed: seed of the fixed draw (the same for every condition and training seed).

    Returns:
        new list; a changed record is a copy with ``modalities`` cut down and ``removed`` listing
        what was taken away. The others are the input objects.
    """
    if not 0.0 < complete <= 1.0:
        raise ValueError(f"the complete fraction must be in (0, 1], got {complete}")
    full = sorted((r["id"], i) for i, r in enumerate(records) if set(r["modalities"]) >= set(MODALITIES))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(full))  # (N,) rank -> position in the sorted ids
    kept = rng.integers(0, len(KEPT), size=len(full))  # (N,) drawn for every sample, whatever p
    cut = {full[j][1]: KEPT[kept[j]] for j in order[round(complete * len(full)):]}
    out = []
    for i, record in enumerate(records):
        if i in cut:
            record = {**record, "modalities": [m for m in record["modalities"] if m in cut[i]],
                      "removed": [m for m in record["modalities"] if m not in cut[i]]}
        out.append(record)
    return out
