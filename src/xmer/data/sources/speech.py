"""Speech corpora that carry the words spoken: nEMO (acted Polish sentences with transcripts) and the
Indian EmoSpeech Command Dataset (spoken keywords in everyday places).

Each sample's audio points at the raw file (absolute path; features come from ``xmer extract``,
which reads ``.wav``, ``.flac`` and Ogg Opus alike), and its text is the words spoken, as a user's
recording would carry them once transcribed.

- ``nemo``: nEMO (Christop, LREC-COLING 2024), acted Polish speech, 9 actors, 6 emotions. ``--raw``
  is the release folder holding ``data.tsv`` (or one above it); the audio of row ``file_id``
  (``{speaker}_{emotion}_{sentence}.wav``) is the file of the same stem, ``.wav``, ``.flac``,
  ``.opus`` or ``.ogg``, in ``samples/`` (the release) or ``audio/`` (a re-encoded copy). Columns
  ``file_id, emotion, raw_text, normalized_text, speaker_id, gender, age``; speaker ids carry
  padding spaces (stripped). Text is ``raw_text``; the manifest also keeps ``normalized_text``
  (lower case, no punctuation: what a speech recogniser writes), the sentence number and the
  speaker's gender. Each of the 90 sentences is spoken in all six emotions, so the words alone say
  nothing of the label (as in real speech whose words are neutral). Checked counts: 4,481 clips,
  per emotion anger 749, fear 736, happiness 749, sadness 769, surprised 669, neutral 809, 9
  speakers. Split by speaker with a fixed table (``NEMO.VALID``, ``NEMO.TEST``, the rest train):
  the release has no split, and with 9 speakers one speaker each for valid and test keeps seven
  for training. Valid and test are two of the three speakers with every sentence in every emotion
  (540 clips, 90 per class), one woman and one man: IC0 (female) valid, KS0 (male) test, the first
  of each gender in id order. Train: EB0, KD0, MK0 (female), MP0, SM0, TP0, WR0 (male); MK0 (no
  surprised clips) and MP0 (256 clips, unevenly spread) stay in train so that valid and test hold
  every class evenly. Default label space ``ekman7`` (anger -> angry, fear -> fear, happiness ->
  happy, sadness -> sad, surprised -> surprise, neutral -> neutral: nothing drops); native
  ``nemo6``; with ``iemocap4``, fear and surprised drop.
- ``emospeech``: Indian EmoSpeech Command Dataset v0.1 (Banga et al. 2019): short commands by app
  users in noisy everyday places. ``--raw`` is the folder holding the place folders (``House/``,
  ``webservice/``, ...), directly or under ``audio/``; files ``.wav`` (the release), ``.flac``,
  ``.opus`` or ``.ogg``, named ``keyword-environment-emotion-timestamp-userhash``. The user hash is
  the speaker, except ``d14a028c…`` (``UNKNOWN_USER``), which the release uses for clips of unknown
  users, many people: those clips get no speaker. Text is the keyword, the word the user said
  (``help``, ``bacho``, ``stop``, ``no``, ``go``, ``yes``); clips of ``unknown`` (a word not in the
  list) and ``background`` (no keyword spoken) have audio only. Emotions calm, fearful, angry, happy;
  clips labelled ``None`` have no emotion and are dropped and counted. Checked counts are those of
  the 2,400-clip subset in ``../shared/data`` (600 per emotion, 108 user hashes, 559 clips of the
  unknown user); the full release differs, so prepare it with ``--allow-partial``, which reports
  the difference. Split by user: the known users' sorted hashes permuted by
  ``numpy.random.default_rng(0)`` and cut 70/15/15 % (``seeded_split``); every unknown-user clip
  goes to train, since those clips cannot be grouped by person and would put the same people on
  both sides of an evaluation. Default label space ``emospeech4`` (native); with ``ekman7``, calm
  is dropped, as RAVDESS's calm is (angry -> angry, fearful -> fear, happy -> happy): calm is not
  the neutral of the other corpora, and a label is never guessed. To keep calm as neutral, declare
  a label space of your own with ``aliases: {neutral: ["emospeech4:calm"]}``. With ``iemocap4``
  only angry and happy remain.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

from xmer.data.labels import LABEL_SPACES
from xmer.data.sources.base import RawSample, Scan, Source, check_media, first_usable_clip, open_text, seeded_split
from xmer.errors import DataError

AUDIO_SUFFIXES = (".wav", ".flac", ".opus", ".ogg")
"""The audio files these sources take: the releases' WAV, and lossless or Opus re-encodings."""


