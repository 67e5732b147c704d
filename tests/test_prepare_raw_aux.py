"""``xmer prepare`` for the Ekman-7 auxiliary sets (URDU, XED, EmoryNLP, DailyDialog, ISEAR, WASSA-2017),
on small files built here in each release's exact layout.

As in test_prepare_raw.py, the release counts are patched down to the tiny sets so the strict path
is tested; the real copies are tested in test_prepare_real_aux.py.
"""

from __future__ import annotations

import json

import pytest

from xmer.data.sources import SOURCES, prepare
from xmer.errors import DataError

from test_prepare_raw import opens  # noqa: E402


def make_flac(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"fLaC\x00\x00\x00\x22" + b"\x00" * 34)


# ---------------------------------------------------------------------------------------------------
# URDU


URDU_FILES = {
    "Angry": ["SM1_F1_A01", "SM4_F2_A02", "SM2_F3_A03"],
    "Happy": ["SF1_F1_H01", "SF6_F2_H02", "SM6_F3_H03"],
    "Neutral": ["SM5_F1_N01", "SM20_F2_N02", "SF9_F3_N03"],
    "Sad": ["SM24_F1_S01", "SM23_F2_S02", "SM6_F4_S04"],
}


@pytest.fixture()
def urdu_tree(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["urdu"], "EXPECTED", {"files": 12, "per class": 3, "speakers": 11})
    root = tmp_path / "URDU-Dataset-master"
    for folder, stems in URDU_FILES.items():
        for stem in stems:
            make_flac(root / folder / f"{stem}.flac")
    (root / "README.md").write_text("release files beside the class folders are ignored")
    return root


def test_urdu_splits_by_speaker(tmp_path, urdu_tree):
    summary = prepare("urdu", tmp_path, tmp_path / "out")  # one above the release folder
    assert summary.label_space.name == "ekman7" and summary.dropped == {}
    assert summary.counts == {"train": 4, "valid": 4, "test": 4}
    assert {c: n for c, n in summary.classes.items() if n} == {"angry": 3, "happy": 3, "sad": 3, "neutral": 3}
    dataset = opens(tmp_path / "out")
    speakers = {split: {r["speaker"] for r in dataset.split(split)} for split in ("train", "valid", "test")}
    assert speakers["train"] == {"urdu-SM4", "urdu-SF1", "urdu-SM5", "urdu-SM24"}
    assert speakers["valid"] == {"urdu-SM1", "urdu-SF6", "urdu-SM20", "urdu-SM23"}
    assert speakers["test"] == {"urdu-SM2", "urdu-SM6", "urdu-SF9"}
    record = next(r for r in dataset.records if r["id"] == "urdu-SM6_F4_S04")
    assert record["label"] == "sad" and record["modalities"] == ["audio"]
    assert record["media"]["audio"] == str(urdu_tree / "Sad" / "SM6_F4_S04.flac")
    four = prepare("urdu", urdu_tree, None, label_space="iemocap4", dry_run=True)
    assert four.dropped == {} and four.classes == {"angry": 3, "happy": 3, "sad": 3, "neutral": 3}


def test_urdu_the_real_split_table_covers_every_class_and_speaker():
    urdu = SOURCES["urdu"]
    assert not set(urdu.TRAIN) & set(urdu.VALID) and not set(urdu.TRAIN) & set(urdu.TEST) and not set(urdu.VALID) & set(urdu.TEST)
    assert len(urdu.TRAIN) + len(urdu.VALID) + len(urdu.TEST) == urdu.EXPECTED["speakers"]


