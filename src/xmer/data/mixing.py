"""Training on several prepared datasets at once (the paper's "auxiliary datasets").

A config lists sources, each a prepared dataset with a role and a sampling weight::

    data:
      sources:
        - {dataset: data/iemocap, role: primary}
        - {dataset: data/ravdess, role: auxiliary, weight: 0.5}
        - {dataset: data/semeval, role: auxiliary}
        - {dataset: data/nemo, modalities: [audio]}   # its voices only

The one primary dataset defines the label space, the validation and test splits and the feature
sizes; auxiliary datasets add training samples only. An auxiliary sample's labels are mapped onto
the primary's label space (:func:`xmer.data.labels.map_sample`; the same space maps by name); what
does not map is dropped and counted, never guessed. Its modalities must have the primary's feature
sizes (extracted with the same extractors). ``weight`` is the expected number of times each of the
source's training samples is drawn per epoch (0.5: a fresh random half every epoch; 2: each twice),
drawn from a generator seeded by the epoch, so resumed runs see the same batches.

Two keys keep one large corpus or one frequent class from dominating a run on many corpora (the
default model mixes eleven): ``per_epoch: N`` draws N of the source's samples per epoch in
expectation, whatever its size (it replaces ``weight``), and ``balance_classes: true`` spreads them
evenly over the source's classes (each class gets the same expected draws; the samples of a rare
class are drawn more often than once when needed). Both act on per-sample draw rates, so a sample's
expected count is ``floor(rate)`` plus one more with probability ``rate - floor(rate)``.

No evaluation item reaches training through any source: the training records of every source (the
primary's own included) that hold an item of the primary's valid or test split (the same text, image
or recording; :mod:`xmer.data.overlap`) are dropped before anything is drawn, and counted per source
in :attr:`MixedDataset.overlaps_dropped` (the run log and ``metrics.json`` report them).

With ``data.standardise`` each source folder's features of those modalities are read on the folder's
own moments (:mod:`xmer.data.moments`), and ``data.unknown_source`` reads a share of every epoch's
draw on the moments pooled over the folders instead, as an input of unknown source is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from xmer.data.contract import Batch, Sample
from xmer.data.dataset import PreparedDataset, batches_of
from xmer.data.moments import Moments
from xmer.data.overlap import EVALUATION_SPLITS, keyed, shared_with
from xmer.errors import ConfigError, DataError
from xmer.modalities import MODALITIES

ROLES = ("primary", "auxiliary")


KEYS = ("dataset", "role", "weight", "per_epoch", "balance_classes", "modalities")


@dataclass(frozen=True)
class SourceSpec:
    dataset: str
    role: str = "auxiliary"
    weight: float = 1.0
    per_epoch: int | None = None
    balance_classes: bool = False
    modalities: tuple[str, ...] | None = None
    """Read only these modalities of the source's samples (an auxiliary source's; samples left
    with none are dropped): e.g. the voice alone of a corpus whose words xmer would not hear."""

    @classmethod
    def parse(cls, raw: object, index: int) -> "SourceSpec":
        where = f"data.sources[{index}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping {{{', '.join(KEYS)}}}, got {raw!r}")
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key '{unknown[0]}'; valid keys: {', '.join(KEYS)}")
        if "dataset" not in raw:
            raise ConfigError(f"{where}: 'dataset' (a prepared dataset folder) is required")
        if "weight" in raw and "per_epoch" in raw:
            raise ConfigError(f"{where}: give 'weight' or 'per_epoch', not both")
        modalities = raw.get("modalities")
        if modalities is not None:
            if not isinstance(modalities, (list, tuple)) or not modalities or not set(modalities) <= set(MODALITIES):
                raise ConfigError(f"{where}: modalities must be a list of {', '.join(MODALITIES)}, got {modalities!r}")
            if raw.get("role") == "primary":
                raise ConfigError(f"{where}: the primary dataset is read whole; 'modalities' is for auxiliary sources")
            modalities = tuple(modalities)
        spec = cls(str(raw["dataset"]), str(raw.get("role", "auxiliary")), raw.get("weight", 1.0),
                   raw.get("per_epoch"), raw.get("balance_classes", False), modalities)
        if spec.role not in ROLES:
            raise ConfigError(f"{where}: role {spec.role!r}; expected one of {', '.join(ROLES)}")
        if not isinstance(spec.weight, (int, float)) or isinstance(spec.weight, bool) or spec.weight < 0:
            raise ConfigError(f"{where}: weight must be a number >= 0, got {spec.weight!r}")
        if spec.per_epoch is not None and (not isinstance(spec.per_epoch, int) or isinstance(spec.per_epoch, bool) or spec.per_epoch < 0):
            raise ConfigError(f"{where}: per_epoch must be a whole number >= 0, got {spec.per_epoch!r}")
        if not isinstance(spec.balance_classes, bool):
            raise ConfigError(f"{where}: balance_classes must be true or false, got {spec.balance_classes!r}")
        return spec

    def rates(self, records: Sequence[dict]) -> np.ndarray:
        """(N,) expected draws per epoch of each of this source's training ``records``."""
        n = len(records)
        if not n:
            return np.zeros(0)
        total = self.per_epoch if self.per_epoch is not None else self.weight * n
        if not self.balance_classes:
            return np.full(n, total / n)
        classes = [_class_key(r) for r in records]
        counts: dict = {}
        for c in classes:
            counts[c] = counts.get(c, 0) + 1
        return np.array([total / (len(counts) * counts[c]) for c in classes])


