"""A prepared dataset opened for training: its description, manifest, features, and batches.

``PreparedDataset.open(DIR)`` checks the folder against the data contract and gives samples;
``PreparedDataset.batches(split, ...)`` yields padded :class:`~xmer.data.contract.Batch`es in an
order fixed by a seed and an epoch number, so that a resumed run sees exactly the batches an
uninterrupted one would.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol, Sequence

import numpy as np
import torch

from xmer.data.contract import Batch, Sample, collate
from xmer.data.moments import Moments
from xmer.data.store import FORMAT, SPLITS, FeatureStore, read_manifest
from xmer.errors import DataError
from xmer.modalities import MODALITIES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetInfo:
    """What ``dataset.json`` says about a prepared dataset."""

    name: str
    labels: tuple[str, ...]
    multi_label: bool
    label_space: str
    synthetic: bool
    description: str = ""

    @classmethod
    def read(cls, path: Path) -> "DatasetInfo":
        if not path.is_file():
            raise DataError(f"not a prepared dataset: {path} is missing (run `xmer prepare` first)")
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: not valid JSON ({error.msg})") from None
        if raw.get("format") != FORMAT:
            raise DataError(f"{path}: format {raw.get('format')!r}, expected {FORMAT!r}")
        for key in ("name", "labels", "multi_label"):
            if key not in raw:
                raise DataError(f"{path}: lacks key {key!r}")
        return cls(
            name=raw["name"],
            labels=tuple(raw["labels"]),
            multi_label=bool(raw["multi_label"]),
            label_space=raw.get("label_space", raw["name"]),
            synthetic=bool(raw.get("synthetic", False)),
            description=raw.get("description", ""),
        )

    def to_json(self, modalities: dict[str, dict]) -> dict:
        return {
            "format": FORMAT,
            "name": self.name,
            "label_space": self.label_space,
            "labels": list(self.labels),
            "multi_label": self.multi_label,
            "synthetic": self.synthetic,
            "description": self.description,
            "modalities": modalities,
        }


class PreparedDataset:
    """A prepared dataset folder: ``dataset.json`` + ``manifest.jsonl`` + ``features/``."""

    def __init__(self, root: Path, info: DatasetInfo, records: list[dict], store: FeatureStore):
        self.root, self.info, self.records, self.store = root, info, records, store
        self._label_index = {name: i for i, name in enumerate(info.labels)}
        self.moments: dict[str, Moments] = {}
        """Modality -> the moments its features are standardised with when read (:meth:`standardise`)."""

    @classmethod
    def open(cls, root: str | Path) -> "PreparedDataset":
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"dataset folder not found: {root}")
        info = DatasetInfo.read(root / "dataset.json")
        records = read_manifest(root / "manifest.jsonl")
        store = FeatureStore(root / "features")
        dataset = cls(root, info, records, store)
        dataset._check()
        return dataset

    def _check(self) -> None:
        seen: set[str] = set()
        for record in self.records:
            rid = record["id"]
            if rid in seen:
                raise DataError(f"{self.root}/manifest.jsonl: duplicate sample id {rid!r}")
            seen.add(rid)
            if record["split"] not in SPLITS:
                raise DataError(f"sample {rid!r}: split {record['split']!r}, expected one of {', '.join(SPLITS)}")
            self.encode_label(record)  # raises on an unknown class name
            for m in record["modalities"]:
                if m not in MODALITIES:
                    raise DataError(f"sample {rid!r}: unknown modality {m!r}")

    def standardise(self, modalities: Sequence[str]) -> "PreparedDataset":
        """Read the features of ``modalities`` standardised with this folder's own moments
        (:mod:`xmer.data.moments`): those of its training split, or of all its records when it has
        no training split. Modalities the folder has no features of are skipped. Returns ``self``."""
        for m in modalities:
            if m not in self.store.modalities or m in self.moments:
                continue
            having = [r for r in self.records if m in r["modalities"] and self.store.has(r["id"], m)]
            train = [r for r in having if r["split"] == "train"]
            self.moments[m] = Moments.of(self.store.get(r["id"], m) for r in (train or having))
        return self

    def pooled_moments(self) -> dict[str, Moments]:
        """Modality -> the moments an input of unknown source is read with (one folder: its own)."""
        return dict(self.moments)

    # -- what the set holds -------------------------------------------------------------------

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    @property
    def multi_label(self) -> bool:
        return self.info.multi_label

    @property
    def dims(self) -> dict[str, int]:
        """Modality -> feature size, for the modalities that have extracted features."""
        return {m: self.store.dim(m) for m in self.store.modalities}

    def split(self, name: str, subsets: str = "all", usage: float = 1.0, complete: float = 1.0) -> list[dict]:
        """Records of one split.

        Args:
            subsets: ``'trimodal'`` keeps only samples with all three modalities (the primary part);
                ``'all'`` keeps the auxiliary unimodal and bimodal samples too.
            usage: fraction of the trimodal samples kept (paper Tables 5-6), drawn with a fixed
                seed, so every run and every condition sees the same subset; nested (the 70%
                subset is inside the 80% one).
            complete: fraction of the (kept) trimodal samples left complete; the others lose one or
                two modalities, a fixed draw (:mod:`xmer.data.missing`). Applied before ``subsets``,
                so ``'trimodal'`` then means the part left complete.
        """
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        if not 0.0 < usage <= 1.0:
            raise DataError(f"data usage {usage} must be in (0, 1]")
        records = self._with_features([r for r in self.records if r["split"] == name], name)
        if usage < 1.0:
            primary = [i for i, r in enumerate(records) if set(r["modalities"]) >= set(MODALITIES)]
            order = np.random.default_rng(0).permutation(len(primary))
            dropped = {primary[j] for j in order[round(usage * len(primary)):]}
            records = [r for i, r in enumerate(records) if i not in dropped]
        if complete < 1.0:
            from xmer.data.missing import remove_modalities

            try:
                records = remove_modalities(records, complete)
            except ValueError as error:
                raise DataError(str(error)) from None
        if subsets == "trimodal":
            records = [r for r in records if set(r["modalities"]) >= set(MODALITIES)]
        elif subsets != "all":
            raise DataError(f"unknown subset filter {subsets!r}; expected 'all' or 'trimodal'")
        return records

    def _with_features(self, records: list[dict], split: str) -> list[dict]:
        """The records as the feature store has them: a modality whose extraction failed (a video
        with no face, an unreadable file; see ``extract_failures.jsonl``) is absent, and a record
        with no features at all is left out, with one warning per split, instead of stopping a
        training run at its first batch. Before any extraction (an empty store) the manifest's
        records are returned as they are: reading one then says to run ``xmer extract``."""
        if not self.store.modalities:
            return records
        kept, empty = [], []
        for record in records:
            present = [m for m in record["modalities"] if self.store.has(record["id"], m)]
            if not present:
                empty.append(record["id"])
            else:
                kept.append(record if len(present) == len(record["modalities"]) else {**record, "modalities": present})
        if empty and not kept:
            raise DataError(f"{self.root}: no sample of split {split!r} has features in {self.root / 'features'} "
                            "(run `xmer extract`?)")
        if empty:
            log.warning("%s: %d sample(s) of split %r have no features and are left out (first: %s); "
                        "see extract_failures.jsonl", self.root, len(empty), split, ", ".join(empty[:3]))
        return kept

    def encode_label(self, record: dict) -> int | np.ndarray:
        label = record["label"]
        names = label if isinstance(label, list) else [label]
        if not self.multi_label and isinstance(label, list):
            raise DataError(f"sample {record['id']!r}: a list of labels in a single-label set")
        try:
            indices = [self._label_index[name] for name in names]
        except KeyError as error:
            raise DataError(
                f"sample {record['id']!r}: label {error.args[0]!r} is not in the label space "
                f"({', '.join(self.labels)})"
            ) from None
        if not self.multi_label:
            return indices[0]
        vector = np.zeros(len(self.labels), dtype=np.float32)
        vector[indices] = 1.0
        return vector

    def sample(self, record: dict, max_steps: int = 0) -> Sample:
        """Read one sample's features (only the modalities it has and the store holds)."""
        features = self.read_features(record, max_steps)
        return Sample(id=record["id"], source=record["source"], features=features, label=self.encode_label(record))

    def read_features(self, record: dict, max_steps: int = 0, moments: dict[str, Moments] | None = None) -> dict[str, np.ndarray]:
        """modality -> (T, D) features of one record; a DataError if it has none at all. The
        standardised modalities are read with ``moments`` when given, else with the folder's own."""
        moments = self.moments if moments is None else moments
        features = {}
        for m in record["modalities"]:
            if not self.store.has(record["id"], m):
                continue
            array = self.store.get(record["id"], m)  # a read-only view into the memory map
            array = np.array(array[:max_steps] if max_steps else array, dtype=np.float32)
            features[m] = moments[m].apply(array) if m in moments else array
        if not features:
            raise DataError(
                f"sample {record['id']!r}: none of its modalities ({', '.join(record['modalities'])}) "
                f"has features in {self.root / 'features'} (run `xmer extract`?)"
            )
        return features

    # -- batches ------------------------------------------------------------------------------

    def batches(
        self,
        records: Sequence[dict],
        batch_size: int,
        modalities: Sequence[str] = MODALITIES,
        dims: dict[str, int] | None = None,
        shuffle_seed: int | None = None,
        max_steps: int = 0,
    ) -> Iterator[Batch]:
        """Padded batches over ``records`` (see :func:`batches_of`)."""
        return batches_of(self, records, batch_size, modalities, dims, shuffle_seed, max_steps)

    def epoch(self, records: Sequence[dict], seed: int) -> list[dict]:
        """The training records of one epoch: here all of them, once (a mixture resamples)."""
        return list(records)

    def extractor(self, modality: str) -> str:
        """``name@version`` of the extractor that made ``modality``'s features ('' when unknown)."""
        return self.store.extractor(modality)


