"""``xmer prepare`` on the real copies in ../shared/data: exactly the release's counts, folders that open.

Skipped when ../shared/data is absent. Everything is written under pytest's tmp_path. The full
FER2013 preparation (35,887 PNGs, ~15 s) is marked slow; the quick FER2013 test is a dry run.
"""

from __future__ import annotations

import json

import pytest

from xmer.data.dataset import PreparedDataset
from xmer.data.overlap import SHARED_IN_RELEASE
from xmer.data.sources import prepare

pytestmark = pytest.mark.real_data


def _check_folder(out, summary, n_total):
    dataset = PreparedDataset.open(out)
    assert len(dataset.records) == n_total == sum(summary.counts.values())
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["synthetic"] is False and meta["label_space"] == summary.label_space.name
    assert meta["sources"][summary.source]["counts"] == summary.counts
    return dataset


def test_goemotions(shared_data, tmp_path):
    summary = prepare("goemotions", shared_data / "goemotions", tmp_path / "go")
    # 2 training comments are test or validation comments word for word (xmer.data.overlap)
    assert summary.counts == {"train": 43408, "valid": 5426, "test": 5427}
    assert summary.dropped == {SHARED_IN_RELEASE: 2} and all(c.ok for c in summary.checks)
    dataset = _check_folder(tmp_path / "go", summary, 54261)
    assert dataset.multi_label and len(dataset.labels) == 28
    record = dataset.records[0]
    assert record["modalities"] == ["text"] and isinstance(record["media"]["text"], str) and isinstance(record["label"], list)


def test_goemotions_ekman7_drops_only_ambiguous(shared_data):
    summary = prepare("goemotions", shared_data / "goemotions", None, label_space="ekman7", dry_run=True)
    assert set(summary.dropped) == {"several ekman7 classes", SHARED_IN_RELEASE}
    assert sum(summary.counts.values()) + sum(summary.dropped.values()) == 54263


def test_semeval(shared_data, tmp_path):
    summary = prepare("semeval2018-ec", shared_data / "semeval2018_ec", tmp_path / "se")
    assert summary.counts["train"] + summary.counts["valid"] + summary.dropped[SHARED_IN_RELEASE] == 6838
    assert summary.counts["valid"] == 684 and summary.counts["test"] == 886 and summary.dropped == {SHARED_IN_RELEASE: 5}
    dataset = _check_folder(tmp_path / "se", summary, 6833 + 886)
    # the train/valid cut is reproducible
    again = prepare("semeval2018-ec", shared_data / "semeval2018_ec", None, dry_run=True)
    assert again.split_classes == summary.split_classes
    assert {r["split"] for r in dataset.records if r["id"].startswith("semeval2018-ec-2018-En-")} == {"test"}


def test_meld(shared_data, tmp_path):
    summary = prepare("meld", shared_data / "meld", tmp_path / "meld")
    assert summary.counts == {"train": 9986, "valid": 1109, "test": 2610}
    assert summary.label_space.name == "ekman7" and summary.dropped == {SHARED_IN_RELEASE: 3}
    dataset = _check_folder(tmp_path / "meld", summary, 13705)
    assert all(r["speaker"] for r in dataset.records[:50])


def test_ravdess(shared_data, tmp_path):
    summary = prepare("ravdess", shared_data / "ravdess", tmp_path / "rav")
    assert sum(summary.counts.values()) == 1440
    assert summary.counts == {"train": 960, "valid": 240, "test": 240}
    assert {c.what: c.found for c in summary.checks} == {"speech audio-only files": 1440, "speech actors": 24}
    dataset = _check_folder(tmp_path / "rav", summary, 1440)
    speakers = {split: {r["speaker"] for r in dataset.split(split)} for split in ("train", "valid", "test")}
    assert len(speakers["train"]) == 16 and len(speakers["valid"]) == 4 and len(speakers["test"]) == 4
    assert not speakers["train"] & speakers["test"]
    assert all(r["media"]["audio"].endswith(".flac") for r in dataset.records)


def test_ravdess_actor_folder_level(shared_data):
    # --raw may be the folder holding the Actor_NN folders or one above it
    inner = prepare("ravdess", shared_data / "ravdess" / "Audio_Speech_Actors_01-24", None, dry_run=True)
    assert sum(inner.counts.values()) == 1440


def test_ravdess_ekman7_drops_calm(shared_data):
    summary = prepare("ravdess", shared_data / "ravdess", None, label_space="ekman7", dry_run=True)
    assert summary.dropped == {"no ekman7 class for 'calm'": 192}
    assert sum(summary.counts.values()) == 1248


def test_fer2013_quick(shared_data):
    summary = prepare("fer2013", shared_data / "fer2013", None, dry_run=True)
    # 703 Training rows are pixel for pixel a PublicTest or PrivateTest image (xmer.data.overlap)
    assert summary.counts == {"train": 28006, "valid": 3589, "test": 3589}
    assert summary.classes["happy"] == 8931 and summary.dropped == {SHARED_IN_RELEASE: 703}


@pytest.mark.slow
def test_fer2013_full(shared_data, tmp_path):
    from PIL import Image

    summary = prepare("fer2013", shared_data / "fer2013", tmp_path / "fer")
    assert summary.counts == {"train": 28006, "valid": 3589, "test": 3589}
    dataset = _check_folder(tmp_path / "fer", summary, 35184)
    pngs = list((tmp_path / "fer" / "media" / "fer2013").rglob("*.png"))
    assert len(pngs) == 35184
    image = Image.open(tmp_path / "fer" / dataset.records[0]["media"]["visual"])
    assert image.size == (48, 48) and image.mode == "L"
