"""Feature pickles of the field: the Multimodal Transformer's and MMSA's. Features are written directly.

Pickles run code when loaded, so xmer loads only the files a user points it at, and through a
restricted unpickler that accepts numpy arrays and plain Python containers and refuses anything else.

- ``mult-pkl``: the Multimodal Transformer (Tsai et al. 2019) files ``iemocap_data.pkl``,
  ``mosei_senti_data.pkl``, ``mosi_data.pkl`` and their ``_noalign`` versions. ``--raw`` is the
  file, or a folder holding exactly one of them. Layout: ``{"train"|"valid"|"test": {"vision":
  (N, T, Dv), "audio": (N, T, Da), "text": (N, T, Dt), "labels": ..., "id": ...}}``; IEMOCAP labels
  are (N, 4, 2): neutral, happy, sad, angry, each one-hot (absent, present); MOSEI/MOSI labels are
  (N, 1, 1) sentiment scores in [-3, 3]. Known counts: IEMOCAP 2717/798/938, MOSEI 16326/1871/4659,
  MOSI 1284/229/686. Default label space: ``iemocap4`` for IEMOCAP, ``sentiment2`` otherwise.
- ``mmsa-pkl``: MMSA's ``aligned_50.pkl`` / ``unaligned_50.pkl`` (MOSI, MOSEI or CH-SIMS). Layout:
  ``{"train"|"valid"|"test": {"id", "raw_text", "text", "audio", "vision", "regression_labels",
  optional "text_bert" (N, 3, L), "audio_lengths", "vision_lengths"}}``. The dataset is recognised
  by its split counts (MOSI 1284/229/686, MOSEI 16326/1871/4659, SIMS 1368/456/457). Default label
  space ``sentiment2``; ``raw_text`` goes to ``media["text"]``.

Sequences are padded with zero steps in these files; xmer keeps only the real steps (the given
lengths, else the span between the first and last non-zero step), and a sequence with no non-zero
step counts as a missing modality, as the data contract wants. Non-finite values (MOSEI's COVAREP
has -inf) are set to 0, as the Multimodal Transformer's loader does, and counted in the notes.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from xmer.data.sources.base import RawSample, Scan, Source
from xmer.data.store import SPLITS, ChunkWriter
from xmer.errors import DataError

MODALITY_KEYS = {"visual": "vision", "audio": "audio", "text": "text"}

_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"), ("_codecs", "encode"),
    ("collections", "OrderedDict"), ("collections", "defaultdict"),
    *(("builtins", n) for n in "object list dict tuple set frozenset str bytes bytearray int float complex bool slice".split()),
    *(("__builtin__", n) for n in "object list dict tuple set frozenset str unicode bytes int long float bool".split()),
}


class _NumpyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED or module == "numpy.dtypes":
            if module == "__builtin__":
                module, name = "builtins", {"unicode": "str", "long": "int"}.get(name, name)
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays and plain containers are allowed")


def load_pickle(path: Path) -> dict:
    """Load a feature pickle through the restricted unpickler (Python 2 pickles read as latin-1)."""
    for encoding in ("ASCII", "latin1"):
        try:
            with open(path, "rb") as f:
                data = _NumpyUnpickler(f, encoding=encoding).load()
            break
        except UnicodeDecodeError:
            continue
        except (pickle.UnpicklingError, EOFError, OSError, ValueError, AttributeError, ImportError) as error:
            raise DataError(f"{path}: cannot be loaded as a feature pickle ({error})") from None
    else:
        raise DataError(f"{path}: cannot be decoded as a Python 2 or 3 pickle")
    if not isinstance(data, dict) or not all(s in data for s in SPLITS):
        keys = list(data)[:10] if isinstance(data, dict) else type(data).__name__
        raise DataError(f"{path}: expected a dict with keys train, valid, test; found {keys}")
    return data


def real_steps(array: np.ndarray, length: int | None = None) -> np.ndarray | None:
    """The real (non-padding) steps of one padded (T, D) sequence, or None if there are none."""
    if length is not None:
        length = int(length)
        return array[:length] if length > 0 else None
    nonzero = np.flatnonzero(np.any(array != 0, axis=1))
    if nonzero.size == 0:
        return None
    return array[nonzero[0] : nonzero[-1] + 1]


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return "-".join(_text(v) for v in value.ravel())
    return str(value)


class _FeaturePickle(Source):
    modalities = ("visual", "audio", "text")
    FILES: dict[str, str] = {}
    accepts_file = True

    def _locate(self, raw: Path) -> Path:
        if raw.is_file():
            if raw.name not in self.FILES:
                raise DataError(f"{raw}: not a known {self.name} file name (expected one of {', '.join(self.FILES)})")
            return raw
        found = sorted(p for name in self.FILES for p in (*raw.glob(name), *raw.glob(f"*/{name}"), *raw.glob(f"*/*/{name}")))
        if not found:
            raise DataError(f"{self.name}: none of {', '.join(self.FILES)} under {raw}")
        if len(found) > 1:
            raise DataError(f"{self.name}: several pickles under {raw} ({', '.join(str(p) for p in found)}); point --raw at one file")
        return found[0]

    def _add_features(self, scan: Scan, part: dict, split: str, index: int, sample: RawSample, lengths: dict) -> bool:
        features = {}
        for modality, key in MODALITY_KEYS.items():
            seq = real_steps(part[key][index], lengths.get(modality))
            if seq is not None:
                features[modality] = seq
        if not features:
            scan.dropped["no non-zero features in any modality"] += 1
            return False
        sample.modalities = tuple(features)
        sample.data = features
        scan.add(sample)
        return True

    def _arrays(self, path: Path, data: dict, scan: Scan) -> None:
        """Check shapes and repair non-finite values in place (MulT's loader sets -inf to 0)."""
        repaired = 0
        for split in SPLITS:
            part = data[split]
            missing = [k for k in (*MODALITY_KEYS.values(), self.LABEL_KEY) if k not in part]
            if missing:
                raise DataError(f"{path}: split {split!r} lacks key(s) {', '.join(missing)} (has {', '.join(part)})")
            n = len(part[self.LABEL_KEY])
            for key in MODALITY_KEYS.values():
                array = np.asarray(part[key], dtype=np.float32)
                if array.ndim != 3 or array.shape[0] != n:
                    raise DataError(f"{path}: {split}/{key} has shape {array.shape}, expected (N={n}, T, D)")
                bad = ~np.isfinite(array)
                if bad.any():
                    repaired += int(bad.sum())
                    array = np.where(bad, 0.0, array).astype(np.float32)
                part[key] = array
        if repaired:
            scan.notes.append(f"{repaired} non-finite feature values set to 0")

    def write(self, out: Path, samples: list[RawSample], scan: Scan) -> dict[str, dict]:
        info = {}
        extractor = f"{self.name}:{scan.file_name}"
        for modality in MODALITY_KEYS:
            having = [s for s in samples if modality in s.data]
            if not having:
                continue
            dim = having[0].data[modality].shape[1]
            with ChunkWriter(out / "features", modality, dim, extractor=extractor) as writer:
                for sample in having:
                    writer.add(sample.id, sample.data[modality])
            info[modality] = {"dim": int(dim), "extractor": extractor}
        return info


class MultPickle(_FeaturePickle):
    name = "mult-pkl"
    title = "Multimodal Transformer feature pickles (IEMOCAP, CMU-MOSEI, CMU-MOSI; aligned or not)"
    native_space = None
    default_space = "sentiment2"
    default_help = "iemocap4 for iemocap_data*.pkl, sentiment2 otherwise"
    url = "https://github.com/yaohungt/Multimodal-Transformer (links to the processed data)"
    raw_help = "one of iemocap_data.pkl, mosei_senti_data.pkl, mosi_data.pkl (or *_noalign.pkl), or a folder holding one"
    split_note = "the pickle's own train / valid / test"
    LABEL_KEY = "labels"
    FILES = {
        f"{base}{suffix}.pkl": base for base in ("iemocap_data", "mosei_senti_data", "mosi_data") for suffix in ("", "_noalign")
    }
    EXPECTED = {
        "iemocap_data": (2717, 798, 938),
        "mosei_senti_data": (16326, 1871, 4659),
        "mosi_data": (1284, 229, 686),
    }
    IEMOCAP_EMOTIONS = ("neutral", "happy", "sad", "angry")

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        path = self._locate(raw)
        kind = self.FILES[path.name]
        scan.file_name = path.name
        data = load_pickle(path)
        self._arrays(path, data, scan)
        if kind == "iemocap_data":
            scan.native_space, scan.default_space = "iemocap4", "iemocap4"
        for split, expected in zip(SPLITS, self.EXPECTED[kind]):
            part = data[split]
            labels = np.asarray(part["labels"], dtype=np.float32)
            n = labels.shape[0]
            scan.expect(f"{split} samples", expected, n)
            ids = part.get("id")
            for i in range(n):
                sample_id = f"mult-{kind.split('_')[0]}-{split}-{i:05d}"
                extra = {"source_id": _text(ids[i])} if ids is not None else None
                sample = RawSample(sample_id, split, None, (), extra=extra)
                if kind == "iemocap_data":
                    if labels.shape[1:] != (4, 2):
                        raise DataError(f"{path}: {split}/labels has shape {labels.shape}, expected (N, 4, 2)")
                    present = tuple(e for e, row in zip(self.IEMOCAP_EMOTIONS, labels[i]) if row.argmax() == 1)
                    sample.labels = present[0] if len(present) == 1 else present
                else:
                    sample.sentiment = float(labels[i].ravel()[0])
                self._add_features(scan, part, split, i, sample, {})


class MMSAPickle(_FeaturePickle):
    name = "mmsa-pkl"
    title = "MMSA feature pickles aligned_50.pkl / unaligned_50.pkl (CMU-MOSI, CMU-MOSEI, CH-SIMS)"
    native_space = None
    default_space = "sentiment2"
    url = "https://github.com/thuiar/MMSA (links to the processed data)"
    raw_help = "aligned_50.pkl or unaligned_50.pkl, or a folder holding one"
    split_note = "the pickle's own train / valid / test"
    LABEL_KEY = "regression_labels"
    FILES = {"aligned_50.pkl": "aligned", "unaligned_50.pkl": "unaligned"}
    KNOWN = {"mosi": (1284, 229, 686), "mosei": (16326, 1871, 4659), "sims": (1368, 456, 457)}

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        path = self._locate(raw)
        scan.file_name = path.name
        data = load_pickle(path)
        self._arrays(path, data, scan)
        counts = tuple(len(data[s][self.LABEL_KEY]) for s in SPLITS)
        dataset = next((name for name, known in self.KNOWN.items() if known == counts), None)
        if dataset is None:
            known = " or ".join(f"{name} {'/'.join(map(str, c))}" for name, c in self.KNOWN.items())
            scan.expect("train/valid/test samples", known, "/".join(map(str, counts)))
        else:
            for split, expected, n in zip(SPLITS, self.KNOWN[dataset], counts):
                scan.expect(f"{dataset} {split} samples", expected, n)
        seen = set()
        for split in SPLITS:
            part = data[split]
            labels = np.asarray(part[self.LABEL_KEY], dtype=np.float64).reshape(len(part[self.LABEL_KEY]), -1)
            text_mask = np.asarray(part["text_bert"])[:, 1, :] if "text_bert" in part else None
            for i in range(labels.shape[0]):
                raw_id = _text(part["id"][i]) if "id" in part else f"{split}-{i:05d}"
                sample_id = f"mmsa-{dataset or 'data'}-{raw_id}"
                if sample_id in seen:
                    scan.problem("duplicate id", f"{path}: sample id {raw_id!r} occurs twice")
                    continue
                seen.add(sample_id)
                lengths = {}
                if "audio_lengths" in part:
                    lengths["audio"] = part["audio_lengths"][i]
                if "vision_lengths" in part:
                    lengths["visual"] = part["vision_lengths"][i]
                if text_mask is not None:
                    lengths["text"] = int(np.asarray(text_mask[i]).sum())
                media = {"text": _text(part["raw_text"][i])} if "raw_text" in part else None
                sample = RawSample(sample_id, split, None, (), media=media, sentiment=float(labels[i, 0]))
                self._add_features(scan, part, split, i, sample, lengths)
