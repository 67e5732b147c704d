"""CMU-MOSEI and CMU-MOSI from CMU-MultimodalSDK computational sequences (``.csd``). Writes features.

A ``.csd`` file is HDF5: one root group (the sequence's name) holding ``data/<video id>/features``
(T, D) and ``data/<video id>/intervals`` (T, 2) in seconds, and ``metadata``. The labels are a
``.csd`` too, one row per annotated segment: MOSEI's ``CMU_MOSEI_Labels.csd`` has seven values
(sentiment, happy, sad, anger, surprise, disgust, fear), MOSI's ``CMU_MOSI_Opinion_Labels.csd`` one
(sentiment). Each labelled segment becomes a sample whose features are, per modality, the steps
whose intervals overlap the segment's interval (by more than 1e-5 s), as the SDK's ``align`` to the
labels does; segments shorter than that are skipped, as the SDK skips them. Non-finite feature
values (COVAREP has some) are set to 0 and counted.

``--raw`` is the folder with the ``.csd`` files. Which file is which modality is recognised from the
file name or root group name: visual FACET 4.2 (else OpenFace 2), audio COVAREP (else openSMILE),
text GloVe word vectors; ``--csd MODALITY=FILE`` picks another. Splits are the SDK's standard
folds, read from ``--folds FILE`` (JSON ``{"train": [...], "valid": [...], "test": [...]}`` or the
SDK's ``cmu_mosei_std_folds.py`` / ``cmu_mosi_std_folds.py``, read as data, never run), else such a
file found in ``--raw``, else the installed SDK (``mmsdk``, from its GitHub repository). Segment
ids are ``VIDEO[i]`` as in the SDK. Default label space: ``mosei6`` for MOSEI (an emotion is
present when its intensity > 0), ``sentiment2`` for MOSI. Needs ``h5py``.
"""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from xmer.data.sources.base import RawSample, Scan, Source
from xmer.data.store import SPLITS, ChunkWriter
from xmer.errors import ConfigError, DataError

EPSILON = 1e-5
MOSEI_EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")  # label columns 1..6

# modality -> name patterns (normalised: lower case, only letters and digits), most preferred first
PATTERNS = {
    "visual": ("facet42", "openface2", "facet41", "openface"),
    "audio": ("covarep", "opensmileis09", "opensmile"),
    "text": ("timestampedwordvectors", "glovevectors", "wordvectors"),
}


def _h5py():
    try:
        import h5py
    except ImportError:
        raise DataError("reading .csd files needs h5py: pip install h5py") from None
    return h5py


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


class CSDFile:
    """One computational sequence: its path, root name and the ``data`` group (read lazily)."""

    def __init__(self, path: Path):
        h5py = _h5py()
        self.path = path
        try:
            self.handle = h5py.File(path, "r")
        except OSError as error:
            raise DataError(f"{path}: not a readable HDF5 computational sequence ({error})") from None
        roots = list(self.handle.keys())
        if len(roots) != 1 or "data" not in self.handle[roots[0]]:
            self.handle.close()
            raise DataError(f"{path}: expected one root group holding data/ and metadata/, found {roots}")
        self.root = roots[0]
        self.data = self.handle[self.root]["data"]

    def entry(self, video: str, what: str) -> np.ndarray:
        try:
            return np.asarray(self.data[video][what])
        except (KeyError, OSError) as error:
            raise DataError(f"{self.path}: cannot read data/{video}/{what} ({error})") from None

    def close(self) -> None:
        self.handle.close()


def read_folds(path: Path) -> dict[str, list[str]]:
    """Standard folds from a JSON file or the SDK's ``*_std_folds.py`` (parsed, never executed)."""
    text = path.read_text()
    if path.suffix == ".json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: not valid JSON ({error.msg})") from None
        folds = {s: raw.get(s) for s in SPLITS}
    else:
        folds = {}
        try:
            tree = ast.parse(text)
        except SyntaxError as error:
            raise DataError(f"{path}: not a Python folds file ({error})") from None
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                match = re.fullmatch(r"standard_(train|valid|test)_fold", node.targets[0].id)
                if match:
                    folds[match.group(1)] = ast.literal_eval(node.value)
    if not all(isinstance(folds.get(s), list) for s in SPLITS):
        raise DataError(f"{path}: expected train, valid and test lists of video ids (standard_*_fold in the SDK's file)")
    return {s: [str(v) for v in folds[s]] for s in SPLITS}


