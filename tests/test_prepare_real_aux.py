"""``xmer prepare`` of the Ekman-7 auxiliary sets on the real copies in ../shared/data: the release's
counts, the documented splits and drops, folders that open.

Skipped when ../shared/data is absent. Everything is written under pytest's tmp_path.
"""

from __future__ import annotations

import pytest

from xmer.data.overlap import SHARED_IN_RELEASE
from xmer.data.sources import prepare

from test_prepare_real import _check_folder  # noqa: E402

pytestmark = pytest.mark.real_data


def test_urdu(shared_data, tmp_path):
    summary = prepare("urdu", shared_data / "urdu", tmp_path / "urdu")
    assert summary.counts == {"train": 268, "valid": 60, "test": 72}
    assert summary.dropped == {} and all(c.ok for c in summary.checks) and not summary.notes
    assert {c: n for c, n in summary.classes.items() if n} == {"angry": 100, "happy": 100, "sad": 100, "neutral": 100}
    assert all(len(summary.split_classes[split]) == 4 for split in ("train", "valid", "test"))  # every class in every split
    dataset = _check_folder(tmp_path / "urdu", summary, 400)
    speakers = {split: {r["speaker"] for r in dataset.split(split)} for split in ("train", "valid", "test")}
    assert [len(speakers[s]) for s in ("train", "valid", "test")] == [10, 8, 11]
    assert not speakers["train"] & speakers["test"] and not speakers["train"] & speakers["valid"]
    assert all(r["media"]["audio"].endswith(".flac") for r in dataset.records)


def test_xed(shared_data, tmp_path):
    summary = prepare("xed", shared_data / "xed", tmp_path / "xed")
    # 89 training lines are valid or test lines word for word (subtitles repeat; xmer.data.overlap)
    assert summary.counts == {"train": 21647, "valid": 2724, "test": 2742}
    assert summary.dropped == {"blank line": 1, SHARED_IN_RELEASE: 89} and all(c.ok for c in summary.checks)
    dataset = _check_folder(tmp_path / "xed", summary, 27113)
    assert dataset.multi_label
    ekman = prepare("xed", shared_data / "xed", None, label_space="ekman7", dry_run=True)
    assert ekman.dropped == {"blank line": 1, "several ekman7 classes": 2203, "no ekman7 class for any of its labels": 3845,
                             SHARED_IN_RELEASE: 56}
    assert sum(ekman.counts.values()) == 27202 - 2203 - 3845 - 56


def test_emorynlp(shared_data, tmp_path):
    summary = prepare("emorynlp", shared_data / "emorynlp", tmp_path / "emory")
    assert summary.counts == {"train": 7540, "valid": 954, "test": 984} and summary.dropped == {SHARED_IN_RELEASE: 11}
    _check_folder(tmp_path / "emory", summary, 9478)
    ekman = prepare("emorynlp", shared_data / "emorynlp", None, label_space="ekman7", dry_run=True)
    assert ekman.dropped == {"no ekman7 class for 'peaceful'": 831, "no ekman7 class for 'powerful'": 717, SHARED_IN_RELEASE: 7}
    assert ekman.counts == {"train": 6355, "valid": 802, "test": 777}


def test_dailydialog(shared_data, tmp_path):
    summary = prepare("dailydialog", shared_data / "dailydialog_reccon", tmp_path / "dd")
    # 227 training utterances are valid or test utterances word for word (xmer.data.overlap)
    assert summary.counts == {"train": 7979, "valid": 493, "test": 2405} and summary.dropped == {SHARED_IN_RELEASE: 227}
    assert summary.label_space.name == "ekman7" and summary.classes["happy"] == 4292 and summary.classes["neutral"] == 5131
    assert "excited -> happiness (3)" in summary.notes[0] and "happines -> happiness (1)" in summary.notes[0]
    _check_folder(tmp_path / "dd", summary, 10877)


def test_isear(shared_data, tmp_path):
    summary = prepare("isear", shared_data / "isear", tmp_path / "isear")
    assert summary.counts == {"train": 6023, "valid": 753, "test": 747}
    assert summary.dropped == {"no situation described": 143}
    dataset = _check_folder(tmp_path / "isear", summary, 7523)
    speakers = {split: {r["speaker"] for r in dataset.split(split)} for split in ("train", "valid", "test")}
    assert not speakers["train"] & speakers["test"] and not speakers["valid"] & speakers["test"]
    assert not any("á" in r["media"]["text"] or "\\" in r["media"]["text"] for r in dataset.records)
    ekman = prepare("isear", shared_data / "isear", None, label_space="ekman7", dry_run=True)
    assert ekman.counts == {"train": 4329, "valid": 542, "test": 536}
    assert ekman.dropped == {"no situation described": 143, "no ekman7 class for 'shame'": 1054, "no ekman7 class for 'guilt'": 1062}


def test_wassa2017(shared_data, tmp_path):
    summary = prepare("wassa2017", shared_data / "wassa2017", tmp_path / "wassa")
    assert summary.counts == {"train": 2446, "valid": 336, "test": 606}
    assert summary.dropped == {"tweet filed under several emotions": 98, SHARED_IN_RELEASE: 3} and all(c.ok for c in summary.checks)
    _check_folder(tmp_path / "wassa", summary, 3388)
    deduped = prepare("wassa2017", shared_data / "wassa2017", None, dry_run=True, dedupe_against=shared_data / "semeval2018_ec")
    assert deduped.dropped == {"tweet filed under several emotions": 98, "tweet also in SemEval-2018 E-c": 3353}
    assert deduped.counts == {"train": 32, "valid": 2, "test": 4}
