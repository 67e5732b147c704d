"""``xmer prepare`` of the Ekman-7 auxiliary sets on the real copies in ../shared/data: the release's
counts, the documented splits and drops, folders that open.

Skipped when ../shared/data is absent. Everything is written under pytest's tmp_path.
"""

from __future__ import annotations

import pytest

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