class _CMU(Source):
    modalities = ("visual", "audio", "text")
    url = "http://immortal.multicomp.cs.cmu.edu/ (via CMU-MultimodalSDK: github.com/CMU-MultiComp-Lab/CMU-MultimodalSDK)"
    raw_help = "the folder with the .csd computational sequences (labels, and FACET/COVAREP/GloVe features)"
    split_note = "the SDK's standard folds (by video)"
    options = {
        "csd": "modality=file.csd choices overriding the automatic pick (a dict)",
        "folds": "standard folds file: JSON {train, valid, test} or the SDK's *_std_folds.py",
    }
    SDK_MODULE = ""
    FOLDS_FILE = ""
    EXPECTED: dict[str, int] = {}

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        folder = raw if raw.is_dir() else raw.parent
        csds = sorted(p for p in folder.glob("*.csd") if not p.name.startswith("."))
        if not csds:
            raise DataError(f"{self.name}: no .csd files in {folder}")
        files = {p: CSDFile(p) for p in csds}
        try:
            labels_file, modality_files = self._pick(files, options.get("csd") or {}, folder)
            folds = self._folds(folder, options.get("folds"))
            fold_of = {video: split for split in SPLITS for video in folds[split]}
            scan.file_name = ", ".join(f"{m}={p.name}" for m, p in modality_files.items())
            self._scan_segments(files[labels_file], {m: files[p] for m, p in modality_files.items()}, fold_of, scan)
            scan.context["modality_files"] = modality_files
        finally:
            for f in files.values():
                f.close()

    def _pick(self, files: dict[Path, CSDFile], chosen: dict, folder: Path) -> tuple[Path, dict[str, Path]]:
        names = {p: _norm(p.stem) + " " + _norm(f.root) for p, f in files.items()}
        labels = [p for p, n in names.items() if "label" in n]
        if len(labels) != 1:
            raise DataError(f"{self.name}: expected one labels .csd in {folder} (e.g. {self.LABELS_FILE}), found {[p.name for p in labels]}")
        picked = {}
        for modality, patterns in PATTERNS.items():
            if modality in chosen:
                path = Path(chosen[modality])
                path = path if path.is_absolute() else folder / path
                if path not in files:
                    raise ConfigError(f"{self.name}: --csd {modality}={chosen[modality]}: no such .csd in {folder}")
                picked[modality] = path
                continue
            for pattern in patterns:
                hits = [p for p, n in names.items() if pattern in n and p not in labels]
                if hits:
                    picked[modality] = hits[0]
                    break
        unknown = set(chosen) - set(PATTERNS)
        if unknown:
            raise ConfigError(f"{self.name}: --csd takes visual=, audio=, text=; got {sorted(unknown)}")
        if not picked:
            raise DataError(f"{self.name}: no feature .csd in {folder} (expected FACET/OpenFace, COVAREP/openSMILE or GloVe word vectors)")
        return labels[0], picked

    def _folds(self, folder: Path, given: str | None) -> dict[str, list[str]]:
        if given:
            return read_folds(Path(given))
        for name in (self.FOLDS_FILE, "folds.json"):
            if (folder / name).is_file():
                return read_folds(folder / name)
        try:
            import importlib

            module = importlib.import_module(self.SDK_MODULE)
            return {s: [str(v) for v in getattr(module, f"standard_{s}_fold")] for s in SPLITS}
        except (ImportError, AttributeError):
            raise DataError(
                f"{self.name}: the standard folds were not found: pass --folds FILE (the SDK's {self.FOLDS_FILE}, "
                f"from mmsdk/mmdatasdk/dataset/standard_datasets/, or JSON {{train, valid, test}}), put it in {folder}, "
                "or install the CMU-MultimodalSDK (github.com/CMU-MultiComp-Lab/CMU-MultimodalSDK) so that mmsdk imports"
            ) from None

    def _scan_segments(self, labels: CSDFile, features: dict[str, CSDFile], fold_of: dict[str, str], scan: Scan) -> None:
        videos = sorted(labels.data.keys())
        if "videos" in self.EXPECTED:
            scan.expect("videos with labels", self.EXPECTED["videos"], len(videos))
        in_folds = [v for v in fold_of if v in labels.data]
        scan.expect("standard-fold videos present in the labels", len(fold_of), len(in_folds))
        segments = 0
        for video in videos:
            values = labels.entry(video, "features")
            intervals = labels.entry(video, "intervals")
            if values.ndim != 2 or intervals.shape != (values.shape[0], 2) or values.shape[1] < self.LABEL_WIDTH:
                scan.problem(
                    "malformed labels",
                    f"{labels.path}: data/{video}: labels {values.shape} / intervals {intervals.shape}, "
                    f"expected (N, {self.LABEL_WIDTH}) / (N, 2)",
                )
                continue
            split = fold_of.get(video)
            segments += len(values)
            if split is None:
                scan.dropped["video in no standard fold"] += len(values)
                continue
            steps = {}
            for modality, csd in features.items():
                if video in csd.data:
                    steps[modality] = csd.entry(video, "intervals")
            for i, (row, (start, end)) in enumerate(zip(values, intervals)):
                if abs(end - start) < EPSILON:
                    scan.dropped["zero-length segment"] += 1
                    continue
                rows = {}
                for modality, iv in steps.items():
                    overlap = np.minimum(iv[:, 1], end) - np.maximum(iv[:, 0], start)
                    hit = np.flatnonzero(overlap > EPSILON)
                    if hit.size:
                        rows[modality] = hit[np.argsort(iv[hit, 0], kind="stable")]
                if not rows:
                    scan.dropped["no feature steps in the segment"] += 1
                    continue
                sample = RawSample(
                    f"{self.name}-{video}[{i}]", split, self._labels(row), tuple(rows), speaker=None,
                    sentiment=float(row[0]), extra={"video": video, "interval": [float(start), float(end)]},
                    data=(video, rows),
                )
                scan.add(sample)
        if "segments" in self.EXPECTED:
            scan.expect("labelled segments", self.EXPECTED["segments"], segments)

    def write(self, out: Path, samples: list[RawSample], scan: Scan) -> dict[str, dict]:
        info = {}
        repaired = 0
        by_video: dict[str, list[RawSample]] = defaultdict(list)
        for sample in samples:
            by_video[sample.data[0]].append(sample)
        for modality, path in scan.context["modality_files"].items():
            csd = CSDFile(path)
            extractor = f"{self.name}:{path.name}"
            try:
                dim = None
                writer = None
                for video, group in by_video.items():
                    having = [s for s in group if modality in s.data[1]]
                    if not having:
                        continue
                    feats = csd.entry(video, "features").astype(np.float32)
                    if feats.ndim != 2:
                        raise DataError(f"{path}: data/{video}/features has shape {feats.shape}, expected (T, D)")
                    if writer is None:
                        dim = feats.shape[1]
                        writer = ChunkWriter(out / "features", modality, dim, extractor=extractor)
                    bad = ~np.isfinite(feats)
                    if bad.any():
                        repaired += int(bad.sum())
                        feats[bad] = 0.0
                    for sample in having:
                        writer.add(sample.id, feats[sample.data[1][modality]])
                if writer is not None:
                    writer.close()
                    info[modality] = {"dim": int(dim), "extractor": extractor}
            except BaseException:
                if writer is not None:
                    writer.abort()
                raise
            finally:
                csd.close()
        if repaired:
            scan.notes.append(f"{repaired} non-finite feature values set to 0")
        return info


