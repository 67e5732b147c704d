"""The on-disk form of a prepared dataset: ``dataset.json``, ``manifest.jsonl`` and a feature store.

Layout of a prepared dataset folder::

    DIR/
      dataset.json            what the set is: name, label space, labels, multi_label, modalities
      manifest.jsonl          one JSON record per sample (see below)
      features/<modality>/
        meta.json             {"dim": D, "dtype": "float32", "extractor": "..."}
        <chunk>.f32           float32 rows, row-major: every sample's (T, D) steps back to back
        <chunk>.idx.tsv       one line per sample: id<TAB>first row<TAB>T

A manifest record: ``{"id", "split", "source", "label", "modalities", ...}`` where ``label`` is a
class name (single-label sets) or a list of class names (multi-label sets), ``modalities`` lists the
modalities the sample has, and optional keys carry ``speaker`` and ``media`` (modality -> file path
or transcript) for raw-media sources whose features are extracted later.

Why this format: reads are memory-mapped (``np.memmap``), so a set far larger than memory trains
without loading it, and a sample costs one slice; chunks are written whole (data first, index last,
each by atomic rename), so extraction can run in many processes at once (one chunk each), a killed
writer leaves no half chunk, and a re-run sees exactly which samples are done. No pickles.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from xmer.errors import DataError
from xmer.guard import building  # noqa: F401  (re-exported: the prepare sources build through it)
from xmer.io import atomic_path, atomic_write_json, temp_name
from xmer.modalities import MODALITIES

FORMAT = "xmer-dataset/1"
SPLITS = ("train", "valid", "test")


class ChunkWriter:
    """Writes the features of many samples for one modality into one chunk.

    Usage::

        with ChunkWriter(root / "features", "audio", dim=88, chunk="00003") as w:
            w.add("sample-1", array)   # (T, 88)

    The chunk becomes visible (its index file appears) only when the ``with`` block ends without an
    error; otherwise nothing is left behind.
    """

    def __init__(self, features_dir: str | Path, modality: str, dim: int, chunk: str = "00000", extractor: str = ""):
        if modality not in MODALITIES:
            raise DataError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")
        self.dir = Path(features_dir) / modality
        self.dir.mkdir(parents=True, exist_ok=True)
        self.modality, self.dim, self.chunk = modality, int(dim), chunk
        _write_or_check_meta(self.dir, self.dim, extractor)
        self._data_tmp = self.dir / temp_name(f"{chunk}.f32")
        self._file = open(self._data_tmp, "wb")
        self._rows = 0
        self._index: list[str] = []
        self._ids: set[str] = set()

    def add(self, sample_id: str, array: np.ndarray) -> None:
        """Append one sample's (T, D) sequence. Rejects NaN/Inf, a wrong D and duplicate ids."""
        array = np.asarray(array, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != self.dim:
            raise DataError(
                f"sample {sample_id!r}, modality {self.modality!r}: expected shape (T>=1, {self.dim}), "
                f"got {tuple(array.shape)}"
            )
        if not np.isfinite(array).all():
            raise DataError(f"sample {sample_id!r}, modality {self.modality!r}: features contain NaN or Inf")
        if sample_id in self._ids or "\t" in sample_id or "\n" in sample_id:
            raise DataError(f"sample {sample_id!r}: duplicate id or id with a tab/newline in chunk {self.chunk}")
        self._ids.add(sample_id)
        self._file.write(np.ascontiguousarray(array).tobytes())
        self._index.append(f"{sample_id}\t{self._rows}\t{array.shape[0]}\n")
        self._rows += array.shape[0]

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._data_tmp, self.dir / f"{self.chunk}.f32")
        with atomic_path(self.dir / f"{self.chunk}.idx.tsv") as tmp:
            tmp.write_text("".join(self._index))

    def abort(self) -> None:
        self._file.close()
        self._data_tmp.unlink(missing_ok=True)

    def __enter__(self) -> "ChunkWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def _write_or_check_meta(modality_dir: Path, dim: int, extractor: str) -> None:
    meta_path = modality_dir / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["dim"] != dim:
            raise DataError(f"{meta_path}: store holds {meta['dim']}-dim features, cannot add {dim}-dim ones")
        return
    atomic_write_json(meta_path, {"dim": dim, "dtype": "float32", "extractor": extractor})


