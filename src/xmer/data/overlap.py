"""Items shared between datasets and between the splits of one dataset: what ``xmer audit`` reports,
what ``xmer prepare`` drops inside one release and what training drops across a mixture.

Corpora overlap: MELD and EmoryNLP are transcripts of one TV show, DailyDialog repeats lines across its
splits, FER2013 holds the same picture in its Training and test parts. A model trained on a copy of an
evaluation item is scored on what it memorised, so every item gets a **key**, a hash of its content,
and two records share an item when they share a key. Hashing, not pairwise comparison: an audit of
100,000 records costs one pass over them.

What a key is, per modality (:func:`record_keys`):

- **text**: the text lower-cased (Unicode NFKC), punctuation deleted, white space collapsed
  (:func:`normalise_text`), when it has at least :data:`MIN_WORDS` words. Shorter lines ("Yeah.",
  "Oh my God!") recur as ordinary language across unrelated scenes, not as copies of one item; give
  ``min_words=1`` to count them too. With ``near=True`` the text is normalised further
  (:func:`near_text`: web addresses, @mentions, digits and the ``#`` of hashtags removed, letters
  repeated three times or more squeezed to two), which also matches a tweet re-posted with another
  link or a line re-typed with other numbers. A text is an item of its own only when it stands alone
  (a text-only record) or was paired with independent media (a composed record, which names its
  ``parts``); the words of a recording (a transcript, an acted carrier sentence) are part of that
  recording, whose audio or video is its key.
- **visual**: an image's decoded pixels (mode, size and bytes), so the same picture stored as PNG or
  as pixels in a CSV matches; a video file by its bytes (and the span used, if any); a folder of
  frames by the pixels of every frame.
- **audio**: the decoded samples, first channel, rounded to 16-bit integers: the same recording
  stored as WAV, FLAC or any other lossless form matches. Not caught: a copy that was resampled,
  trimmed, re-mixed or re-encoded lossily.
- A record with no media for a modality (feature-file sources) is keyed by its stored features,
  which catches exact copies only.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from xmer.errors import DataError

MIN_WORDS = 8
"""Texts shorter than this (after :func:`normalise_text`) are not compared."""

EVALUATION_SPLITS = ("valid", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

_PUNCTUATION = re.compile(r"[^\w\s]|_")
_URL = re.compile(r"(https?://|www\.)\S+")
_MENTION = re.compile(r"@\w+")
_REPEATS = re.compile(r"(\w)\1{2,}")


@dataclass(frozen=True)
class KeyRules:
    """How items are compared: the shortest text compared and whether texts match near-duplicates."""

    min_words: int = MIN_WORDS
    near: bool = False


def normalise_text(text: str) -> str:
    """``"Oh, MY  god!!"`` -> ``"oh my god"``: NFKC, lower case, punctuation deleted, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_PUNCTUATION.sub("", text).split())