class NEMO(Source):
    name = "nemo"
    title = "nEMO (acted emotional speech in Polish, with transcripts)"
    modalities = ("audio", "text")
    native_space = "nemo6"
    default_space = "ekman7"
    url = "https://huggingface.co/datasets/amu-cai/nEMO (paper: https://aclanthology.org/2024.lrec-main.1059)"
    raw_help = "the nEMO folder holding data.tsv and samples/ (or audio/), or one above it"
    VALID = ("IC0",)
    TEST = ("KS0",)
    TRAIN = ("EB0", "KD0", "MK0", "MP0", "SM0", "TP0", "WR0")
    split_note = (f"by speaker, a fixed table: valid {', '.join(VALID)} (female); test {', '.join(TEST)} (male); "
                  "the other seven speakers train")
    COLUMNS = ("file_id", "emotion", "raw_text", "normalized_text", "speaker_id", "gender", "age")
    AUDIO_FOLDERS = ("samples", "audio")
    EXPECTED = {"clips": 4481, "speakers": 9,
                "per class": {"anger": 749, "fear": 736, "happiness": 749, "sadness": 769, "surprised": 669, "neutral": 809}}

    def split_of(self, speaker: str) -> str:
        return "valid" if speaker in self.VALID else "test" if speaker in self.TEST else "train"

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        root = next((p for p in (raw, *sorted(q for q in raw.iterdir() if q.is_dir())) if (p / "data.tsv").is_file()), None)
        if root is None:
            raise DataError(f"nEMO: no data.tsv in {raw} or the folders below it (expected {self.raw_help})")
        folder, audio = self._audio_files(root)
        labels = set(LABEL_SPACES[self.native_space].labels)
        seen: set[str] = set()
        speakers: Counter = Counter()
        with open_text(root / "data.tsv") as f:
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != self.COLUMNS:
                raise DataError(f"{root / 'data.tsv'}: expected the header {chr(9).join(self.COLUMNS)} (tab-separated), got {header}")
            for line, row in enumerate(reader, 2):
                where = f"{root / 'data.tsv'}, line {line}"
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(self.COLUMNS):
                    scan.problem("malformed row", f"{where}: expected {len(self.COLUMNS)} tab-separated fields, found {len(row)}")
                    continue
                file_id, emotion, raw_text, normalized, speaker, gender = (cell.strip() for cell in row[:6])
                stem = Path(file_id).stem
                parts = stem.split("_")
                if emotion not in labels:
                    scan.problem("unknown label", f"{where}: emotion {emotion!r} is not one of nEMO's ({', '.join(sorted(labels))})")
                    continue
                if len(parts) != 3 or parts[0] != speaker or parts[1] != emotion or not parts[2].isdigit():
                    scan.problem("malformed row", f"{where}: file_id {file_id!r} is not {{speaker_id}}_{{emotion}}_{{sentence}}.wav "
                                                  f"of its row ({speaker}, {emotion})")
                    continue
                if stem in seen:
                    scan.problem("duplicate row", f"{where}: file_id {file_id!r} occurs twice")
                    continue
                if not raw_text:
                    scan.problem("malformed row", f"{where}: no raw_text for {file_id}")
                    continue
                path = audio.get(stem)
                if path is None:
                    scan.problem("missing audio file", f"{where}: no audio file {stem}.wav|flac|opus|ogg in {folder}")
                    continue
                if not check_media(scan, path):
                    continue
                seen.add(stem)
                speakers[speaker] += 1
                scan.add(RawSample(
                    f"nemo-{stem}", self.split_of(speaker), emotion, ("audio", "text"), speaker=f"nemo-{speaker}",
                    media={"audio": str(path), "text": raw_text},
                    extra={"normalized_text": normalized, "sentence": parts[2], "gender": gender},
                ))
        found = Counter(s.labels for s in scan.samples)
        for emotion, n in self.EXPECTED["per class"].items():
            scan.expect(f"{emotion} clips", n, found[emotion])
        scan.expect("clips", self.EXPECTED["clips"], len(scan.samples))
        scan.expect("speakers", self.EXPECTED["speakers"], len(speakers))
        unlisted = len(audio) - len(seen)
        if unlisted > 0:
            scan.notes.append(f"{unlisted} audio file(s) in {folder} not in data.tsv, ignored")
        unknown = sorted(set(speakers) - {*self.TRAIN, *self.VALID, *self.TEST})
        if unknown:
            scan.notes.append(f"speaker(s) not in the split table, put in train: {', '.join(unknown)}")

    def _audio_files(self, root: Path) -> tuple[Path, dict[str, Path]]:
        """The audio folder, ``samples/`` or ``audio/`` (the first that holds audio), and its clip stem -> file."""
        for name in self.AUDIO_FOLDERS:
            folder = root / name
            if folder.is_dir():
                files = {p.stem: p for p in sorted(folder.iterdir())
                         if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_SUFFIXES}
                if files:
                    return folder, files
        raise DataError(f"nEMO: no audio files ({', '.join(AUDIO_SUFFIXES)}) in {' or '.join(str(root / d) for d in self.AUDIO_FOLDERS)}")