def test_urdu_bad_files(tmp_path, urdu_tree):
    make_flac(urdu_tree / "Happy" / "SM1_F9_A09.flac")  # an angry clip in the Happy folder
    with pytest.raises(DataError, match=r"SM1_F9_A09.flac: not a URDU name"):
        prepare("urdu", urdu_tree, tmp_path / "out")
    (urdu_tree / "Happy" / "SM1_F9_A09.flac").unlink()
    (urdu_tree / "Sad" / "SM6_F4_S04.flac").write_bytes(b"RIFF0000WAVE")  # not FLAC inside
    with pytest.raises(DataError, match=r"SM6_F4_S04.flac is not a FLAC file"):
        prepare("urdu", urdu_tree, tmp_path / "out")
    summary = prepare("urdu", urdu_tree, tmp_path / "out", allow_partial=True)
    assert summary.dropped == {"unreadable or malformed file": 1}
    assert [c.what for c in summary.checks if not c.ok] == ["Sad files", "files"]
    make_flac(urdu_tree / "Sad" / "SM6_F4_S04.flac")
    make_flac(urdu_tree / "Sad" / "SM99_F1_S01.flac")
    summary = prepare("urdu", urdu_tree, None, allow_partial=True, dry_run=True)
    assert any("SM99" in note for note in summary.notes)
    with pytest.raises(DataError, match="does not match the release: Sad files: expected 3, found 4"):
        prepare("urdu", urdu_tree, None, dry_run=True)  # strict: counts must match


def test_urdu_no_class_folders(tmp_path):
    (tmp_path / "raw").mkdir()
    with pytest.raises(DataError, match="no Angry/ folder"):
        prepare("urdu", tmp_path / "raw", tmp_path / "out")


# ---------------------------------------------------------------------------------------------------
# XED


@pytest.fixture()
def xed_tree(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["xed"], "EXPECTED", {"en-annotated.tsv": 5, "neu_en.txt": 4})
    data = tmp_path / "XED-master" / "AnnotatedData"
    data.mkdir(parents=True)
    (data / "en-annotated.tsv").write_text(
        "Hello there .\t5\n"
        "Run !\t4, 7\n"  # fear + surprise: two Ekman classes
        "Trust me .\t8\n"  # trust only: no Ekman class
        "I hate you .\t1, 8\n"  # anger + trust: angry
        "hello   there .\t5\n"  # a copy of the first line (case and spaces aside)
    )
    (data / "neu_en.txt").write_text("9\tYeah.\n9\tOkay then\t\t\t\n\t\t\t\t\n9\tFine.")  # no final newline, as released
    return data


def test_xed_native_and_ekman7(tmp_path, xed_tree):
    summary = prepare("xed", tmp_path, tmp_path / "out")  # two folders above the files
    assert summary.label_space.name == "xed9" and sum(summary.counts.values()) == 8
    assert summary.dropped == {"blank line": 1} and summary.classes["neutral"] == 3 and summary.classes["trust"] == 2
    dataset = opens(tmp_path / "out")
    by_id = {r["id"]: r for r in dataset.records}
    assert by_id["xed-en-2"]["label"] == ["fear", "surprise"] and by_id["xed-neu-2"]["media"]["text"] == "Okay then"
    assert by_id["xed-en-1"]["split"] == by_id["xed-en-5"]["split"]  # copies of a text share a split
    ekman = prepare("xed", xed_tree, None, label_space="ekman7", dry_run=True)
    assert ekman.dropped == {"blank line": 1, "several ekman7 classes": 1, "no ekman7 class for any of its labels": 1}
    assert {c: n for c, n in ekman.classes.items() if n} == {"angry": 1, "happy": 2, "neutral": 3}


def test_xed_bad_rows(tmp_path, xed_tree):
    with open(xed_tree / "en-annotated.tsv", "a") as f:
        f.write("What ?\t9\n")
    with pytest.raises(DataError, match=r"en-annotated.tsv, line 6: expected text<TAB>label ids 1..8"):
        prepare("xed", xed_tree, tmp_path / "out")
    (xed_tree / "neu_en.txt").unlink()
    with pytest.raises(DataError, match="XED file missing: .*neu_en.txt"):
        prepare("xed", xed_tree, tmp_path / "out")


# ---------------------------------------------------------------------------------------------------
# EmoryNLP


EMORY_HEAD = "scene_id\tutt_idx\tsplit\tspeaker_onehot_idx\tlabel_id\tlabel\ttext\n"


