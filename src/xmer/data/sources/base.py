"""What every source shares: the scan of a raw release, its checks, and writing the prepared folder.

Preparing a source is two steps. ``Source.scan`` reads the raw release and lists its samples
(:class:`RawSample`: id, split, native label(s), modalities, media or a payload), checking the layout
as it goes; every bad file goes through :meth:`Scan.problem`, which raises a
:class:`~xmer.errors.DataError` naming the file, or, with ``allow_partial``, skips the file and
counts it. Then :func:`prepare` compares what was found with the release's known counts, maps every
label onto the target label space (:func:`xmer.data.labels.map_sample`; what does not map is dropped
and counted), and writes ``dataset.json``, ``manifest.jsonl`` and the payload (PNGs or feature chunks)
inside :func:`~xmer.data.store.building`, so the output folder is complete or absent.
"""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from xmer.data.dataset import DatasetInfo
from xmer.data.labels import SENTIMENT_SPACES, LabelSpace, get_label_space, is_builtin, map_sample, sentiment_label
from xmer.data.overlap import SHARED_IN_RELEASE, media_keys, within_release
from xmer.data.store import SPLITS, building, write_manifest
from xmer.errors import ConfigError, DataError
from xmer.guard import check_output, check_replaceable
from xmer.modalities import MODALITIES, subset_name

PARTIAL_HINT = "(--allow-partial skips such files and goes on)"
COUNT_HINT = "(--allow-partial proceeds with what was found and reports the difference)"


@dataclass
class RawSample:
    """One sample as a source finds it, before label mapping.

    Attributes:
        id: unique id, prefixed with the source name.
        split: ``train``, ``valid`` or ``test``.
        labels: native label (single-label source) or tuple of native labels (multi-label source),
            in the scan's ``native_space``; ``None`` when the source has only sentiment.
        modalities: the modalities the sample has.
        speaker: speaker or subject id, where known.
        media: modality -> path of the raw file (absolute, or relative to the output folder), or the
            transcript for ``text``; ``None`` for feature-file sources.
        sentiment: sentiment score (MOSI/MOSEI), for the sentiment label spaces.
        extra: further manifest keys (e.g. ``media_span``: seconds of the clip inside a longer file).
        data: payload the source's ``write`` reads (pixels, features); never written to the manifest.
        label: the label in the target space, set by :func:`prepare_source` after mapping.
    """

    id: str
    split: str
    labels: str | tuple[str, ...] | None
    modalities: tuple[str, ...]
    speaker: str | None = None
    media: dict[str, str] | None = None
    sentiment: float | None = None
    extra: dict | None = None
    data: Any = None
    label: str | list[str] | None = None


@dataclass
class Check:
    """A count the release is known to have, and what was found."""

    what: str
    expected: int | str
    found: int | str

    @property
    def ok(self) -> bool:
        return self.expected == self.found


class Scan:
    """What a source found: samples, checks against the release's counts, skipped files, notes."""

    def __init__(self, source: "Source", raw: Path, allow_partial: bool):
        self.source, self.raw, self.allow_partial = source, raw, allow_partial
        self.samples: list[RawSample] = []
        self.checks: list[Check] = []
        self.dropped: Counter = Counter()
        self.quirks: Counter = Counter()
        self.notes: list[str] = []
        self.native_space: str | None = source.native_space
        self.default_space: str = source.default_space
        self.split_note: str = source.split_note
        self.file_name: str = ""
        self.context: dict = {}
        """Source-specific state ``scan`` leaves for ``write``."""

    def add(self, sample: RawSample) -> None:
        self.samples.append(sample)

    def problem(self, reason: str, message: str) -> None:
        """A bad file or record: an error naming it, or (``allow_partial``) skip it and count ``reason``."""
        if not self.allow_partial:
            raise DataError(f"{message} {PARTIAL_HINT}")
        self.dropped[reason] += 1
        if len(self.notes) < 20:
            self.notes.append(message)

    def quirk(self, what: str) -> None:
        """A known quirk of the release as distributed (a misnamed file, ...): accepted, and counted."""
        self.quirks[what] += 1

    def expect(self, what: str, expected: int | str, found: int | str) -> None:
        self.checks.append(Check(what, expected, found))

    def found(self) -> dict[str, int]:
        counts = Counter(s.split for s in self.samples)
        return {split: counts.get(split, 0) for split in SPLITS}


