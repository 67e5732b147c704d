"""Every experiment runs end to end in its --quick form on the toy set and writes its report."""

import json

import pytest

from xmer.cli import main
from xmer.experiments import EXPERIMENTS


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_quick_experiment_writes_its_report(name, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / name
    assert main(["experiment", name, "--data", "toy", "--quick", "--seeds", "1", "2", "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    results = json.loads((out / "results.json").read_text())
    for condition, _ in EXPERIMENTS[name].conditions:
        assert condition in report and condition in results["conditions"]
        assert "±" in report
    assert "Quick mode" in report and "Tong" in report
    if EXPERIMENTS[name].subsets:
        assert "left out" in report and "visual+audio" in report


def test_unknown_experiment_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["experiment", "nope", "--data", "toy", "--out", str(tmp_path)])


@pytest.mark.slow
def test_all_trains_each_distinct_run_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "all"
    assert main(["experiment", "all", "--data", "toy", "--quick", "--seeds", "1", "--out", str(out)]) == 0
    index = (out / "report.md").read_text()
    for name in EXPERIMENTS:
        assert f"[{name}/report.md]" in index and (out / name / "report.md").exists()
    # The full method with auxiliary data is a condition of every experiment: one shared run folder.
    full = {
        (out / "main" / "auxiliary-datasets" / "seed1").resolve(),
        (out / "missing" / "full-method" / "seed1").resolve(),
        (out / "strategy" / "end-to-end-1-7" / "seed1").resolve(),
        (out / "modalities" / "augment-t-a-v" / "seed1").resolve(),
    }
    assert len(full) == 1 and next(iter(full)).parent == (out / "runs").resolve()
    distinct = {c for e in EXPERIMENTS.values() for c in e.conditions}
    assert len(list((out / "runs").iterdir())) < len(distinct)
    results = json.loads((out / "missing" / "results.json").read_text())
    assert results["conditions"]["full method"]["train_seconds"] > 0


def test_a_shared_run_link_follows_its_conditions_config(tmp_path):
    from xmer.config import load_config
    from xmer.experiments import _run_folder, config_key

    place, runs = tmp_path / "exp" / "cond" / "seed1", tmp_path / "runs"
    first, second = load_config(None, ["train.seed=1"]), load_config(None, ["train.seed=2"])
    assert _run_folder(place, first, runs).resolve() == (runs / config_key(first)).resolve()
    assert _run_folder(place, second, runs).resolve() == (runs / config_key(second)).resolve()  # relinked
    assert _run_folder(place, second, runs).resolve() == (runs / config_key(second)).resolve()  # idempotent