def test_emorynlp(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["emorynlp"], "EXPECTED", {"train": 3, "valid": 1, "test": 1, "scenes": 3})
    path = tmp_path / "emorynlp_utterances.tsv"
    path.write_text(
        EMORY_HEAD
        + "1_1_1\t0\ttrain\t0\t0\tJoyful\tOooh!\n"
        + '1_1_1\t1\ttrain\t1\t2\tPeaceful\t"""Ooo,"" what?"\n'
        + "1_1_1\t2\ttrain\t0\t5\tPowerful\tI know.\n"
        + "1_2_1\t0\tvalid\t2\t1\tMad\tNo!\n"
        + "1_3_1\t0\ttest\t3\t6\tScared\tWhat was that?\n"
    )
    summary = prepare("emorynlp", path, tmp_path / "out")  # the file itself
    assert summary.label_space.name == "emorynlp7" and summary.counts == {"train": 3, "valid": 1, "test": 1}
    records = {r["id"]: r for r in opens(tmp_path / "out").records}
    assert records["emorynlp-1_1_1-1"]["media"]["text"] == '"Ooo," what?' and records["emorynlp-1_1_1-1"]["label"] == "peaceful"
    ekman = prepare("emorynlp", tmp_path, None, label_space="ekman7", dry_run=True)
    assert ekman.dropped == {"no ekman7 class for 'peaceful'": 1, "no ekman7 class for 'powerful'": 1}
    assert {c: n for c, n in ekman.classes.items() if n} == {"happy": 1, "angry": 1, "fear": 1}
    with open(path, "a") as f:
        f.write("1_3_1\t1\ttrain\t3\t3\tNeutral\tOkay.\n")
    with pytest.raises(DataError, match="row 7: scene 1_3_1 is in both test and train"):
        prepare("emorynlp", path, None, dry_run=True)
    path.write_text(EMORY_HEAD + "1_1_1\t0\ttrain\t0\t1\tJoyful\tOooh!\n")
    with pytest.raises(DataError, match=r"row 2: split 'train' or label 1 'Joyful' is not one of the release's"):
        prepare("emorynlp", path, None, dry_run=True)


# ---------------------------------------------------------------------------------------------------
# DailyDialog (RECCON)


def _dialogue(doc_id, *labels):
    clauses = [{"clause": f"utterance {i} of {doc_id} .", "clause_id": i, "emotion_category": e, "emotion_token": e}
               for i, e in enumerate(labels, 1)]
    return {"doc_id": doc_id, "doc_len": len(labels), "pairs": [[1, 1]], "clauses": clauses}


@pytest.fixture()
def dailydialog_tree(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["dailydialog"], "EXPECTED", {"train": (2, 5), "valid": (1, 1), "test": (1, 2)})
    data = tmp_path / "data_reccon"
    data.mkdir()
    parts = {
        "train": [_dialogue(1, "neutral", "happiness", "excited"), _dialogue(2, "anger", "disgust")],
        "valid": [_dialogue(1, "fear")],
        "test": [_dialogue(1, "happines", "sadness")],
    }
    for split, dialogues in parts.items():
        (data / f"dailydialog_{split}.json").write_text(json.dumps(dialogues))
    return data


def test_dailydialog(tmp_path, dailydialog_tree):
    summary = prepare("dailydialog", tmp_path, tmp_path / "out")
    assert summary.label_space.name == "ekman7" and summary.counts == {"train": 5, "valid": 1, "test": 2}
    assert summary.dropped == {} and summary.classes["happy"] == 3 and summary.classes["surprise"] == 0
    assert summary.notes == ["labels spelled otherwise, mapped: excited -> happiness (1), happines -> happiness (1)"]
    records = {r["id"]: r for r in opens(tmp_path / "out").records}
    assert records["dailydialog-train-1-3"]["label"] == "happy" and records["dailydialog-test-1-1"]["media"]["text"] == "utterance 1 of 1 ."
    native = prepare("dailydialog", dailydialog_tree, None, label_space="dailydialog7", dry_run=True)
    assert native.classes["happiness"] == 3 and native.classes["disgust"] == 1


