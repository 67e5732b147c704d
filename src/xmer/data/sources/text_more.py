"""Text sources for the Ekman-7 auxiliary data: XED, EmoryNLP, DailyDialog (RECCON), ISEAR, WASSA-2017.

Each sample's ``media["text"]`` is the text itself; features come from ``xmer extract``. Where a
release has no official split, the split is made by a key that keeps copies of one text (or one
person's texts) together, from a permutation of the sorted keys by a fixed seed (``seeded_split``).

- ``xed``: ``--raw`` is the folder with ``en-annotated.tsv`` and ``neu_en.txt`` (the release's
  ``AnnotatedData/``) or up to two above it. ``en-annotated.tsv``: ``text<TAB>ids``, ids 1..8 =
  anger, anticipation, disgust, fear, joy, sadness, surprise, trust (17,528 lines);
  ``neu_en.txt``: ``9<TAB>text`` (9 = neutral; 9,675 lines, of which blank ones are dropped and
  counted). No official split: the distinct texts (lower-cased, spaces collapsed) permuted by
  ``numpy.random.default_rng(0)`` and cut 80/10/10 %, so a line repeated in the corpus is in one
  split only. Default label space ``xed9`` (multi-label, nothing dropped). With ``ekman7``, as for
  GoEmotions and SemEval: anticipation and trust are left out of a line's labels (a line with only
  those is dropped and counted), and a line whose other labels fall in several Ekman classes is
  dropped and counted.
- ``emorynlp``: ``--raw`` is ``emorynlp_utterances.tsv`` or its folder: the utterances of the
  release's JSON files flattened to ``scene_id, utt_idx, split, speaker_onehot_idx, label_id, label,
  text`` (9,489 rows, 827 scenes). The release's split (by scene) 7,551 / 954 / 984. Default label
  space ``emorynlp7``; with ``ekman7`` Joyful -> happy, Mad -> angry, Scared -> fear, Sad, Neutral;
  Peaceful and Powerful are dropped and counted.
- ``dailydialog``: ``--raw`` is the folder with ``dailydialog_{train,valid,test}.json`` (RECCON's
  DailyDialog dialogues, a list of ``{doc_id, clauses: [{clause, emotion_category, ...}]}``; one
  clause is one utterance), or one above it. The release's splits: 834 / 47 / 225 dialogues, 8,206 /
  493 / 2,405 utterances. Labels outside DailyDialog's seven are spellings, mapped and counted in
  the notes: ``happines``, ``happy`` -> happiness; ``sad`` -> sadness; ``surprised`` -> surprise;
  ``angry`` -> anger; and ``excited`` -> happiness (3 utterances): DailyDialog's scheme (Ekman's
  six + neutral) has no excitement, its annotators put excitement under happiness, and the
  GoEmotions Ekman mapping and the IEMOCAP 4-class protocol both take excitement as joy/happy.
  Default label space ``ekman7`` (the seven map one to one).
- ``isear``: ``--raw`` is ``isear.csv`` or its folder: ``|``-separated with a header, the
  situation in ``SIT``, the emotion in ``Field1`` (joy, fear, anger, sadness, disgust, shame, guilt,
  checked against the code in ``EMOT``), the respondent in ``ID``; 7,666 rows. ``SIT`` may hold
  ``|`` (the release's line breaks, each after an ``á``): the fields after ``SIT`` are counted from
  the end, the pieces joined with spaces, the ``á`` markers removed and the release's escaped
  quotes (``\\the same language\\"``) written as plain quotes. Rows whose text says that no
  situation was given ("[ No response.]", "Doesn't apply.", "[ Never felt the emotion.]"; see
  ``NO_SITUATION``) are dropped and counted. No official split: by respondent, the sorted IDs
  permuted by ``numpy.random.default_rng(0)`` and cut 80/10/10 %. Default label space ``isear7``;
  with ``ekman7`` shame and guilt are dropped and counted.
- ``wassa2017``: ``--raw`` is the folder with ``dev_data/`` and ``test_data/`` (each with
  ``{anger,fear,joy,sadness}-gold.txt``: ``id<TAB>tweet<TAB>emotion<TAB>intensity``), or one above
  it. The training split is not public here, so dev (347) is valid and the gold test file (3,142)
  is cut into train (80 %) and test (20 %) by a permutation of its sorted tweet ids by
  ``numpy.random.default_rng(2017)``. A tweet filed under two emotions (49 tweets, 98 rows) is
  ambiguous for a single-label set and dropped and counted. The intensity is kept in the manifest.
  The tweets are SemEval-2018's (3,402 of WASSA's 3,440 texts are in SemEval-2018 E-c): with the
  option ``dedupe_against`` (CLI ``--dedupe-against DIR``, the SemEval-2018 E-c folder) every
  tweet whose text (lower-cased, spaces collapsed) is in any SemEval-2018 E-c file is dropped and
  counted, so that the two can be mixed. Default label space ``ekman7``.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

from xmer.data.labels import LABEL_SPACES
from xmer.data.sources.base import RawSample, Scan, Source, find_file, open_text, seeded_split
from xmer.errors import DataError


def text_key(text: str) -> str:
    """A text as compared for duplicates: lower-cased, runs of white space as one space."""
    return " ".join(text.lower().split())


def _lines(path: Path) -> list[str]:
    """The lines of a text file, without line ends, without the empty piece after a final newline."""
    with open_text(path) as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


class XED(Source):
    name = "xed"
    title = "XED (English movie subtitles, Plutchik's eight emotions + neutral)"
    modalities = ("text",)
    native_space = "xed9"
    default_space = "xed9"
    url = "https://github.com/Helsinki-NLP/XED (AnnotatedData/)"
    raw_help = "the folder with en-annotated.tsv and neu_en.txt (the release's AnnotatedData/) or one above it"
    SEED = 0
    FRACTIONS = {"train": 0.8, "valid": 0.1, "test": 0.1}
    split_note = "no official split: distinct texts permuted by numpy.random.default_rng(0), cut 80/10/10 % (copies of a text share a split)"
    EXPECTED = {"en-annotated.tsv": 17528, "neu_en.txt": 9675}
    NEUTRAL_ID = "9"

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        emotions = dict(enumerate(LABEL_SPACES["xed9"].labels[:8], 1))
        annotated = find_file(raw, ["en-annotated.tsv"], "XED en-annotated.tsv", depth=2)
        neutral = annotated.parent / "neu_en.txt"
        if not neutral.is_file():
            raise DataError(f"XED file missing: {neutral} (expected beside {annotated.name})")
        rows: list[tuple[str, str, tuple[str, ...]]] = []
        lines = _lines(annotated)
        for line_no, line in enumerate(lines, 1):
            fields = line.split("\t")
            try:
                if len(fields) != 2:
                    raise ValueError
                names = tuple(dict.fromkeys(emotions[int(i)] for i in fields[1].split(",")))
            except (ValueError, KeyError):
                scan.problem("malformed row", f"{annotated}, line {line_no}: expected text<TAB>label ids 1..8, comma-separated")
                continue
            rows.append((f"xed-en-{line_no}", fields[0].strip(), names))
        scan.expect("en-annotated.tsv lines", self.EXPECTED["en-annotated.tsv"], len(lines))
        lines = _lines(neutral)
        for line_no, line in enumerate(lines, 1):
            fields = line.rstrip("\t").split("\t")  # a few lines end in stray tabs
            if fields == [""]:
                scan.dropped["blank line"] += 1
            elif len(fields) != 2 or fields[0] != self.NEUTRAL_ID or not fields[1].strip():
                scan.problem("malformed row", f"{neutral}, line {line_no}: expected {self.NEUTRAL_ID}<TAB>text")
            else:
                rows.append((f"xed-neu-{line_no}", fields[1].strip(), ("neutral",)))
        scan.expect("neu_en.txt lines", self.EXPECTED["neu_en.txt"], len(lines))
        assign = seeded_split((text_key(text) for _, text, _ in rows), self.FRACTIONS, self.SEED)
        for sample_id, text, names in rows:
            scan.add(RawSample(sample_id, assign[text_key(text)], names, ("text",), media={"text": text}))


class EmoryNLP(Source):
    name = "emorynlp"
    title = "EmoryNLP emotion detection (Friends transcripts, seven emotions of Willcox's wheel)"
    modalities = ("text",)
    native_space = "emorynlp7"
    default_space = "emorynlp7"
    url = "https://github.com/emorynlp/emotion-detection (its JSON files flattened to emorynlp_utterances.tsv)"
    raw_help = "emorynlp_utterances.tsv or the folder holding it"
    accepts_file = True
    split_note = "official: the release's train / valid / test (by scene)"
    EXPECTED = {"train": 7551, "valid": 954, "test": 984, "scenes": 827}
    COLUMNS = ["scene_id", "utt_idx", "split", "speaker_onehot_idx", "label_id", "label", "text"]
    LABEL_IDS = ("Joyful", "Mad", "Peaceful", "Neutral", "Sad", "Powerful", "Scared")

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        path = find_file(raw, ["emorynlp_utterances.tsv"], "EmoryNLP emorynlp_utterances.tsv", depth=1)
        with open_text(path) as f:
            rows = list(csv.reader(f, delimiter="\t"))
        if not rows or rows[0] != self.COLUMNS:
            raise DataError(f"{path}: header {rows[0] if rows else []} is not {', '.join(self.COLUMNS)}")
        scene_split: dict[str, str] = {}
        ids = set()
        for line_no, row in enumerate(rows[1:], 2):
            if len(row) != len(self.COLUMNS):
                scan.problem("malformed row", f"{path}, row {line_no}: expected {len(self.COLUMNS)} tab-separated fields, found {len(row)}")
                continue
            scene, utt, split, _, label_id, label, text = row
            if split not in ("train", "valid", "test") or label not in self.LABEL_IDS or label_id != str(self.LABEL_IDS.index(label)):
                message = f"{path}, row {line_no}: split {split!r} or label {label_id} {label!r} is not one of the release's"
                scan.problem("malformed row", message)
                continue
            if scene_split.setdefault(scene, split) != split:
                raise DataError(f"{path}, row {line_no}: scene {scene} is in both {scene_split[scene]} and {split}")
            sample_id = f"emorynlp-{scene}-{utt}"
            if sample_id in ids:
                raise DataError(f"{path}, row {line_no}: a second utterance {utt} of scene {scene}")
            ids.add(sample_id)
            scan.add(RawSample(sample_id, split, label.lower(), ("text",), media={"text": text}))
        for split, n in scan.found().items():
            scan.expect(f"{split} utterances", self.EXPECTED[split], n)
        scan.expect("scenes", self.EXPECTED["scenes"], len(scene_split))


class DailyDialog(Source):
    name = "dailydialog"
    title = "DailyDialog, RECCON's part (written English dialogues, Ekman's six + neutral)"
    modalities = ("text",)
    native_space = "dailydialog7"
    default_space = "ekman7"
    url = "https://github.com/declare-lab/RECCON (its DailyDialog annotation, as dailydialog_{train,valid,test}.json)"
    raw_help = "the folder with dailydialog_train.json, dailydialog_valid.json, dailydialog_test.json, or one above it"
    split_note = "official: train / valid / test"
    EXPECTED = {"train": (834, 8206), "valid": (47, 493), "test": (225, 2405)}
    SPELLINGS = {"happines": "happiness", "happy": "happiness", "excited": "happiness", "sad": "sadness",
                 "surprised": "surprise", "angry": "anger"}
    """Labels outside DailyDialog's seven that the release has, -> the label they are (module docstring)."""

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        emotions = set(LABEL_SPACES["dailydialog7"].labels)
        folder = find_file(raw, ["dailydialog_train.json"], "DailyDialog dailydialog_train.json", depth=2).parent
        respelled: Counter = Counter()
        for split in ("train", "valid", "test"):
            path = folder / f"dailydialog_{split}.json"
            if not path.is_file():
                raise DataError(f"DailyDialog file missing: {path}")
            try:
                dialogues = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                raise DataError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
            if not isinstance(dialogues, list):
                raise DataError(f"{path}: expected a list of dialogues {{doc_id, clauses}}")
            utterances, doc_ids = 0, set()
            for i, dialogue in enumerate(dialogues):
                try:
                    doc_id, clauses = dialogue["doc_id"], dialogue["clauses"]
                    pairs = [(c["clause"], c["emotion_category"]) for c in clauses]
                except (KeyError, TypeError):
                    scan.problem("malformed dialogue", f"{path}, dialogue {i}: lacks doc_id, clauses, clause or emotion_category")
                    continue
                if doc_id in doc_ids:
                    raise DataError(f"{path}: doc_id {doc_id} occurs twice")
                doc_ids.add(doc_id)
                for turn, (text, emotion) in enumerate(pairs, 1):
                    utterances += 1
                    if emotion in self.SPELLINGS:
                        respelled[f"{emotion} -> {self.SPELLINGS[emotion]}"] += 1
                        emotion = self.SPELLINGS[emotion]
                    if emotion not in emotions:
                        scan.problem("unknown label", f"{path}, doc_id {doc_id}, clause {turn}: emotion {emotion!r} is not DailyDialog's")
                        continue
                    scan.add(RawSample(f"dailydialog-{split}-{doc_id}-{turn}", split, emotion, ("text",), media={"text": text}))
            scan.expect(f"{split} dialogues", self.EXPECTED[split][0], len(doc_ids))
            scan.expect(f"{split} utterances", self.EXPECTED[split][1], utterances)
        if respelled:
            scan.notes.append("labels spelled otherwise, mapped: " + ", ".join(f"{k} ({n})" for k, n in sorted(respelled.items())))