class Source:
    """A dataset release ``xmer prepare`` can read. Subclasses set the attributes and ``scan``."""

    name: str = ""
    title: str = ""
    modalities: tuple[str, ...] = ()
    native_space: str | None = None
    default_space: str = "ekman7"
    default_help: str = ""
    """Says how the default label space is chosen when it depends on the files (else empty)."""
    url: str = ""
    raw_help: str = ""
    split_note: str = ""
    accepts_file: bool = False
    """``--raw`` may name a file (FER2013's CSV, a pickle) rather than a folder."""
    options: dict[str, str] = {}
    """Source-specific options (name -> help) that ``prepare(**options)`` accepts."""

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        raise NotImplementedError

    def write(self, out: Path, samples: list[RawSample], scan: Scan) -> dict[str, dict]:
        """Write the payload into ``out``; return ``dataset.json``'s modality -> {dim, extractor}.

        Raw-media sources write nothing: their features come from ``xmer extract``.
        """
        present = {m for s in samples for m in s.modalities}
        return {m: {"dim": None, "extractor": None} for m in MODALITIES if m in present}


# ---------------------------------------------------------------------------------------------------
# The summary


@dataclass
class PrepareSummary:
    """What ``xmer prepare`` did, for the terminal (:meth:`format`) and for ``--json`` (:meth:`to_json`)."""

    source: str
    label_space: LabelSpace
    raw: str
    out: str | None
    counts: dict[str, int]
    classes: dict[str, int]
    split_classes: dict[str, dict[str, int]]
    dropped: dict[str, int]
    found: dict[str, int]
    modalities: dict[str, int]
    checks: list[Check]
    notes: list[str] = field(default_factory=list)
    quirks: dict[str, int] = field(default_factory=dict)
    no_class: int = 0
    split_note: str = ""
    written: bool = False

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "label_space": self.label_space.name,
            "labels": list(self.label_space.labels),
            "multi_label": self.label_space.multi_label,
            "raw": self.raw,
            "out": self.out,
            "written": self.written,
            "counts": self.counts,
            "classes": self.classes,
            "split_classes": self.split_classes,
            "no_class": self.no_class,
            "dropped": self.dropped,
            "found": self.found,
            "modalities": self.modalities,
            "checks": [{"what": c.what, "expected": c.expected, "found": c.found} for c in self.checks],
            "mismatches": [c.what for c in self.checks if not c.ok],
            "splits": self.split_note,
            "quirks": self.quirks,
            "notes": self.notes,
        }

    def format(self) -> str:
        """The human summary: a class x split table, then dropped samples, checks and notes."""
        space = self.label_space
        where = f"into {self.out}" if self.written else "(dry run: nothing written)"
        lines = [f"{self.source} {where}", f"label space {space.name} ({'multi' if space.multi_label else 'single'}-label)"]
        width = max([len(c) for c in space.labels] + [12])
        lines.append(f"{'class':{width}s} " + " ".join(f"{s:>7s}" for s in (*SPLITS, "total")))
        for cls in space.labels:
            row = [self.split_classes[s].get(cls, 0) for s in SPLITS]
            lines.append(f"{cls:{width}s} " + " ".join(f"{n:7d}" for n in (*row, sum(row))))
        if space.multi_label and self.no_class:
            row = [self.split_classes[s].get("(no class)", 0) for s in SPLITS]
            lines.append(f"{'(no class)':{width}s} " + " ".join(f"{n:7d}" for n in (*row, sum(row))))
        row = [self.counts[s] for s in SPLITS]
        lines.append(f"{'samples':{width}s} " + " ".join(f"{n:7d}" for n in (*row, sum(row))))
        lines.append("modalities: " + ", ".join(f"{k} {v}" for k, v in self.modalities.items()))
        if self.split_note:
            lines.append(f"splits: {self.split_note}")
        if self.dropped:
            lines.append(f"dropped {sum(self.dropped.values())}:")
            lines += [f"  {n:7d}  {reason}" for reason, n in sorted(self.dropped.items(), key=lambda kv: -kv[1])]
        else:
            lines.append("dropped: none")
        if self.quirks:
            lines.append(f"known quirks of the release, accepted: {sum(self.quirks.values())}")
            lines += [f"  {n:7d}  {what}" for what, n in self.quirks.items()]
        for check in self.checks:
            mark = "ok" if check.ok else "MISMATCH"
            lines.append(f"check {check.what}: expected {check.expected}, found {check.found} ({mark})")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# The driver