class MixedDataset:
    """Several prepared datasets behind the :class:`PreparedDataset` interface the trainer uses."""

    def __init__(self, specs: Sequence[SourceSpec], compose_per_epoch: int = 0, compose_neutral: float = 0.0,
                 standardise: Sequence[str] = (), unknown_source: float = 0.0):
        self.compose_per_epoch = compose_per_epoch
        self.unknown_source = unknown_source
        self.compose_neutral = compose_neutral
        primaries = [s for s in specs if s.role == "primary"]
        if len(primaries) != 1:
            raise ConfigError(f"data.sources needs exactly one primary dataset, got {len(primaries)}")
        self.specs = [primaries[0]] + [s for s in specs if s.role != "primary"]
        self.parts = [PreparedDataset.open(s.dataset) for s in self.specs]
        self.primary = self.parts[0]
        self.root, self.info = self.primary.root, self.primary.info
        self.dropped: dict[str, dict[str, int]] = {}
        self.overlaps_dropped: dict[str, int] = {}
        """Source folder -> training records dropped for holding an item of the primary's valid or test split."""
        self.overlaps_unchecked: dict[str, list[str]] = {}
        """Source folder -> training records whose media could not be read for that comparison."""
        held_out = self._held_out_keys()
        self._primary_excluded = self._shared_ids(self.primary, self.primary.split("train"), held_out)
        self._aux_train: list[dict] = []
        for index, (spec, part) in enumerate(zip(self.specs[1:], self.parts[1:]), start=1):
            self._check_dims(part)
            mapped = self._mapped_train(index, part)
            excluded = self._shared_ids(part, mapped, held_out)
            self._aux_train += [r for r in mapped if r["id"] not in excluded]
        if compose_per_epoch and self.primary.multi_label:
            raise ConfigError("data.compose_per_epoch needs a single-label primary dataset (it pairs samples by class)")
        if compose_neutral and "neutral" not in self.primary.labels:
            raise ConfigError(f"data.compose_neutral needs a 'neutral' class; the primary's labels are {list(self.primary.labels)}")
        for part in self.parts:  # after the overlap checks above, which read the features as stored
            part.standardise(standardise)
        self._pooled = self.pooled_moments()

    # -- the PreparedDataset interface --------------------------------------------------------

    @property
    def labels(self) -> tuple[str, ...]:
        return self.primary.labels

    @property
    def multi_label(self) -> bool:
        return self.primary.multi_label

    @property
    def dims(self) -> dict[str, int]:
        return self.primary.dims

    def split(self, name: str, subsets: str = "all", usage: float = 1.0, complete: float = 1.0) -> list[dict]:
        records = [{**r, "_part": 0} for r in self.primary.split(name, subsets, usage, complete)]
        if name == "train":
            records = [r for r in records if r["id"] not in self._primary_excluded]
        if name == "train" and subsets == "all":
            records += self._aux_train
        return records

    def sample(self, record: dict, max_steps: int = 0) -> Sample:
        moments = self._pooled if record.get("_unknown_source") else None  # see unknown_source in epoch()
        if "_compose" in record:  # a composed sample: each modality read from its own record
            features = {m: self.parts[r["_part"]].read_features(r, max_steps, moments)[m] for m, r in record["_compose"].items()}
        else:
            features = self.parts[record.get("_part", 0)].read_features(record, max_steps, moments)
        return Sample(id=record["id"], source=record["source"], features=features, label=self.primary.encode_label(record))

    def batches(self, records: Sequence[dict], batch_size: int, modalities: Sequence[str] = MODALITIES,
                dims: dict[str, int] | None = None, shuffle_seed: int | None = None, max_steps: int = 0) -> Iterator[Batch]:
        """Padded batches over ``records`` (already resampled by :meth:`epoch` for training)."""
        return batches_of(self, records, batch_size, modalities, dims, shuffle_seed, max_steps)

    def extractor(self, modality: str) -> str:
        return self.primary.extractor(modality)

    def pooled_moments(self) -> dict[str, Moments]:
        """Modality -> the moments an input of unknown source is read with: pooled over the
        standardised folders (:meth:`Moments.pooled`), each folder once."""
        by_folder = {str(Path(part.root).resolve()): part for part in self.parts}
        modalities = {m for part in by_folder.values() for m in part.moments}
        return {m: Moments.pooled([p.moments[m] for p in by_folder.values() if m in p.moments]) for m in sorted(modalities)}

    # -- mixing ------------------------------------------------------------------------------

    def epoch(self, records: Sequence[dict], seed: int) -> list[dict]:
        """One epoch's draw: each part's records drawn at their :meth:`SourceSpec.rates` (a fresh
        draw per epoch seed). A function of ``(records, seed)`` only, so every torchrun rank draws
        the same epoch and then takes its shard of it: the ranks take the same number of steps."""
        rng = np.random.default_rng([seed, 7])
        by_part: dict[int, list[dict]] = {}
        for r in records:
            by_part.setdefault(r.get("_part", 0), []).append(r)
        out = []
        for part, rs in sorted(by_part.items()):
            rates = self.specs[part].rates(rs)
            whole = np.floor(rates).astype(int)
            fraction = rates - whole
            for copies in range(1, int(whole.max(initial=0)) + 1):
                out += [r for r, w in zip(rs, whole) if w >= copies]
            if fraction.any():
                take = rng.random(len(rs)) < fraction
                out += [r for r, t in zip(rs, take) if t]
        if self.compose_per_epoch:
            out += compose(records, self.compose_per_epoch, np.random.default_rng([seed, 11]), self.compose_neutral)
        if self.unknown_source and self._pooled:
            # A share of the draw is read as from an unknown source (the pooled moments), as a single
            # input is at prediction time: the model learns to read both.
            unknown = np.random.default_rng([seed, 13]).random(len(out)) < self.unknown_source
            out = [{**r, "_unknown_source": True} if u else r for r, u in zip(out, unknown)]
        return out

    def _check_dims(self, part: PreparedDataset) -> None:
        for m, dim in part.dims.items():
            if m in self.primary.dims and self.primary.dims[m] != dim:
                raise DataError(
                    f"{part.root}: its {m} features are {dim}-dim ({part.store.extractor(m) or 'unknown extractor'}), "
                    f"the primary dataset's are {self.primary.dims[m]}-dim ({self.primary.store.extractor(m) or 'unknown'}); "
                    "extract both with the same extractor"
                )

    def _held_out_keys(self) -> dict[str, set[str]]:
        """Modality -> the item keys (:mod:`xmer.data.overlap`) of the primary's valid and test records."""
        held: dict[str, set[str]] = {}
        for split in EVALUATION_SPLITS:
            found = keyed(self.primary.split(split), self.primary)
            for keys in found.keys:
                for m, key in keys.items():
                    held.setdefault(m, set()).add(key)
            if found.unreadable:
                self.overlaps_unchecked.setdefault(str(Path(self.primary.root)), []).extend(found.unreadable)
        return held

    def _shared_ids(self, part: PreparedDataset, train: list[dict], held_out: dict[str, set[str]]) -> set[str]:
        """Ids of the ``train`` records of ``part`` that hold an item of the primary's evaluation
        splits; counted in :attr:`overlaps_dropped` (and those not comparable in :attr:`overlaps_unchecked`)."""
        found = keyed(train, part, modalities=held_out)
        shared = {train[i]["id"] for i in shared_with(found, (k for keys in held_out.values() for k in keys))}
        name = str(Path(part.root))
        self.overlaps_dropped[name] = self.overlaps_dropped.get(name, 0) + len(shared)
        if found.unreadable:
            self.overlaps_unchecked.setdefault(name, []).extend(found.unreadable)
        return shared

    def report(self) -> dict:
        """What the mixture left out of training, per source folder: ``label_drops`` (reason -> count),
        ``overlaps_dropped`` and ``overlaps_unchecked`` (count); for the run log and ``metrics.json``."""
        return {"overlaps_dropped": dict(self.overlaps_dropped), "label_drops": dict(self.dropped),
                "overlaps_unchecked": {k: len(v) for k, v in self.overlaps_unchecked.items()}}

    def _mapped_train(self, index: int, part: PreparedDataset) -> list[dict]:
        from xmer.data.labels import map_sample

        target, source = self.primary.info.label_space, part.info.label_space
        kept, dropped = [], {}
        usable = set(self.primary.dims) & set(self.specs[index].modalities or MODALITIES)
        for r in part.split("train"):
            modalities = [m for m in r["modalities"] if m in usable]
            if not modalities:
                dropped["no modality the primary has"] = dropped.get("no modality the primary has", 0) + 1
                continue
            if source == target:
                label, reason = r["label"], None
            else:
                label, reason = map_sample(r["label"], source, target)
            if label is None or label == "" or label == []:
                key = reason or "no class in the target space"
                dropped[key] = dropped.get(key, 0) + 1
                continue
            kept.append({**r, "label": label, "modalities": modalities, "_part": index})
        self.dropped[str(Path(part.root))] = dropped
        return kept