class ISEAR(Source):
    name = "isear"
    title = "ISEAR (International Survey on Emotion Antecedents and Reactions: described situations)"
    modalities = ("text",)
    native_space = "isear7"
    default_space = "isear7"
    url = "https://www.unige.ch/cisa/research/materials-and-online-research/research-material/ (ISEAR databank; isear.csv)"
    raw_help = "isear.csv or the folder holding it"
    accepts_file = True
    SEED = 0
    FRACTIONS = {"train": 0.8, "valid": 0.1, "test": 0.1}
    split_note = "no official split: by respondent, sorted IDs permuted by numpy.random.default_rng(0), cut 80/10/10 %"
    EXPECTED = {"rows": 7666}
    CODES = {"1": "joy", "2": "fear", "3": "anger", "4": "sadness", "5": "disgust", "6": "shame", "7": "guilt"}
    NO_SITUATION = re.compile(
        r"^\[?\s*(no response|no reponse|no description|no answer|do not know|don't know|can ?not (think|remember|recall)"
        r"|can't (think|remember|recall)|do not remember|don't remember|never|i have never|i have not felt|same as"
        r"|doesn't apply|does not apply|not applicable|nothing|none|blank)\b",
        re.IGNORECASE,
    )
    """A text that says no situation was given (checked by hand on the release: 143 rows)."""

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        path = find_file(raw, ["isear.csv"], "ISEAR isear.csv", depth=1)
        lines = _lines(path)
        header = lines[0].split("|") if lines else []
        if not {"ID", "EMOT", "Field1", "SIT"} <= set(header):
            raise DataError(f"{path}: the header lacks ID, EMOT, Field1 or SIT (found {header[:8]}...)")
        col = {name: header.index(name) for name in ("ID", "EMOT", "Field1", "SIT", "MYKEY")}
        after = len(header) - col["SIT"] - 1  # fields after SIT, counted from the end of a row
        rows = []
        for line_no, line in enumerate(lines[1:], 2):
            fields = line.split("|")
            if len(fields) < len(header) or self.CODES.get(fields[col["EMOT"]]) != fields[col["Field1"]]:
                scan.problem("malformed row", f"{path}, line {line_no}: expected {len(header)} |-separated fields "
                                              f"and Field1 the emotion of the code in EMOT")
                continue
            pieces = fields[col["SIT"] : len(fields) - after]
            text = _unquote(" ".join(re.sub(r"á(?=\s|$)", " ", " ".join(pieces)).split()))
            rows.append((fields[col["MYKEY"]], fields[col["ID"]], fields[col["Field1"]], text))
        scan.expect("rows", self.EXPECTED["rows"], len(lines) - 1)
        if len({key for key, *_ in rows}) != len(rows):
            raise DataError(f"{path}: MYKEY is not unique")
        assign = seeded_split((respondent for _, respondent, _, _ in rows), self.FRACTIONS, self.SEED)
        for key, respondent, emotion, text in rows:
            if not text or self.NO_SITUATION.match(text):
                scan.dropped["no situation described"] += 1
                continue
            scan.add(RawSample(f"isear-{key}", assign[respondent], emotion, ("text",), speaker=f"isear-{respondent}",
                               media={"text": text}))


