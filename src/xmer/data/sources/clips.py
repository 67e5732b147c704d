"""Clip sources whose file or folder names carry the label: RAVDESS, TESS, EMO-DB, AFEW (acted), URDU.

Each sample's media point at the raw files (absolute paths); features come from ``xmer extract``.
The fixed sentences these corpora are spoken from carry no emotion, so no text modality is made.

- ``ravdess``: ``--raw`` is the folder holding ``Actor_NN`` folders, or one above it (e.g. holding
  ``Audio_Speech_Actors_01-24/`` and ``Video_Speech_Actor_NN/``). Names ``MM-VV-EE-II-SS-RR-AA``
  (modality 01 audio-visual / 02 video-only / 03 audio-only; vocal channel 01 speech / 02 song;
  emotion; intensity; statement; repetition; actor); ``.wav``, ``.flac`` or ``.mp4``. The files of
  one recording (same VV-EE-II-SS-RR-AA) make one sample: audio from the audio-only file (else the
  audio-visual one), visual from the audio-visual file (else the video-only one). Checked counts:
  speech 1440 per modality code over 24 actors, song 1012 over 23 actors. Splits by actor: 01-16
  train, 17-20 valid, 21-24 test (two male, two female actors in each of valid and test). Default
  label space ``ravdess8``; with ``ekman7``, calm is dropped.
- ``tess``: ``--raw`` is the folder holding the WAVs at any depth (the common layout
  ``TESS Toronto emotional speech set data/OAF_angry/OAF_back_angry.wav``). Names
  ``{OAF|YAF}_{word}_{emotion}.wav``; 2800 files. TESS has only two speakers, so splits are
  *word*-disjoint, not speaker-independent: the 200 sorted words permuted by
  ``numpy.random.default_rng(0)`` and cut 80/10/10 %. A second copy of the same file name (some
  downloads nest the folder twice) is skipped and counted. Default label space ``ekman7``
  (pleasant surprise -> surprise).
- ``emodb``: ``--raw`` is the release folder with ``wav/`` (or ``wav/`` itself). Names
  ``{speaker}{text}{emotion}{version}.wav`` (``03a01Fa.wav``), 535 files, 10 speakers. Splits by
  speaker: 12 and 13 valid, 15 and 16 test (one male, one female each), the other six train.
  Default label space ``emodb7``; with ``ekman7``, boredom is dropped.
- ``afew``: ``--raw`` holds the split folders (``Train_AFEW``/``Train`` and ``Val_AFEW``/``Val``)
  with one folder of ``.avi`` clips per emotion. The test clips have no public labels (ignored), so
  Val (383) is the test split and 10 % of Train (773) is held out as valid (sorted clip names
  permuted by ``numpy.random.default_rng(0)``; AFEW has no speaker ids, so this split is not
  speaker-independent). Default label space ``ekman7``.
- ``urdu``: ``--raw`` is the folder with ``Angry/``, ``Happy/``, ``Neutral/``, ``Sad/`` (the
  release's top level), or one above it. Natural, unacted Urdu speech cut from TV talk shows;
  names ``S{M|F}{n}_F{xx}_{A|H|N|S}{yy}.wav|flac``, the first field the speaker. Checked counts:
  400 files, 100 per class, 29 speakers. Split by speaker with a fixed table
  (``URDU.VALID``, ``URDU.TEST``, the rest train), chosen by hand because speaker and class are
  confounded (most speakers have one class only; SM5 alone has 72 of the 100 neutral clips): every
  class is in every split, about 67/15/18 % of the clips (268/60/72), each speaker in one split
  only. Default label space ``ekman7`` (its four classes are those of ``iemocap4``; nothing drops).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from xmer.data.labels import LABEL_SPACES
from xmer.data.sources.base import RawSample, Scan, Source, check_media, first_usable_clip, seeded_split, visible_files
from xmer.errors import DataError


class RAVDESS(Source):
    name = "ravdess"
    title = "RAVDESS (Ryerson audio-visual database of emotional speech and song)"
    modalities = ("visual", "audio")
    native_space = "ravdess8"
    default_space = "ravdess8"
    url = "https://zenodo.org/record/1188976"
    raw_help = "the folder with the Actor_NN folders, or one above it"
    split_note = "by actor: 01-16 train, 17-20 valid, 21-24 test"
    NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.(wav|flac|mp4)$")
    EMOTIONS = dict(zip(["01", "02", "03", "04", "05", "06", "07", "08"], LABEL_SPACES["ravdess8"].labels))
    CHANNELS = {"01": "speech", "02": "song"}
    KINDS = {"01": "audio-visual", "02": "video-only", "03": "audio-only"}
    EXPECTED_FILES = {"speech": 1440, "song": 1012}
    EXPECTED_ACTORS = {"speech": 24, "song": 23}

    @staticmethod
    def split_of(actor: int) -> str:
        return "train" if actor <= 16 else "valid" if actor <= 20 else "test"

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        actor_dirs = sorted(
            {p for pattern in ("Actor_[0-9][0-9]", "*/Actor_[0-9][0-9]") for p in raw.glob(pattern) if p.is_dir()}
        )
        if raw.name.startswith("Actor_") and raw.is_dir():
            actor_dirs = [raw]
        if not actor_dirs:
            raise DataError(f"RAVDESS: no Actor_NN folders in {raw} or the folders below it")
        recordings: dict[tuple, dict[str, Path]] = {}
        kinds: Counter = Counter()
        actors: dict[str, set] = {"speech": set(), "song": set()}
        for folder in actor_dirs:
            for path in visible_files(folder):
                fields = self._parse(path, folder, scan)
                if fields is None or not check_media(scan, path):
                    continue
                kind, key = fields[0], fields[1:]
                entry = recordings.setdefault(key, {})
                if kind in entry:
                    message = f"{path}: a second {self.KINDS[kind]} file of recording {'-'.join(key)} (first: {entry[kind]})"
                    scan.problem("duplicate file", message)
                    continue
                entry[kind] = path
                channel = self.CHANNELS[key[0]]
                kinds[(channel, kind)] += 1
                actors[channel].add(key[-1])
        for (channel, kind), n in sorted(kinds.items()):
            scan.expect(f"{channel} {self.KINDS[kind]} files", self.EXPECTED_FILES[channel], n)
        for channel, found in actors.items():
            if found:
                scan.expect(f"{channel} actors", self.EXPECTED_ACTORS[channel], len(found))
        for key in sorted(recordings):
            files = recordings[key]
            channel, emotion, intensity, statement, repetition, actor = key
            media = {}
            if "03" in files or "01" in files:
                media["audio"] = str(files.get("03", files.get("01")))
            if "01" in files or "02" in files:
                media["visual"] = str(files.get("01", files.get("02")))
            scan.add(
                RawSample(
                    f"ravdess-{'-'.join(key)}", self.split_of(int(actor)), self.EMOTIONS[emotion], tuple(media),
                    speaker=f"ravdess-actor{actor}", media=media,
                    extra={"channel": self.CHANNELS[channel], "intensity": "strong" if intensity == "02" else "normal"},
                )
            )

    def _parse(self, path: Path, folder: Path, scan: Scan) -> tuple | None:
        match = self.NAME.match(path.name)
        bad = None
        if not match:
            bad = "not a RAVDESS name MM-VV-EE-II-SS-RR-AA.wav|flac|mp4"
        else:
            kind, channel, emotion, intensity, statement, repetition, actor, ext = match.groups()
            if kind not in self.KINDS or channel not in self.CHANNELS or emotion not in self.EMOTIONS:
                bad = "modality, vocal channel or emotion code out of range"
            elif intensity not in ("01", "02") or statement not in ("01", "02") or repetition not in ("01", "02"):
                bad = "intensity, statement or repetition code out of range"
            elif emotion == "01" and intensity == "02":
                bad = "neutral has no strong intensity in RAVDESS"
            elif channel == "02" and emotion in ("07", "08"):
                bad = "song has no disgust or surprised clips in RAVDESS"
            elif folder.name.startswith("Actor_") and folder.name != f"Actor_{actor}":
                bad = f"actor {actor} in the name, but the file is in {folder.name}"
            elif (kind == "03") != (ext in ("wav", "flac")):
                bad = "audio-only files are .wav/.flac, video files .mp4"
        if bad:
            scan.problem("unexpected file name", f"{path}: {bad}")
            return None
        return kind, channel, emotion, intensity, statement, repetition, actor


class TESS(Source):
    name = "tess"
    title = "TESS (Toronto emotional speech set: 200 words x 7 emotions x 2 speakers)"
    modalities = ("audio",)
    native_space = "tess7"
    default_space = "ekman7"
    url = "University of Toronto TSpace / Borealis dataverse (\"Toronto emotional speech set\"); also on Kaggle"
    raw_help = "the folder holding the TESS WAV files at any depth"
    split_note = "word-disjoint (two speakers only): 200 sorted words permuted by numpy.random.default_rng(0), cut 80/10/10 %"
    NAME = re.compile(r"^(OAF|YAF)_([A-Za-z]+)_([A-Za-z]+)\.wav$", re.IGNORECASE)
    EMOTIONS = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
                "ps": "pleasant_surprise", "sad": "sad"}
    EXPECTED = {"files": 2800, "speakers": 2, "words": 200}
    QUIRKS = {"OA_bite_neutral.wav": "OAF_bite_neutral.wav"}
    """Names in the release as distributed that differ from its naming scheme -> what they are."""

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        paths = sorted(p for p in raw.rglob("*") if p.is_file() and not p.name.startswith(".") and p.suffix.lower() == ".wav")
        if not paths:
            raise DataError(f"TESS: no .wav files under {raw}")
        entries, seen = [], {}
        for path in paths:
            name = self.QUIRKS.get(path.name, path.name)
            if name != path.name:
                scan.quirk(f"{path.name} is {name} (speaker prefix cut short in the release)")
            match = self.NAME.match(name)
            if not match or match.group(3).lower() not in self.EMOTIONS:
                scan.problem("unexpected file name", f"{path}: not a TESS name {{OAF|YAF}}_{{word}}_{{{'|'.join(self.EMOTIONS)}}}.wav")
                continue
            speaker, word, emotion = match.group(1).upper(), match.group(2).lower(), match.group(3).lower()
            key = (speaker, word, emotion)
            if key in seen:
                scan.dropped["duplicate copy of a file"] += 1
                continue
            if not check_media(scan, path):
                continue
            seen[key] = path
            entries.append((speaker, word, emotion, path))
        scan.expect("files", self.EXPECTED["files"], len(entries))
        scan.expect("speakers", self.EXPECTED["speakers"], len({e[0] for e in entries}))
        scan.expect("words", self.EXPECTED["words"], len({e[1] for e in entries}))
        assign = seeded_split({e[1] for e in entries}, {"train": 0.8, "valid": 0.1, "test": 0.1}, 0)
        for speaker, word, emotion, path in entries:
            scan.add(
                RawSample(f"tess-{speaker}_{word}_{emotion}", assign[word], self.EMOTIONS[emotion], ("audio",),
                          speaker=f"tess-{speaker}", media={"audio": str(path)})
            )


class EMODB(Source):
    name = "emodb"
    title = "EMO-DB (Berlin database of emotional speech, German)"
    modalities = ("audio",)
    native_space = "emodb7"
    default_space = "emodb7"
    url = "http://emodb.bilderbar.info/download/ (download.zip)"
    raw_help = "the EMO-DB folder holding wav/ (or wav/ itself)"
    split_note = "by speaker: 12, 13 valid; 15, 16 test; 03, 08, 09, 10, 11, 14 train"
    NAME = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])\.wav$")
    EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"}
    SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")
    SPLITS = {"12": "valid", "13": "valid", "15": "test", "16": "test"}
    EXPECTED = {"files": 535, "speakers": 10}

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        folder = raw / "wav" if (raw / "wav").is_dir() else raw
        if not any(p.suffix.lower() == ".wav" for p in folder.iterdir()):
            raise DataError(f"EMO-DB: no .wav files in {folder} (expected the release's wav/ folder)")
        speakers = set()
        for path in visible_files(folder):
            match = self.NAME.match(path.name)
            if not match or match.group(1) not in self.SPEAKERS:
                if path.suffix.lower() == ".wav":
                    scan.problem(
                        "unexpected file name",
                        f"{path}: not an EMO-DB name like 03a01Fa.wav (speaker, text, emotion {''.join(self.EMOTIONS)}, version)",
                    )
                continue
            if not check_media(scan, path):
                continue
            speaker, emotion = match.group(1), match.group(3)
            speakers.add(speaker)
            scan.add(
                RawSample(f"emodb-{path.stem}", self.SPLITS.get(speaker, "train"), self.EMOTIONS[emotion], ("audio",),
                          speaker=f"emodb-{speaker}", media={"audio": str(path)})
            )
        scan.expect("files", self.EXPECTED["files"], len(scan.samples))
        scan.expect("speakers", self.EXPECTED["speakers"], len(speakers))


class AFEW(Source):
    name = "afew"
    title = "AFEW (Acted Facial Expressions in the Wild, EmotiW clips from movies)"
    modalities = ("visual", "audio")
    native_space = "ekman7"
    default_space = "ekman7"
    url = "https://sites.google.com/site/emotiwchallenge/ (by request from the EmotiW organisers)"
    raw_help = "the folder with Train_AFEW/ and Val_AFEW/ (or Train/ and Val/), each with one folder per emotion"
    split_note = "Val -> test (test labels are not public); Train -> train + valid (10 % of clips, numpy.random.default_rng(0))"
    FOLDERS = {"train": ("Train_AFEW", "Train", "train"), "val": ("Val_AFEW", "Val", "val", "Valid", "Validation")}
    EMOTIONS = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
    EXPECTED = {"train": 773, "val": 383}

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        parts = {}
        for part, names in self.FOLDERS.items():
            found = [raw / n for n in names if (raw / n).is_dir()]
            if not found:
                raise DataError(f"AFEW: no {part} folder in {raw} (expected one of {', '.join(names)})")
            parts[part] = found[0]
        clips: dict[str, list[tuple[str, Path]]] = {}
        for part, folder in parts.items():
            clips[part] = []
            others = [p.name for p in folder.iterdir() if p.is_dir() and p.name.capitalize() not in self.EMOTIONS]
            if others:
                scan.notes.append(f"{folder}: ignored folder(s) {', '.join(sorted(others))}")
            for emotion in self.EMOTIONS:
                sub = next((p for p in (folder / emotion, folder / emotion.lower()) if p.is_dir()), None)
                if sub is None:
                    scan.problem("missing folder", f"AFEW: {folder / emotion} is missing")
                    continue
                for path in visible_files(sub):
                    if path.suffix.lower() != ".avi":
                        scan.problem("unexpected file name", f"{path}: AFEW clips are .avi files")
                    elif check_media(scan, path):
                        clips[part].append((emotion.lower(), path))
            scan.expect(f"{folder.name} clips", self.EXPECTED[part], len(clips[part]))
        assign = seeded_split([p.stem for _, p in clips["train"]], {"train": 0.9, "valid": 0.1}, 0)
        for part, entries in clips.items():
            stems = Counter(p.stem for _, p in entries)
            for emotion, path in entries:
                if stems[path.stem] > 1:
                    scan.problem("duplicate file", f"{path}: clip name {path.stem} occurs in more than one emotion folder of {parts[part]}")
                    continue
                split = assign[path.stem] if part == "train" else "test"
                scan.add(RawSample(f"afew-{part}-{path.stem}", split, emotion, ("visual", "audio"),
                                   media={"visual": str(path), "audio": str(path)}))


class URDU(Source):
    name = "urdu"
    title = "URDU (natural Urdu speech from TV talk shows, four emotions)"
    modalities = ("audio",)
    native_space = "iemocap4"
    default_space = "ekman7"
    url = "https://github.com/siddiquelatif/URDU-Dataset"
    raw_help = "the folder with Angry/, Happy/, Neutral/, Sad/ (or one above it)"
    NAME = re.compile(r"^(S[MF]\d+)_F\d+_([AHNS])\d+\.(wav|flac)$")
    FOLDERS = {"Angry": "angry", "Happy": "happy", "Neutral": "neutral", "Sad": "sad"}
    VALID = ("SF2", "SF6", "SF10", "SM1", "SM18", "SM20", "SM23", "SM26")
    TEST = ("SF3", "SF7", "SF8", "SF9", "SF11", "SM2", "SM6", "SM19", "SM21", "SM22", "SM27")
    TRAIN = ("SF1", "SF4", "SF5", "SM3", "SM4", "SM5", "SM7", "SM17", "SM24", "SM25")
    split_note = f"by speaker, a fixed table: valid {', '.join(VALID)}; test {', '.join(TEST)}; the other speakers train"
    EXPECTED = {"files": 400, "per class": 100, "speakers": 29}

    def split_of(self, speaker: str) -> str:
        return "valid" if speaker in self.VALID else "test" if speaker in self.TEST else "train"

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        root = next((p for p in (raw, *sorted(raw.iterdir())) if p.is_dir() and (p / "Angry").is_dir()), None)
        if root is None:
            raise DataError(f"URDU: no Angry/ folder in {raw} or the folders below it (expected {self.raw_help})")
        seen: dict[str, Path] = {}
        for folder, label in self.FOLDERS.items():
            if not (root / folder).is_dir():
                scan.problem("missing folder", f"URDU: {root / folder} is missing")
                continue
            found = 0
            for path in visible_files(root / folder):
                match = self.NAME.match(path.name)
                if not match or match.group(2) != folder[0]:
                    scan.problem("unexpected file name", f"{path}: not a URDU name S{{M|F}}n_Fxx_{folder[0]}yy.wav|flac")
                    continue
                if not first_usable_clip(scan, seen, path):
                    continue
                found += 1
                speaker = match.group(1)
                scan.add(RawSample(f"urdu-{path.stem}", self.split_of(speaker), label, ("audio",),
                                   speaker=f"urdu-{speaker}", media={"audio": str(path)}))
            scan.expect(f"{folder} files", self.EXPECTED["per class"], found)
        scan.expect("files", self.EXPECTED["files"], len(scan.samples))
        speakers = {s.speaker for s in scan.samples}
        scan.expect("speakers", self.EXPECTED["speakers"], len(speakers))
        unknown = sorted(speakers - {f"urdu-{s}" for s in (*self.TRAIN, *self.VALID, *self.TEST)})
        if unknown:
            scan.notes.append(f"speaker(s) not in the split table, put in train: {', '.join(unknown)}")
