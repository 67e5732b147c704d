"""``xmer prepare`` for the Ekman-7 auxiliary sets (URDU, XED, EmoryNLP, DailyDialog, ISEAR, WASSA-2017),
on small files built here in each release's exact layout.

As in test_prepare_raw.py, the release counts are patched down to the tiny sets so the strict path
is tested; the real copies are tested in test_prepare_real_aux.py.
"""

from __future__ import annotations

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
