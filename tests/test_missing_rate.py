"""The missing-rate protocol (xmer.data.missing) and the ``missing_rate`` experiment on the toy set."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from xmer.cli import main
from xmer.data.missing import KEPT, remove_modalities
from xmer.modalities import MODALITIES


def _records(n=200):
    full = [{"id": f"s{i:03d}", "modalities": list(MODALITIES)} for i in range(n)]
    return full + [{"id": "aux", "modalities": ["text"]}]


def test_a_fraction_stays_complete_the_rest_loses_one_or_two():
    records = _records()
    assert remove_modalities(records, 1.0) == records
    half = remove_modalities(records, 0.5)
    complete = [r for r in half if len(r["modalities"]) == 3]
    assert len(complete) == 100 and half[-1] == records[-1]  # the auxiliary sample is untouched
    cut = [r for r in half if "removed" in r]
    assert len(cut) == 100 and all(1 <= len(r["removed"]) <= 2 for r in cut)
    assert all(sorted(r["modalities"] + r["removed"]) == sorted(MODALITIES) for r in cut)
    kinds = Counter(tuple(r["modalities"]) for r in cut)
    assert set(kinds) <= set(KEPT) and len(kinds) == 6  # every pattern occurs
    assert 30 < sum(len(r["removed"]) == 1 for r in cut) < 70  # one lost about as often as two


def test_the_removal_is_fixed_and_nested():
    records = _records()
    assert remove_modalities(records, 0.5) == remove_modalities(list(records), 0.5)
    half, fifth = remove_modalities(records, 0.5), remove_modalities(records, 0.2)
    cut_half = {r["id"]: r["modalities"] for r in half if "removed" in r}
    cut_fifth = {r["id"]: r["modalities"] for r in fifth if "removed" in r}
    assert len(cut_fifth) == 160 and set(cut_half) < set(cut_fifth)
    assert all(cut_fifth[i] == kept for i, kept in cut_half.items())  # the same modalities removed
    assert remove_modalities(list(reversed(records)), 0.5) == list(reversed(half))  # order does not matter
    with pytest.raises(ValueError, match="in \\(0, 1\\]"):
        remove_modalities(records, 0.0)


def test_training_split_with_a_complete_fraction(tmp_path, monkeypatch):
    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    from xmer.config import load_config
    from xmer.training.trainer import Trainer

    base = ["data.toy.trimodal=40", "data.toy.bimodal=4", "data.toy.unimodal=4", "data.toy.valid=8", "data.toy.test=8",
            "train.progress=false", "data.complete_fraction=0.5"]
    everything = Trainer(load_config(None, base), tmp_path / "a").train_records
    complete_part = Trainer(load_config(None, base + ["data.train_subsets=trimodal"]), tmp_path / "b").train_records
    assert len(complete_part) == 20 and all(len(r["modalities"]) == 3 for r in complete_part)
    assert len(everything) == 40 + 3 * 4 + 3 * 4 and sum("removed" in r for r in everything) == 20


@pytest.mark.slow
def test_missing_rate_quick_on_the_toy_set(tmp_path, monkeypatch):
    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "mr"
    assert main(["experiment", "missing_rate", "--data", "toy", "--quick", "--seeds", "1",
                 "--out", str(out), "--runs", str(tmp_path / "runs")]) == 0
    report = (out / "report.md").read_text()
    results = json.loads((out / "results.json").read_text())
    assert len(results["conditions"]) == 18 and "p=0.2: translators + SeqDis (end to end)" in results["conditions"]
    assert "## Test-time modality subsets, accuracy" in report and " / " in report  # imagined / left out
    # at p = 1 the complete part is everything: one run serves both conditions
    same = {(out / c / "seed1").resolve() for c in ("p-1-0-recogniser-complete-part-only", "p-1-0-missing-modalities-left-out")}
    assert len(same) == 1
    config = (out / "p-0-2-recogniser-complete-part-only" / "seed1" / "config.yaml").read_text()
    assert "complete_fraction: 0.2" in config and "train_subsets: trimodal" in config