def test_dailydialog_unknown_label_and_bad_json(tmp_path, dailydialog_tree):
    (dailydialog_tree / "dailydialog_valid.json").write_text(json.dumps([_dialogue(7, "bored")]))
    with pytest.raises(DataError, match=r"dailydialog_valid.json, doc_id 7, clause 1: emotion 'bored' is not DailyDialog's"):
        prepare("dailydialog", dailydialog_tree, None, dry_run=True)
    summary = prepare("dailydialog", dailydialog_tree, None, dry_run=True, allow_partial=True)
    assert summary.dropped == {"unknown label": 1} and summary.counts["valid"] == 0
    (dailydialog_tree / "dailydialog_test.json").write_text("[{")
    with pytest.raises(DataError, match="dailydialog_test.json: not valid JSON"):
        prepare("dailydialog", dailydialog_tree, None, dry_run=True, allow_partial=True)


# ---------------------------------------------------------------------------------------------------
# ISEAR


ISEAR_HEAD = (
    "ID|CITY|COUN|SUBJ|SEX|AGE|RELI|PRAC|FOCC|MOCC|FIEL|EMOT|WHEN|LONG|INTS|ERGO|TROPHO|TEMPER|EXPRES|MOVE|EXP1|EXP2|"
    "EXP10|PARAL|CON|EXPC|PLEA|PLAN|FAIR|CAUS|COPING|MORL|SELF|RELA|VERBAL|NEUTRO|Field1|Field3|Field2|MYKEY|SIT|STATE|"
)


def _isear_row(respondent, code, emotion, situation, number):
    answers = "|".join(["1"] * 24)
    return f"{respondent}|1|1|1|1|33|1|2|6|1|2|{code}|{answers}|{emotion}|4|3|0{respondent}{number}|{situation}|1|"


def test_isear(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["isear"], "EXPECTED", {"rows": 6})
    rows = [
        _isear_row(11001, 1, "joy", "When I fell in love.", 1),
        _isear_row(11001, 3, "anger", 'A colleague kept \\terror ringing\\" and á|interrupting me."', 3),
        _isear_row(11001, 6, "shame", "When I forgot my friend's birthday.", 6),
        _isear_row(11002, 2, "fear", "[ No response.]", 2),
        _isear_row(11002, 4, "sadness", "When my dog died.", 4),
        _isear_row(11003, 7, "guilt", "When I lied to my mother.", 7),
    ]
    (tmp_path / "isear.csv").write_text(ISEAR_HEAD + "\n" + "\n".join(rows) + "\n")
    summary = prepare("isear", tmp_path, tmp_path / "out")
    assert summary.label_space.name == "isear7" and sum(summary.counts.values()) == 5
    assert summary.dropped == {"no situation described": 1}
    dataset = opens(tmp_path / "out")
    records = {r["id"]: r for r in dataset.records}
    assert records["isear-0110013"]["media"]["text"] == 'A colleague kept "terror ringing" and interrupting me.'
    assert records["isear-0110013"]["label"] == "anger" and records["isear-0110013"]["speaker"] == "isear-11001"
    assert len({records[f"isear-011001{n}"]["split"] for n in (1, 3, 6)}) == 1  # one respondent, one split
    ekman = prepare("isear", tmp_path, None, label_space="ekman7", dry_run=True)
    assert ekman.dropped == {"no situation described": 1, "no ekman7 class for 'shame'": 1, "no ekman7 class for 'guilt'": 1}
    (tmp_path / "isear.csv").write_text(ISEAR_HEAD + "\n" + _isear_row(11001, 2, "joy", "Fine.", 1) + "\n")
    with pytest.raises(DataError, match=r"isear.csv, line 2: expected 43 \|-separated fields and Field1 the emotion of the code in EMOT"):
        prepare("isear", tmp_path, None, dry_run=True)


# ---------------------------------------------------------------------------------------------------
# WASSA-2017