def prepare_source(
    source: Source,
    raw: str | Path,
    out: str | Path | None,
    label_space: str | Path | LabelSpace | None = None,
    allow_partial: bool = False,
    dry_run: bool = False,
    overwrite: bool = False,
    transcribe: bool = False,
    **options,
) -> PrepareSummary:
    """Scan ``raw``, check it, map its labels onto ``label_space`` and write the prepared folder ``out``.

    ``transcribe``: every clip's text is what xmer hears in its speech (:mod:`xmer.data.hearing`),
    not the release's transcript (kept as ``corpus_text``).

    Raises :class:`~xmer.errors.DataError` for a missing or malformed release and for counts that
    differ from the release's (unless ``allow_partial``), :class:`~xmer.errors.ConfigError` for a
    label space the source's labels cannot map onto. Writes nothing when ``dry_run``.
    """
    unknown = set(options) - set(source.options)
    if unknown:
        valid = ", ".join(source.options) or "none"
        raise ConfigError(f"source {source.name!r} takes no option(s) {', '.join(sorted(unknown))} (its options: {valid})")
    raw = Path(raw).expanduser().resolve()
    if not raw.exists():
        raise DataError(f"{source.name}: raw data not found: {raw} (expected {source.raw_help})")
    if not raw.is_dir() and not source.accepts_file:
        raise DataError(f"{source.name}: {raw} is a file; expected {source.raw_help}")
    if out is None and not dry_run:
        raise ConfigError("an output folder is required (or a dry run)")
    if out is not None and not dry_run:
        check_output(out)
        if Path(out).exists() and not overwrite:
            raise DataError(f"output folder already exists: {out} (remove it, choose another, or overwrite)")
        check_replaceable(out, ("dataset",), protect=[raw])  # before the scan: a refusal costs nothing
    space = get_label_space(label_space) if label_space else None  # a bad name fails before the scan
    scan = Scan(source, raw, allow_partial)
    source.scan(raw, scan, options)
    if not scan.samples:
        raise DataError(f"{source.name}: no samples found under {raw} (expected {source.raw_help})")
    mismatches = [c for c in scan.checks if not c.ok]
    if mismatches and not allow_partial:
        listing = "; ".join(f"{c.what}: expected {c.expected}, found {c.found}" for c in mismatches)
        raise DataError(f"{source.name} at {raw} does not match the release: {listing} {COUNT_HINT}")
    space = space or get_label_space(scan.default_space)
    kept, dropped = _map_labels(scan, space)
    if not kept:
        raise DataError(f"{source.name}: no sample has a label in label space {space.name!r}; dropped: {dict(dropped)}")
    kept = drop_shared_items(kept, scan, dropped)
    heard = None
    if transcribe and not dry_run:
        from xmer.data.hearing import transcribe_samples

        heard = transcribe_samples(kept, source.name)
    summary = _summarise(source, scan, space, kept, dropped, raw, out)
    if heard is not None:
        summary.notes.append("text: what xmer hears in each clip (Whisper tiny.en, judged): "
                             + ", ".join(f"{n} {decision}" for decision, n in sorted(heard.items())))
    if dry_run:
        return summary
    summary.written = True
    out = Path(out).expanduser()
    summary.out = str(out.resolve())
    with building(out, overwrite=overwrite, protect=[raw]) as tmp:
        modalities = source.write(tmp, kept, scan)
        write_manifest(tmp / "manifest.jsonl", [_record(source, s) for s in kept])
        info = DatasetInfo(
            name=source.name,
            labels=space.labels,
            multi_label=space.multi_label,
            label_space=space.name,
            synthetic=False,
            description=f"{source.title}, prepared by `xmer prepare {source.name}` from {raw}",
        )
        meta = info.to_json(modalities)
        if not is_builtin(space):
            meta["label_space_definition"] = space.to_json()
        meta["sources"] = {source.name: summary.to_json()}
        (tmp / "dataset.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return summary


def _map_labels(scan: Scan, space: LabelSpace) -> tuple[list[RawSample], Counter]:
    dropped = Counter(scan.dropped)
    kept = []
    sentiment = space.name in SENTIMENT_SPACES
    for sample in scan.samples:
        if sentiment:
            if sample.sentiment is None:
                raise ConfigError(
                    f"{scan.source.name}: its samples have no sentiment score; label space {space.name!r} needs one "
                    f"(use {scan.native_space or 'an emotion space'})"
                )
            label, reason = sentiment_label(sample.sentiment, space)
        else:
            if sample.labels is None or scan.native_space is None:
                raise ConfigError(
                    f"{scan.source.name}: this release has sentiment scores only; use --label-space "
                    f"{' or '.join(SENTIMENT_SPACES)}"
                )
            label, reason = map_sample(sample.labels, scan.native_space, space)
        if reason is not None:
            dropped[reason] += 1
            continue
        sample.label = label
        kept.append(sample)
    return kept, dropped


def sample_keys(sample: RawSample) -> dict[str, str]:
    """:func:`xmer.data.overlap.media_keys` of a sample as a source found it (pixels or features it
    holds in memory count as its media)."""
    data = sample.data
    pixels = data if isinstance(data, np.ndarray) and data.dtype == np.uint8 and "visual" in sample.modalities else None
    stored = data.get if isinstance(data, dict) else None
    extra = sample.extra or {}
    return media_keys(sample.modalities, sample.media, composed="parts" in extra, pixels=pixels,
                      spans=extra.get("media_span"), features=stored)


def drop_shared_items(samples: list[RawSample], scan: Scan, dropped: Counter) -> list[RawSample]:
    """The samples without the training samples that share an item (:mod:`xmer.data.overlap`) with a
    valid or test sample of the same release; the drops are counted in ``dropped``, and samples whose
    media could not be read for the comparison are named in the scan's notes."""
    unreadable: list[str] = []

    def keys(sample: RawSample) -> dict[str, str]:
        try:
            return sample_keys(sample)
        except DataError as error:
            unreadable.append(f"{sample.id}: {error}")
            return {}

    kept, n = within_release(samples, keys)
    if n:
        dropped[SHARED_IN_RELEASE] += n
    if unreadable:
        scan.notes.append(f"{len(unreadable)} sample(s) not compared for shared items, their media unreadable "
                          f"(first: {unreadable[0]})")
    return kept


def _summarise(source, scan, space, kept, dropped, raw, out) -> PrepareSummary:
    counts = Counter(s.split for s in kept)
    split_classes: dict[str, Counter] = {s: Counter() for s in SPLITS}
    no_class = 0
    for sample in kept:
        names = sample.label if isinstance(sample.label, list) else [sample.label]
        if not names:
            no_class += 1
            split_classes[sample.split]["(no class)"] += 1
        split_classes[sample.split].update(names)
    classes = {c: sum(split_classes[s][c] for s in SPLITS) for c in space.labels}
    subsets = Counter(subset_name(s.modalities) for s in kept)
    return PrepareSummary(
        source=source.name,
        label_space=space,
        raw=str(raw),
        out=str(out) if out is not None else None,
        counts={s: counts.get(s, 0) for s in SPLITS},
        classes=classes,
        split_classes={s: {c: split_classes[s][c] for c in (*space.labels, "(no class)") if split_classes[s][c]} for s in SPLITS},
        dropped=dict(dropped),
        found=scan.found(),
        modalities=dict(sorted(subsets.items(), key=lambda kv: -kv[1])),
        checks=scan.checks,
        notes=scan.notes,
        quirks=dict(scan.quirks),
        no_class=no_class,
        split_note=scan.split_note,
    )


def _record(source: Source, sample: RawSample) -> dict:
    record = {
        "id": sample.id,
        "split": sample.split,
        "source": source.name,
        "label": sample.label,
        "modalities": [m for m in MODALITIES if m in sample.modalities],
    }
    if sample.speaker is not None:
        record["speaker"] = sample.speaker
    if sample.media:
        record["media"] = sample.media
    if sample.sentiment is not None:
        record["sentiment"] = float(sample.sentiment)
    if sample.extra:
        record.update(sample.extra)
    return record


# ---------------------------------------------------------------------------------------------------
# Helpers for sources


MAGIC = {
    ".wav": (0, b"RIFF", 8, b"WAVE"),
    ".avi": (0, b"RIFF", 8, b"AVI "),
    ".flac": (0, b"fLaC", None, None),
    ".opus": (0, b"OggS", None, None),
    ".ogg": (0, b"OggS", None, None),
    ".mp4": (4, b"ftyp", None, None),
    ".png": (0, b"\x89PNG", None, None),
    ".jpg": (0, b"\xff\xd8", None, None),
    ".jpeg": (0, b"\xff\xd8", None, None),
}


def file_problem(path: Path) -> str | None:
    """Why a media file cannot be used (unreadable, empty, not the format its suffix says), or None.

    Reads only the first 12 bytes: cheap enough for every file of a release.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as error:
        return f"unreadable file {path} ({error.strerror})"
    if not head:
        return f"empty file {path}"
    magic = MAGIC.get(path.suffix.lower())
    if magic:
        at, sig, at2, sig2 = magic
        if head[at : at + len(sig)] != sig or (at2 is not None and head[at2 : at2 + len(sig2)] != sig2):
            return f"{path} is not a {path.suffix.lower()[1:].upper()} file (bad header)"
    return None


AUDIO_CONTENT = {"WAV": (0, b"RIFF", 8, b"WAVE"), "AIFF": (0, b"FORM", 8, b"AIF"), "FLAC": (0, b"fLaC", None, None),
                 "Ogg": (0, b"OggS", None, None)}
"""Audio containers recognised by their first bytes, whatever the file is called."""


def audio_content(path: Path) -> str | None:
    """The audio container ``path`` holds by its first bytes (``AUDIO_CONTENT``), when it is one and
    its header reads as audio with samples in it; else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    found = next((name for name, (at, sig, at2, sig2) in AUDIO_CONTENT.items()
                  if head[at : at + len(sig)] == sig and (at2 is None or head[at2 : at2 + len(sig2)] == sig2)), None)
    if found is None:
        return None
    try:
        import soundfile

        return found if soundfile.info(str(path)).frames > 0 else None
    except Exception:  # not installed, or not readable: the file is refused as its name says
        return None


def check_media(scan: Scan, path: Path) -> bool:
    """``file_problem`` through ``scan.problem``; True when the file is usable.

    An audio file whose name says one format and whose bytes are another (TESS as commonly
    distributed holds two AIFF files named ``.wav``) is read by its content, and counted as a quirk."""
    problem = file_problem(path)
    content = audio_content(path) if problem and path.suffix.lower() in (".wav", ".flac", ".ogg", ".opus") else None
    if content:
        scan.quirk(f"audio named {path.suffix.lower()} holding {content} (read by its content)")
        return True
    if problem:
        scan.problem("unreadable or malformed file", problem)
        return False
    return True


def first_usable_clip(scan: Scan, seen: dict[str, Path], path: Path) -> bool:
    """True for the first usable file of a clip (its stem): a second file of the same clip, or a file
    that :func:`check_media` refuses, goes through ``scan.problem``; ``seen`` records the clips taken."""
    if path.stem in seen:
        scan.problem("duplicate file", f"{path}: a second file of clip {path.stem} (first: {seen[path.stem]})")
        return False
    if not check_media(scan, path):
        return False
    seen[path.stem] = path
    return True


def open_text(path: Path) -> io.TextIOBase:
    """Open a text file, gunzipping ``.gz`` transparently; UTF-8 (BOM tolerated)."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def find_file(raw: Path, names: Sequence[str], what: str, depth: int = 2) -> Path:
    """The first of ``names`` found at ``raw`` (a file itself) or up to ``depth`` folders below it."""
    if raw.is_file():
        if raw.name in names:
            return raw
        raise DataError(f"{raw} is not {what} (expected a file named {' or '.join(names)})")
    for level in range(depth + 1):
        for name in names:
            hits = sorted(raw.glob("/".join(["*"] * level + [name])))
            if hits:
                return hits[0]
    raise DataError(f"{what} not found under {raw}: looked for {' or '.join(names)} up to {depth} folders down")


def visible_files(folder: Path) -> list[Path]:
    """Files in ``folder`` (sorted), without hidden files (``.DS_Store``, ``._*``)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def seeded_split(keys: Iterable[str], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Assign each key to a split: a permutation of the *sorted* keys by ``np.random.default_rng(seed)``,
    cut at the cumulative ``fractions`` (rounded). The same keys always give the same assignment."""
    keys = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(keys))
    out, start = {}, 0
    names = list(fractions)
    for i, name in enumerate(names):
        stop = len(keys) if i == len(names) - 1 else start + int(round(fractions[name] * len(keys)))
        for j in order[start:stop]:
            out[keys[j]] = name
        start = stop
    return out