def _unquote(text: str) -> str:
    """An ISEAR text with quotes as the release has them: the field's closing quote kept at the end,
    and each inner quote written ``\\"`` or a lone backslash. Texts without a backslash are unchanged."""
    if "\\" not in text:
        return text
    if text.endswith('"') and not text.endswith('\\"'):
        text = text[:-1]
    return text.replace('\\"', '"').replace("\\", '"')


class WASSA2017(Source):
    name = "wassa2017"
    title = "WASSA-2017 EmoInt (English tweets, four emotions with intensity; dev and test gold)"
    modalities = ("text",)
    native_space = "wassa4"
    default_space = "ekman7"
    url = "http://saifmohammad.com/WebPages/EmoInt2017.html (dev and test gold data)"
    raw_help = "the folder with dev_data/ and test_data/ (each {anger,fear,joy,sadness}-gold.txt), or one above it"
    SEED = 2017
    TRAIN_FRACTION = 0.8
    split_note = (
        "dev -> valid; the gold test file -> train (80 %) + test (20 %) by its sorted tweet ids permuted by "
        "numpy.random.default_rng(2017) (the training split is not public here)"
    )
    EXPECTED = {"dev": {"anger": 84, "fear": 110, "joy": 79, "sadness": 74},
                "test": {"anger": 760, "fear": 995, "joy": 714, "sadness": 673}}
    options = {"dedupe_against": "the SemEval-2018 E-c folder: drop every tweet whose text is in one of its files"}

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        folder = next((p for p in (raw, raw / "codalab", *sorted(raw.glob("*"))) if (p / "dev_data").is_dir()), None)
        if folder is None:
            raise DataError(f"WASSA-2017: no dev_data/ folder in {raw} or the folders below it (expected {self.raw_help})")
        rows: list[tuple[str, str, str, str, float]] = []  # part, id, tweet, emotion, intensity
        for part, counts in self.EXPECTED.items():
            for emotion, expected in counts.items():
                path = folder / f"{part}_data" / f"{emotion}-gold.txt"
                if not path.is_file():
                    raise DataError(f"WASSA-2017 file missing: {path}")
                found = 0
                for line_no, line in enumerate(_lines(path), 1):
                    fields = line.split("\t")
                    try:
                        if len(fields) != 4 or fields[2] != emotion:
                            raise ValueError
                        intensity = float(fields[3])
                    except ValueError:
                        scan.problem("malformed row", f"{path}, line {line_no}: expected id<TAB>tweet<TAB>{emotion}<TAB>intensity")
                        continue
                    found += 1
                    rows.append((part, fields[0], fields[1], emotion, intensity))
                scan.expect(f"{part} {emotion} tweets", expected, found)
        if len({r[1] for r in rows}) != len(rows):
            raise DataError(f"WASSA-2017 at {folder}: a tweet id occurs twice")
        emotions_of: dict[str, set] = {}
        for _, _, tweet, emotion, _ in rows:
            emotions_of.setdefault(text_key(tweet), set()).add(emotion)
        if options.get("dedupe_against"):
            semeval = self._semeval_texts(Path(options["dedupe_against"]).expanduser())
        else:
            semeval = set()
            scan.notes.append("the tweets are SemEval-2018 E-c's; to mix the two, use --dedupe-against SEMEVAL_DIR")
        seen: set[str] = set()
        test_ids = [r[1] for r in rows if r[0] == "test"]
        assign = seeded_split(test_ids, {"train": self.TRAIN_FRACTION, "test": 1 - self.TRAIN_FRACTION}, self.SEED)
        for part, tweet_id, tweet, emotion, intensity in rows:
            key = text_key(tweet)
            if len(emotions_of[key]) > 1:
                scan.dropped["tweet filed under several emotions"] += 1
            elif key in seen:
                scan.dropped["second copy of a tweet"] += 1
            elif key in semeval:
                scan.dropped["tweet also in SemEval-2018 E-c"] += 1
            else:
                seen.add(key)
                split = "valid" if part == "dev" else assign[tweet_id]
                scan.add(RawSample(f"wassa2017-{tweet_id}", split, emotion, ("text",), media={"text": tweet},
                                   extra={"intensity": intensity}))

    @staticmethod
    def _semeval_texts(folder: Path) -> set[str]:
        files = sorted(folder.glob("2018-E-c-En-*.txt")) if folder.is_dir() else []
        if not files:
            raise DataError(f"--dedupe-against {folder}: no SemEval-2018 E-c files 2018-E-c-En-*.txt there")
        texts = set()
        for path in files:
            for line in _lines(path)[1:]:
                fields = line.split("\t")
                if len(fields) > 1:
                    texts.add(text_key(fields[1]))
        return texts
