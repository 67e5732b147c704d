"""Text sources: GoEmotions, SemEval-2018 Task 1 E-c, and MELD (transcripts, plus its clips when present).

Each sample's ``media["text"]`` is the text itself; features come from ``xmer extract``.

- ``goemotions``: ``--raw`` is the folder with ``train.tsv``, ``dev.tsv``, ``test.tsv`` (and
  ``emotions.txt``, ``ekman_mapping.json``), as in the release's ``data/`` folder, or one above it.
  Rows ``text<TAB>label ids<TAB>comment id``; splits train/dev/test -> train/valid/test
  (43410/5426/5427). Default label space ``goemotions28`` (multi-label, nothing dropped); with
  ``ekman7`` the release's Ekman mapping is used, and a comment whose labels fall in several Ekman
  classes is dropped (counted). The release's ``emotions.txt`` and ``ekman_mapping.json`` are
  checked against xmer's tables.
- ``semeval2018-ec``: ``--raw`` is the folder with ``2018-E-c-En-{train,dev,test}.txt``. The test
  file has no gold labels (all ``NONE``), so: train is split reproducibly into train (90 %) and
  valid (10 %: a permutation of the sorted tweet ids by ``numpy.random.default_rng(2018)``), and dev
  (886) is the test split. If the gold test file ``2018-E-c-En-test-gold.txt`` is there, train stays
  whole, dev is valid and gold is test. Default label space ``semeval11`` (multi-label; a tweet with
  no emotion has an empty label list).
- ``meld``: ``--raw`` is the folder with ``{train,dev,test}_sent_emo.csv`` (the MELD.Raw layout with
  ``train/``, ``dev/``, ``test/`` subfolders works too). Official splits (9989/1109/2610). When the
  clip folders of MELD.Raw are present (``train_splits``, ``dev_splits_complete``,
  ``output_repeated_splits_test``), a row's clip ``dia{D}_utt{U}.mp4`` gives it visual and audio.
  Default label space ``ekman7`` (MELD's seven emotions map one to one).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from xmer.data.labels import GOEMOTIONS_EKMAN, LABEL_SPACES
from xmer.data.sources.base import RawSample, Scan, Source, find_file, open_text, seeded_split
from xmer.errors import DataError

csv.field_size_limit(1 << 24)


class GoEmotions(Source):
    name = "goemotions"
    title = "GoEmotions (Reddit comments, 27 emotions + neutral)"
    modalities = ("text",)
    native_space = "goemotions28"
    default_space = "goemotions28"
    url = "https://github.com/google-research/google-research/tree/master/goemotions (data/)"
    raw_help = "the folder with train.tsv, dev.tsv, test.tsv (the release's data/ folder) or one above it"
    split_note = "official: train / dev -> valid / test"
    EXPECTED = {"train": 43410, "dev": 5426, "test": 5427}

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        labels = LABEL_SPACES["goemotions28"].labels
        first = find_file(raw, ["train.tsv"], "GoEmotions train.tsv", depth=1)
        folder = first.parent
        self._check_release_tables(folder, labels, scan)
        for part, split in (("train", "train"), ("dev", "valid"), ("test", "test")):
            path = folder / f"{part}.tsv"
            if not path.is_file():
                raise DataError(f"GoEmotions file missing: {path} (expected train.tsv, dev.tsv, test.tsv in {folder})")
            found = 0
            with open_text(path) as f:
                for line_no, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
                    if len(row) != 3:
                        scan.problem("malformed row", f"{path}, line {line_no}: expected 3 tab-separated fields, found {len(row)}")
                        continue
                    text, ids, comment = row
                    try:
                        names = tuple(labels[int(i)] for i in ids.split(","))
                    except (ValueError, IndexError):
                        scan.problem("malformed row", f"{path}, line {line_no}: label ids {ids!r} are not integers 0..27")
                        continue
                    found += 1
                    scan.add(RawSample(f"goemotions-{comment}", split, names, ("text",), media={"text": text}))
            scan.expect(f"{part}.tsv rows", self.EXPECTED[part], found)

    @staticmethod
    def _check_release_tables(folder: Path, labels, scan: Scan) -> None:
        emotions = folder / "emotions.txt"
        if emotions.is_file():
            names = tuple(emotions.read_text().split())
            if names != labels:
                raise DataError(f"{emotions}: lists {len(names)} emotions that differ from GoEmotions' 28 ({', '.join(labels)})")
        else:
            scan.notes.append(f"{emotions} not found: used the release's label order built into xmer")
        mapping = folder / "ekman_mapping.json"
        if mapping.is_file():
            try:
                release = {k: sorted(v) for k, v in json.loads(mapping.read_text()).items()}
            except json.JSONDecodeError as error:
                raise DataError(f"{mapping}: not valid JSON ({error.msg})") from None
            if release != {k: sorted(v) for k, v in GOEMOTIONS_EKMAN.items()}:
                raise DataError(f"{mapping}: differs from the GoEmotions Ekman mapping xmer uses (xmer.data.labels.GOEMOTIONS_EKMAN)")
        else:
            scan.notes.append(f"{mapping} not found: used the release's Ekman mapping built into xmer")


class SemEval2018EC(Source):
    name = "semeval2018-ec"
    title = "SemEval-2018 Task 1 E-c (English tweets, 11 emotions)"
    modalities = ("text",)
    native_space = "semeval11"
    default_space = "semeval11"
    url = "https://competitions.codalab.org/competitions/17751 (SemEval-2018 Task 1 data, E-c English)"
    raw_help = "the folder with 2018-E-c-En-train.txt, 2018-E-c-En-dev.txt (and -test.txt)"
    EXPECTED = {"train": 6838, "dev": 886, "test-gold": 3259}
    SEED = 2018
    VALID_FRACTION = 0.1

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        train = find_file(raw, ["2018-E-c-En-train.txt"], "SemEval-2018 E-c train file", depth=2)
        folder = train.parent
        gold = folder / "2018-E-c-En-test-gold.txt"
        parts = {"train": self._read(train, scan), "dev": self._read(self._need(folder / "2018-E-c-En-dev.txt"), scan)}
        if gold.is_file():
            parts["test-gold"] = self._read(gold, scan)
            plan = {"train": "train", "dev": "valid", "test-gold": "test"}
            scan.split_note = "official: train / dev -> valid / test-gold -> test"
        else:
            plan = {"dev": "test"}
            ids = [tweet_id for tweet_id, _, _ in parts["train"]]
            assign = seeded_split(ids, {"train": 1 - self.VALID_FRACTION, "valid": self.VALID_FRACTION}, self.SEED)
            scan.split_note = (
                f"train -> train + valid ({self.VALID_FRACTION:.0%} of train, numpy.random.default_rng({self.SEED}) "
                "permutation of the sorted ids); dev -> test (the test file has no gold labels)"
            )
        for part, rows in parts.items():
            scan.expect(f"{part} tweets", self.EXPECTED[part], len(rows))
            for tweet_id, text, names in rows:
                split = plan[part] if part in plan else assign[tweet_id]
                scan.add(RawSample(f"semeval2018-ec-{tweet_id}", split, names, ("text",), media={"text": text}))

    @staticmethod
    def _need(path: Path) -> Path:
        if not path.is_file():
            raise DataError(f"SemEval-2018 E-c file missing: {path}")
        return path

    @staticmethod
    def _read(path: Path, scan: Scan) -> list[tuple[str, str, tuple[str, ...]]]:
        emotions = LABEL_SPACES["semeval11"].labels
        rows = []
        with open_text(path) as f:
            lines = f.read().split("\n")
        header = lines[0].rstrip("\r").split("\t")
        if header != ["ID", "Tweet", *emotions]:
            raise DataError(f"{path}: header {header} is not the E-c header ID, Tweet, {', '.join(emotions)}")
        for line_no, line in enumerate(lines[1:], 2):
            line = line.rstrip("\r")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != 2 + len(emotions) or any(v not in ("0", "1") for v in fields[2:]):
                if all(v == "NONE" for v in fields[2:]):
                    raise DataError(f"{path} has no gold labels (NONE); it cannot be a training or evaluation file")
                scan.problem("malformed row", f"{path}, line {line_no}: expected ID, tweet and 11 values 0/1")
                continue
            names = tuple(e for e, v in zip(emotions, fields[2:]) if v == "1")
            rows.append((fields[0], fields[1], names))
        return rows


class MELD(Source):
    name = "meld"
    title = "MELD (Friends dialogues: transcripts, and clips when present)"
    modalities = ("text", "visual", "audio")
    native_space = "meld7"
    default_space = "ekman7"
    url = "https://affective-meld.github.io/ (MELD.Raw.tar.gz; CSVs also in the GitHub repo data/MELD/)"
    raw_help = "the folder with train_sent_emo.csv, dev_sent_emo.csv, test_sent_emo.csv (or MELD.Raw with train/ dev/ test/)"
    split_note = "official: train / dev -> valid / test"
    EXPECTED = {"train": 9989, "dev": 1109, "test": 2610}
    CLIP_FOLDERS = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}
    COLUMNS = ("Utterance", "Speaker", "Emotion", "Dialogue_ID", "Utterance_ID")

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        emotions = set(LABEL_SPACES["meld7"].labels)
        for part, split in (("train", "train"), ("dev", "valid"), ("test", "test")):
            path = find_file(raw, [f"{part}_sent_emo.csv"], f"MELD {part} file", depth=2)
            clips = self._clip_folder(raw, part)
            rows, missing_clips = self._read(path), 0
            found = 0
            for line_no, row in rows:
                emotion = row["Emotion"].strip().lower()
                try:
                    dia, utt = int(row["Dialogue_ID"]), int(row["Utterance_ID"])
                except ValueError:
                    scan.problem("malformed row", f"{path}, record {line_no}: Dialogue_ID/Utterance_ID are not integers")
                    continue
                if emotion not in emotions:
                    message = f"{path}, record {line_no}: emotion {row['Emotion']!r} is not one of MELD's {sorted(emotions)}"
                    scan.problem("malformed row", message)
                    continue
                found += 1
                media, modalities = {"text": row["Utterance"]}, ("text",)
                if clips is not None:
                    clip = clips / f"dia{dia}_utt{utt}.mp4"
                    if clip.is_file():
                        media.update(visual=str(clip), audio=str(clip))
                        modalities = ("visual", "audio", "text")
                    else:
                        missing_clips += 1
                sample_id = f"meld-{part}-dia{dia}_utt{utt}"
                scan.add(RawSample(sample_id, split, emotion, modalities, speaker=row["Speaker"], media=media))
            scan.expect(f"{path.name} rows", self.EXPECTED[part], found)
            if missing_clips:
                scan.notes.append(f"{missing_clips} {part} rows have no clip in {clips}: kept with text only")
        ids = [s.id for s in scan.samples]
        if len(set(ids)) != len(ids):
            raise DataError(f"MELD at {raw}: duplicate (Dialogue_ID, Utterance_ID) pairs within a split")

    def _clip_folder(self, raw: Path, part: str) -> Path | None:
        name = self.CLIP_FOLDERS[part]
        for candidate in (raw / name, raw / part / name, *raw.glob(f"*/{part}/{name}")):
            if candidate.is_dir():
                return candidate
        return None

    def _read(self, path: Path) -> list[tuple[int, dict]]:
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                with open(path, encoding=encoding, newline="") as f:
                    reader = csv.DictReader(f)
                    missing = [c for c in self.COLUMNS if c not in (reader.fieldnames or [])]
                    if missing:
                        raise DataError(f"{path}: lacks column(s) {', '.join(missing)} (found {reader.fieldnames})")
                    return [(i, row) for i, row in enumerate(reader, 1)]
            except UnicodeDecodeError:
                continue
            except csv.Error as error:
                raise DataError(f"{path}: not a readable CSV ({error})") from None
        raise DataError(f"{path}: neither UTF-8 nor cp1252 text")