class CMUMOSEI(_CMU):
    name = "cmu-mosei"
    title = "CMU-MOSEI (computational sequences: FACET, COVAREP, GloVe; six emotions and sentiment)"
    native_space = "mosei6"
    default_space = "mosei6"
    SDK_MODULE = "mmsdk.mmdatasdk.dataset.standard_datasets.CMU_MOSEI.cmu_mosei_std_folds"
    FOLDS_FILE = "cmu_mosei_std_folds.py"
    LABELS_FILE = "CMU_MOSEI_Labels.csd"
    LABEL_WIDTH = 7

    def _labels(self, row: np.ndarray) -> tuple[str, ...]:
        return tuple(e for e, v in zip(MOSEI_EMOTIONS, row[1:7]) if v > 0)


class CMUMOSI(_CMU):
    name = "cmu-mosi"
    title = "CMU-MOSI (computational sequences: FACET, COVAREP, GloVe; sentiment)"
    native_space = None
    default_space = "sentiment2"
    SDK_MODULE = "mmsdk.mmdatasdk.dataset.standard_datasets.CMU_MOSI.cmu_mosi_std_folds"
    FOLDS_FILE = "cmu_mosi_std_folds.py"
    LABELS_FILE = "CMU_MOSI_Opinion_Labels.csd"
    LABEL_WIDTH = 1
    EXPECTED = {"videos": 93, "segments": 2199}

    def _labels(self, row: np.ndarray) -> None:
        return None