class FeatureStore:
    """Read-only, memory-mapped access to the features of a prepared dataset."""

    def __init__(self, features_dir: str | Path):
        self.dir = Path(features_dir)
        self._meta: dict[str, dict] = {}
        self._where: dict[str, dict[str, tuple[int, int, int]]] = {}  # modality -> id -> (chunk, row, T)
        self._chunks: dict[str, list[Path]] = {}
        self._maps: dict[tuple[str, int], np.memmap] = {}
        for modality in MODALITIES:
            mdir = self.dir / modality
            if not (mdir / "meta.json").exists():
                continue
            self._meta[modality] = json.loads((mdir / "meta.json").read_text())
            where: dict[str, tuple[int, int, int]] = {}
            chunks = []
            for idx_path in sorted(mdir.glob("*.idx.tsv")):
                data_path = idx_path.with_name(idx_path.name[: -len(".idx.tsv")] + ".f32")
                if not data_path.exists():
                    raise DataError(f"{idx_path}: its data file {data_path.name} is missing")
                chunk_id = len(chunks)
                chunks.append(data_path)
                for line_no, line in enumerate(idx_path.read_text().splitlines(), 1):
                    try:
                        sample_id, row, steps = line.split("\t")
                        entry = (chunk_id, int(row), int(steps))
                    except ValueError:
                        raise DataError(f"{idx_path}, line {line_no}: malformed index line {line!r}") from None
                    if sample_id in where:  # two writers extracted the same sample (before the extract lock)
                        first = chunks[where[sample_id][0]].with_suffix(".idx.tsv").name
                        raise DataError(f"{mdir}: sample {sample_id!r} is stored twice, in chunks {first} and "
                                        f"{idx_path.name}; delete one of the two chunks (.f32 and .idx.tsv) and "
                                        "run xmer extract again to fill what is missing")
                    where[sample_id] = entry
            self._where[modality], self._chunks[modality] = where, chunks

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self._meta)

    def dim(self, modality: str) -> int:
        return int(self._meta[modality]["dim"])

    def extractor(self, modality: str) -> str:
        return str(self._meta[modality].get("extractor", ""))

    def has(self, sample_id: str, modality: str) -> bool:
        return sample_id in self._where.get(modality, {})

    def ids(self, modality: str) -> set[str]:
        return set(self._where.get(modality, {}))

    def get(self, sample_id: str, modality: str) -> np.ndarray:
        """The (T, D) float32 features of one sample (a read-only view into the memory map)."""
        try:
            chunk_id, row, steps = self._where[modality][sample_id]
        except KeyError:
            raise DataError(f"sample {sample_id!r}: no {modality!r} features in {self.dir}") from None
        return self._map(modality, chunk_id)[row : row + steps]

    def _map(self, modality: str, chunk_id: int) -> np.memmap:
        key = (modality, chunk_id)
        if key not in self._maps:
            path = self._chunks[modality][chunk_id]
            dim = self.dim(modality)
            size = path.stat().st_size
            if size % (4 * dim):
                raise DataError(f"{path}: size {size} bytes is not a whole number of {dim}-dim float32 rows")
            if size == 0:
                self._maps[key] = np.zeros((0, dim), dtype=np.float32)
            else:
                self._maps[key] = np.memmap(path, dtype=np.float32, mode="r", shape=(size // (4 * dim), dim))
        return self._maps[key]


# ---------------------------------------------------------------------------------------------------
# Whole datasets


def read_manifest(path: Path) -> list[dict]:
    if not path.is_file():
        raise DataError(f"manifest not found: {path}")
    records = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}, line {line_no}: not valid JSON ({error.msg})") from None
            missing = [k for k in ("id", "split", "source", "label", "modalities") if k not in record]
            if missing:
                raise DataError(f"{path}, line {line_no}: record lacks key(s) {', '.join(missing)}")
            records.append(record)
    return records


def write_manifest(path: Path, records: list[dict]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