def near_text(text: str) -> str:
    """:func:`normalise_text` after removing links, @mentions, digits and hashtag signs, with letters
    repeated three or more times squeezed to two (``"sooo"`` -> ``"soo"``)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _MENTION.sub(" ", _URL.sub(" ", text))
    text = re.sub(r"\d+", " ", text.replace("#", " "))
    return normalise_text(_REPEATS.sub(r"\1\1", text))


def text_key(text: str, rules: KeyRules = KeyRules()) -> str | None:
    """The key of a text, or None when it is shorter than ``rules.min_words`` words."""
    words = (near_text if rules.near else normalise_text)(text)
    if len(words.split()) < rules.min_words:
        return None
    return "text:" + _digest(words.encode("utf-8"))


def pixels_key(pixels: np.ndarray) -> str:
    """The key of an image given as an array of pixels (H, W) or (H, W, C)."""
    pixels = np.ascontiguousarray(pixels)
    head = f"{pixels.dtype.str}{pixels.shape}".encode()
    return "image:" + _digest(head + pixels.tobytes())


def image_file_key(path: Path) -> str:
    """The key of an image file: its decoded pixels (:func:`pixels_key`)."""
    try:
        from PIL import Image
    except ImportError:
        raise DataError("comparing images needs Pillow: pip install pillow") from None
    try:
        with Image.open(path) as image:
            return pixels_key(np.asarray(image))
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None


def audio_file_key(path: Path) -> str:
    """The key of an audio file (or a video's sound): its first channel as 16-bit samples."""
    from xmer.features.media import read_audio

    samples, rate = read_audio(path)
    pcm = np.round(np.clip(samples[:, 0], -1.0, 1.0) * 32767).astype("<i2")
    return "audio:" + _digest(str(rate).encode() + pcm.tobytes())


def visual_media_key(path: Path, span: object = None) -> str:
    """The key of visual media: an image by its pixels, a folder of frames by every frame's pixels,
    a video by its bytes (and the ``span`` of it used)."""
    if path.is_dir():
        frames = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not frames:
            raise DataError(f"{path}: a folder with no image frames")
        return "frames:" + _digest("".join(image_file_key(f) for f in frames).encode())
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return image_file_key(path)
    try:
        digest = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise DataError(f"{path}: unreadable ({error.strerror})") from None
    return f"video:{digest.hexdigest()}{span or ''}"


def features_key(array: np.ndarray, modality: str) -> str:
    """The key of stored features (feature-file sources, whose records name no media)."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    return f"{modality}-features:" + _digest(str(array.shape).encode() + array.tobytes())


def text_is_an_item(modalities: Sequence[str], composed: bool) -> bool:
    """A text is an item when it stands alone or beside independent media (a composed record); the
    words of a recording belong to that recording."""
    return composed or set(modalities) == {"text"}


def media_keys(
    modalities: Sequence[str],
    media: dict | None,
    *,
    root: Path | None = None,
    composed: bool = False,
    pixels: np.ndarray | None = None,
    spans: dict | None = None,
    features: Callable[[str], np.ndarray | None] | None = None,
    rules: KeyRules = KeyRules(),
) -> dict[str, str]:
    """Modality -> key of the items a sample is made of (modalities with no comparable item left out).

    Args:
        modalities: the sample's modalities.
        media: modality -> file path (absolute, or relative to ``root``), or the text for ``text``.
        composed: the modalities come from different items (a composite pair), so each is an item.
        pixels: the image itself when a source holds it in memory (FER2013's CSV rows).
        spans: modality -> the span of a longer file the sample uses.
        features: modality -> stored features, for a modality with no media (or None).

    Raises:
        DataError: a media file that is missing or cannot be decoded (it names the file).
    """
    media = media or {}
    keys: dict[str, str] = {}
    for m in modalities:
        value = media.get(m)
        if m == "text":
            if value is not None and text_is_an_item(modalities, composed):
                key = text_key(str(value), rules)
                if key:
                    keys[m] = key
            continue
        if m == "visual" and pixels is not None:
            keys[m] = pixels_key(pixels)
        elif value is not None:
            path = Path(value)
            path = path if path.is_absolute() or root is None else root / path
            keys[m] = audio_file_key(path) if m == "audio" else visual_media_key(path, (spans or {}).get(m))
        elif features is not None:
            array = features(m)
            if array is not None:
                keys[m] = features_key(array, m)
    return keys


def record_keys(record: dict, dataset, rules: KeyRules = KeyRules(), modalities: Iterable[str] | None = None) -> dict[str, str]:
    """:func:`media_keys` of a manifest record of a prepared dataset (``dataset.root``, ``dataset.store``)."""
    wanted = [m for m in record["modalities"] if modalities is None or m in modalities]

    def stored(m: str) -> np.ndarray | None:
        return dataset.store.get(record["id"], m) if dataset.store.has(record["id"], m) else None

    return media_keys(wanted, record.get("media"), root=Path(dataset.root), composed="parts" in record,
                      spans=record.get("media_span"), features=stored, rules=rules)


# ---------------------------------------------------------------------------------------------------
# Keys of many records, and what they share


@dataclass
class KeyedRecords:
    """The keys of a list of records: ``keys[i]`` for ``records[i]``; unreadable ones counted apart."""

    records: list[dict]
    keys: list[dict[str, str]]
    unreadable: list[str] = field(default_factory=list)
    """One line per record whose media could not be read (it names the file); those are not compared."""


def keyed(records: Sequence[dict], dataset, rules: KeyRules = KeyRules(), modalities: Iterable[str] | None = None) -> KeyedRecords:
    """The keys of ``records`` of ``dataset``; a record whose media cannot be read gets no key and a line
    in ``unreadable`` instead of stopping the caller (an audit or a training run)."""
    wanted = None if modalities is None else set(modalities)
    keys, unreadable = [], []
    for record in records:
        try:
            keys.append(record_keys(record, dataset, rules, wanted))
        except DataError as error:
            keys.append({})
            unreadable.append(f"{record['id']}: {error}")
    return KeyedRecords(list(records), keys, unreadable)


def shared_with(train: KeyedRecords, held_out: Iterable[str]) -> list[int]:
    """Positions of the ``train`` records that hold one of the ``held_out`` keys."""
    held_out = set(held_out)
    return [i for i, keys in enumerate(train.keys) if any(k in held_out for k in keys.values())]


def within_release(samples: Sequence, key_of: Callable[[object], dict[str, str]]) -> tuple[list, int]:
    """Training samples of one release that share an item with its valid or test samples are dropped:
    ``(kept samples, number dropped)``. ``key_of(sample)`` gives a sample's keys (:func:`media_keys`)."""
    keys = [key_of(s) for s in samples]
    held_out = {k for s, ks in zip(samples, keys) if s.split in EVALUATION_SPLITS for k in ks.values()}
    kept = [s for s, ks in zip(samples, keys) if s.split in EVALUATION_SPLITS or not any(k in held_out for k in ks.values())]
    return kept, len(samples) - len(kept)


SHARED_IN_RELEASE = "same item as a valid or test sample of the release (xmer audit)"
"""The reason under which ``xmer prepare`` counts the training samples it drops for sharing an item."""


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


# ---------------------------------------------------------------------------------------------------
# The audit


@dataclass
class Overlap:
    """Items shared by one pair of (dataset, split) groups."""

    first: str
    second: str
    count: int
    examples: list[dict]
    """Up to three: ``{"key", "first", "second"}`` with a record id (and its text, for texts) on each side."""

    @property
    def reaches_training(self) -> bool:
        splits = {self.first.rsplit("/", 1)[1], self.second.rsplit("/", 1)[1]}
        return "train" in splits and bool(splits & set(EVALUATION_SPLITS))

    def to_json(self) -> dict:
        return {"first": self.first, "second": self.second, "count": self.count,
                "evaluation_item_in_training": self.reaches_training, "examples": self.examples}


@dataclass
class Audit:
    """What ``xmer audit`` found: every pair of groups sharing items, the records per group, the
    records whose media could not be read, and the rules used."""

    groups: dict[str, int]
    overlaps: list[Overlap]
    unreadable: dict[str, list[str]]
    rules: KeyRules
    dropped: dict[str, int] = field(default_factory=dict)
    """For a training config: training records each source drops before training (they are not audited)."""

    @property
    def leaks(self) -> list[Overlap]:
        return [o for o in self.overlaps if o.reaches_training]

    def to_json(self) -> dict:
        return {
            "rules": {"min_words": self.rules.min_words, "near": self.rules.near},
            "groups": self.groups,
            "overlaps": [o.to_json() for o in self.overlaps],
            "evaluation_items_in_training": sum(o.count for o in self.leaks),
            "dropped_before_training": self.dropped,
            "unreadable": self.unreadable,
        }

    def format(self) -> str:
        lines = [f"{'dataset/split':48s} {'records':>8s}"] + [f"{g:48s} {n:8d}" for g, n in self.groups.items()]
        lines.append("")
        if not self.overlaps:
            lines.append("no shared items")
        else:
            lines.append(f"{'shared between':48s} {'and':48s} {'items':>6s}")
            for o in self.overlaps:
                mark = "  <- evaluation item in training" if o.reaches_training else ""
                lines.append(f"{o.first:48s} {o.second:48s} {o.count:6d}{mark}")
                for e in o.examples:
                    lines.append(f"    {e['first']}  =  {e['second']}")
        for source, n in self.dropped.items():
            lines.append(f"dropped before training: {n} training record(s) of {source}")
        for group, problems in self.unreadable.items():
            lines.append(f"not compared: {len(problems)} record(s) of {group} whose media could not be read (first: {problems[0]})")
        leaks = sum(o.count for o in self.leaks)
        lines.append(f"evaluation items in training: {leaks}" + (" (exit 1)" if leaks else ""))
        return "\n".join(lines)


def audit(groups: dict[str, tuple[object, Sequence[dict]]], rules: KeyRules = KeyRules()) -> Audit:
    """Items shared between any two groups of records.

    Args:
        groups: a name (``"DATASET/SPLIT"``) -> (its prepared dataset, its records).
        rules: how texts are compared.
    """
    held: dict[str, dict[str, list[dict]]] = {}  # key -> group -> records holding it
    unreadable: dict[str, list[str]] = {}
    for name, (dataset, records) in groups.items():
        found = keyed(records, dataset, rules)
        if found.unreadable:
            unreadable[name] = found.unreadable
        for record, keys in zip(found.records, found.keys):
            for key in set(keys.values()):
                held.setdefault(key, {}).setdefault(name, []).append(record)
    names = list(groups)
    pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, by_group in held.items():
        present = sorted(by_group, key=names.index)
        for i, a in enumerate(present):
            for b in present[i + 1:]:
                pairs[a, b].append(key)
    overlaps = []
    for (a, b), keys in pairs.items():
        examples = [{"key": k, "first": _describe(held[k][a][0], k), "second": _describe(held[k][b][0], k)} for k in sorted(keys)[:3]]
        overlaps.append(Overlap(a, b, len(keys), examples))
    overlaps.sort(key=lambda o: (not o.reaches_training, names.index(o.first), names.index(o.second)))
    return Audit({n: len(r) for n, (_, r) in groups.items()}, overlaps, unreadable, rules)


def _describe(record: dict, key: str) -> str:
    text = (record.get("media") or {}).get("text") if key.startswith("text:") else None
    return f"{record['id']} {text!r}" if text else record["id"]


def split_groups(datasets: Sequence[object]) -> dict[str, tuple[object, list[dict]]]:
    """``"DATASET/SPLIT"`` -> (dataset, records) for every split of every dataset (folder names; the
    parent folder is added where two datasets share a name)."""
    names = [Path(d.root).name for d in datasets]
    repeated = {n for n, c in Counter(names).items() if c > 1}
    groups = {}
    for dataset, name in zip(datasets, names):
        label = f"{Path(dataset.root).parent.name}/{name}" if name in repeated else name
        for split in ("train", *EVALUATION_SPLITS):
            records = [r for r in dataset.records if r["split"] == split]
            if records:
                groups[f"{label}/{split}"] = (dataset, records)
    return groups