def compose(records: Sequence[dict], count: int, rng: np.random.Generator, neutral_rate: float = 0.0,
            neutral: str = "neutral") -> list[dict]:
    """``count`` trimodal training records, each a face, a voice and a text of one class drawn from
    three unimodal records (the composite benchmark's construction, done afresh every epoch).

    Why: real trimodal data are few (the composite's train part: 336 to 832 triples) while unimodal
    data are many; a recogniser that sees a face, a voice and a text together only a few hundred
    times learns to fuse them poorly. Pairing unimodal samples of the same class gives it as many
    fusion examples as wanted. It assumes what the composite assumes, that the modalities are
    independent given the emotion; on sets whose modalities come from one recording (MOSI,
    RAVDESS-AV) leave it off. Classes are drawn uniformly among those every modality has.

    Real recordings are not like that: the words of an angry complaint are often neutral, a face
    stays still while the voice shakes. A recogniser that has only seen modalities agree learns
    that neutral words mean a neutral person. With ``neutral_rate`` r, a composed triple of a class
    other than ``neutral`` has, with probability r, one or two of its modalities (how many and
    which drawn uniformly) taken from a neutral sample instead; its label stays the class of the
    modalities that show it. Neutral triples stay as they are.

    Args:
        records: the training records of every part (unimodal ones are the pool).
        count: how many to compose. rng: the epoch's generator.
        neutral_rate: the share of non-neutral triples with neutral modalities (0: none).
        neutral: the class that carries no emotion.
    """
    pools: dict[str, dict] = {}
    for r in records:
        if len(r["modalities"]) == 1 and "_compose" not in r:
            pools.setdefault(r["modalities"][0], {}).setdefault(_class_key(r), []).append(r)
    modalities = sorted(pools, key=MODALITIES.index)
    if len(modalities) < 2:
        return []
    classes = sorted(set.intersection(*(set(pools[m]) for m in modalities)), key=str)
    calm = neutral_rate > 0 and all(neutral in pools[m] for m in modalities)
    out = []
    for c in (classes[i] for i in rng.integers(len(classes), size=count)) if classes else ():
        label = pools[modalities[0]][c][0]["label"]
        quiet: set[str] = set()
        if calm and c != neutral and rng.random() < neutral_rate:
            how_many = int(rng.integers(1, len(modalities)))  # at least one modality keeps the emotion
            quiet = {modalities[i] for i in rng.choice(len(modalities), how_many, replace=False)}
        chosen = {m: _draw(pools[m][neutral if m in quiet else c], rng) for m in modalities}
        out.append({"id": "composed:" + "+".join(r["id"] for r in chosen.values()), "split": "train",
                    "source": "composed", "label": label, "modalities": modalities, "_compose": chosen})
    return out


def _draw(pool: list[dict], rng: np.random.Generator) -> dict:
    return pool[rng.integers(len(pool))]


def _class_key(record: dict):
    label = record["label"]
    return tuple(label) if isinstance(label, list) else label


def open_sources(raw_sources: Sequence[object], compose_per_epoch: int = 0, compose_neutral: float = 0.0,
                 standardise: Sequence[str] = (), unknown_source: float = 0.0) -> MixedDataset:
    return MixedDataset([SourceSpec.parse(raw, i) for i, raw in enumerate(raw_sources)], compose_per_epoch, compose_neutral,
                        standardise, unknown_source)