class EmoSpeech(Source):
    name = "emospeech"
    title = "Indian EmoSpeech Command Dataset (spoken keywords by app users in everyday places, four emotions)"
    modalities = ("audio", "text")
    native_space = "emospeech4"
    default_space = "emospeech4"
    url = "https://github.com/RakshakTeam/emospeech-dataset-v1 (paper: arXiv:1910.13801)"
    raw_help = "the folder holding the place folders (House/, webservice/, ...), directly or under audio/"
    split_note = ("by user: known users' sorted hashes permuted by numpy.random.default_rng(0), cut 70/15/15 %; "
                  "every clip of the unknown user (many people) in train")
    UNKNOWN_USER = "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"
    NAME = re.compile(r"^([^-]+)-([^-]+)-([^-]+)-([^-]+)-([0-9a-f]{56})$")
    KEYWORDS = ("help", "bacho", "stop", "no", "go", "yes", "unknown", "background")
    NO_WORDS = ("unknown", "background")
    """Keywords that are not the words spoken: a word not in the list, or no keyword at all."""
    EMOTIONS = {"calm": "calm", "fearful": "fearful", "angry": "angry", "happy": "happy"}
    EXPECTED = {"clips": 2400, "per class": 600, "users": 108, "unknown-user clips": 559}

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        base = raw / "audio" if (raw / "audio").is_dir() else raw
        paths = sorted(p for folder in base.iterdir() if folder.is_dir() and not folder.name.startswith(".")
                       for p in folder.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_SUFFIXES)
        if not paths:
            raise DataError(f"EmoSpeech: no audio files ({', '.join(AUDIO_SUFFIXES)}) in the folders of {base} (expected {self.raw_help})")
        entries, seen = [], {}
        for path in paths:
            match = self.NAME.match(path.stem)
            keyword = match.group(1).lower() if match else None
            if not match or keyword not in self.KEYWORDS:
                scan.problem("unexpected file name", f"{path}: not an EmoSpeech name keyword-environment-emotion-timestamp-userhash "
                                                     f"(keyword one of {', '.join(self.KEYWORDS)})")
                continue
            environment, emotion, user = match.group(2), match.group(3).lower(), match.group(5)
            if emotion == "none":
                scan.dropped["no emotion labelled (None)"] += 1
                continue
            if emotion not in self.EMOTIONS:
                scan.problem("unknown label", f"{path}: emotion {match.group(3)!r} is not one of {', '.join(self.EMOTIONS)}")
                continue
            if not first_usable_clip(scan, seen, path):
                continue
            entries.append((path, keyword, environment, self.EMOTIONS[emotion], user))
        users = {e[4] for e in entries}
        known = sorted(users - {self.UNKNOWN_USER})
        assign = seeded_split(known, {"train": 0.7, "valid": 0.15, "test": 0.15}, 0) | {self.UNKNOWN_USER: "train"}
        for path, keyword, environment, emotion, user in entries:
            media = {"audio": str(path)}
            if keyword not in self.NO_WORDS:
                media["text"] = keyword
            scan.add(RawSample(
                f"emospeech-{path.stem.replace(' ', '_')}", assign[user], emotion, tuple(media),
                speaker=None if user == self.UNKNOWN_USER else f"emospeech-{user}", media=media,
                extra={"keyword": keyword, "environment": environment, "place": path.parent.name},
            ))
        found = Counter(e[3] for e in entries)
        for emotion in self.EMOTIONS:
            scan.expect(f"{emotion} clips", self.EXPECTED["per class"], found[emotion])
        scan.expect("clips", self.EXPECTED["clips"], len(entries))
        scan.expect("users", self.EXPECTED["users"], len(users))
        scan.expect("unknown-user clips", self.EXPECTED["unknown-user clips"], sum(e[4] == self.UNKNOWN_USER for e in entries))