@pytest.fixture()
def wassa_tree(tmp_path, monkeypatch):
    counts = {"dev": {"anger": 1, "fear": 1, "joy": 1, "sadness": 1}, "test": {"anger": 3, "fear": 2, "joy": 2, "sadness": 3}}
    monkeypatch.setattr(SOURCES["wassa2017"], "EXPECTED", counts)
    root = tmp_path / "wassa2017" / "codalab"
    tweets = {
        ("dev", "anger"): ["10001\t@a so annoyed right now\tanger\t0.5"],
        ("dev", "fear"): ["20001\tdread the exam #nervous\tfear\t0.7"],
        ("dev", "joy"): ["30001\tbest day ever\tjoy\t0.9"],
        ("dev", "sadness"): ["40001\tmissing you\tsadness\t0.4"],
        ("test", "anger"): ["10101\tfurious at the bus\tanger\t0.6", "10102\tso mad\tanger\t0.8", "10103\tThis is awful\tanger\t0.3"],
        ("test", "fear"): ["20101\tscared of spiders\tfear\t0.6", "20102\tterrified\tfear\t0.9"],
        ("test", "joy"): ["30101\tsmiling all day\tjoy\t0.7", "30102\tlol great\tjoy\t0.5"],
        ("test", "sadness"): ["40101\tthis is  awful\tsadness\t0.6", "40102\tso sad\tsadness\t0.7", "40103\tgloomy monday\tsadness\t0.3"],
    }
    for (part, emotion), lines in tweets.items():
        path = root / f"{part}_data" / f"{emotion}-gold.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return tmp_path / "wassa2017"


def test_wassa2017(tmp_path, wassa_tree):
    summary = prepare("wassa2017", wassa_tree, tmp_path / "out")
    assert summary.label_space.name == "ekman7"
    assert summary.dropped == {"tweet filed under several emotions": 2}  # "This is awful" is anger and sadness
    assert summary.counts["valid"] == 4 and summary.counts["train"] + summary.counts["test"] == 8
    assert summary.counts["test"] == 2  # 20 % of the 10 test-file tweets
    assert any("--dedupe-against" in note for note in summary.notes)
    record = next(r for r in opens(tmp_path / "out").records if r["id"] == "wassa2017-20001")
    assert record["label"] == "fear" and record["intensity"] == 0.7 and record["split"] == "valid"


def test_wassa2017_dedupe_against_semeval(tmp_path, wassa_tree):
    from xmer.cli import main

    semeval = tmp_path / "semeval"
    semeval.mkdir()
    header = "ID\tTweet\tanger\tanticipation\tdisgust\tfear\tjoy\tlove\toptimism\tpessimism\tsadness\tsurprise\ttrust\n"
    (semeval / "2018-E-c-En-dev.txt").write_text(header + "2018-En-1\tSo  MAD\t" + "\t".join(["1"] + ["0"] * 10) + "\n")
    (semeval / "2018-E-c-En-train.txt").write_text(header + "2018-En-2\tbest day ever\t" + "\t".join(["0"] * 11) + "\n")
    summary = prepare("wassa2017", wassa_tree, None, dry_run=True, dedupe_against=semeval)
    assert summary.dropped == {"tweet filed under several emotions": 2, "tweet also in SemEval-2018 E-c": 2}
    assert sum(summary.counts.values()) == 10 and not summary.notes
    assert main(["prepare", "wassa2017", "--raw", str(wassa_tree), "--out", str(tmp_path / "out"),
                 "--dedupe-against", str(semeval)]) == 0
    assert len(opens(tmp_path / "out").records) == 10
    with pytest.raises(DataError, match="no SemEval-2018 E-c files"):
        prepare("wassa2017", wassa_tree, None, dry_run=True, dedupe_against=tmp_path)


def test_wassa2017_bad_rows(tmp_path, wassa_tree):
    path = wassa_tree / "codalab" / "dev_data" / "joy-gold.txt"
    path.write_text("30001\tbest day ever\tanger\t0.9\n")
    with pytest.raises(DataError, match=r"joy-gold.txt, line 1: expected id<TAB>tweet<TAB>joy<TAB>intensity"):
        prepare("wassa2017", wassa_tree, None, dry_run=True)
    path.unlink()
    with pytest.raises(DataError, match="WASSA-2017 file missing: .*joy-gold.txt"):
        prepare("wassa2017", wassa_tree, None, dry_run=True)