class Dataset(Protocol):
    """What training, evaluation and inference read: one prepared dataset (:class:`PreparedDataset`)
    or several mixed (:class:`xmer.data.mixing.MixedDataset`)."""

    root: Path
    info: DatasetInfo

    @property
    def labels(self) -> tuple[str, ...]: ...

    @property
    def multi_label(self) -> bool: ...

    @property
    def dims(self) -> dict[str, int]: ...

    def split(self, name: str, subsets: str = "all", usage: float = 1.0, complete: float = 1.0) -> list[dict]: ...

    def epoch(self, records: Sequence[dict], seed: int) -> list[dict]:
        """The records of one training epoch, the same for a given seed in every process (torchrun
        ranks shard this list; they must all see the same one)."""
        ...

    def sample(self, record: dict, max_steps: int = 0) -> Sample: ...

    def batches(self, records: Sequence[dict], batch_size: int, modalities: Sequence[str] = MODALITIES,
                dims: dict[str, int] | None = None, shuffle_seed: int | None = None, max_steps: int = 0) -> Iterator[Batch]: ...

    def extractor(self, modality: str) -> str: ...

    def pooled_moments(self) -> dict[str, Moments]: ...


def batches_of(
    dataset: Dataset,
    records: Sequence[dict],
    batch_size: int,
    modalities: Sequence[str] = MODALITIES,
    dims: dict[str, int] | None = None,
    shuffle_seed: int | None = None,
    max_steps: int = 0,
) -> Iterator[Batch]:
    """Padded batches of ``dataset.sample(record)`` over ``records``; shuffled by
    ``torch.Generator(shuffle_seed)`` when given.

    ``dims`` is the model's modality -> feature size (defaults to the dataset's): a sample whose
    features have another size is an error naming the sample and the modality.
    """
    dims = dims or dataset.dims
    modalities = [m for m in modalities if m in dims]
    order = list(range(len(records)))
    if shuffle_seed is not None:
        generator = torch.Generator().manual_seed(shuffle_seed)
        order = [order[i] for i in torch.randperm(len(order), generator=generator).tolist()]
    for start in range(0, len(order), batch_size):
        chunk = [dataset.sample(records[i], max_steps) for i in order[start : start + batch_size]]
        yield collate(chunk, modalities, dims, len(dataset.labels), dataset.multi_label)
