"""End-to-end training on the tiny synthetic toy set: the files a run writes, that the model learns,
and that a run killed with SIGKILL and resumed ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from xmer.config import load_config
from xmer.errors import DataError
from xmer.scoring import evaluate_run
from xmer.training.trainer import Trainer

TINY = [
    "data.toy.trimodal=200", "data.toy.bimodal=40", "data.toy.unimodal=40", "data.toy.valid=80", "data.toy.test=120",
    "data.toy.noise=1.0", "data.batch_size=32",
    "model.d_model=32", "model.d_ff=32", "model.fusion_length=8",
    "train.lr=0.003", "train.warmup_steps=5", "train.progress=false",
]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.slow
def test_a_run_writes_its_folder_and_learns(tmp_path, cache):
    config = load_config(None, TINY + ["train.epochs=8"])
    run = tmp_path / "run"
    state = Trainer(config, run).fit()
    for name in ("config.yaml", "environment.json", "model.json", "history.json", "curves.png",
                 "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    card = json.loads((run / "model.json").read_text())
    assert card["input_dims"] == {"visual": 32, "audio": 24, "text": 50} and card["multi_label"] is False
    assert len(card["labels"]) == 4 and card["label_space"] == "toy4"
    env = json.loads((run / "environment.json").read_text())
    assert "torch" in env["packages"] and "git_commit" in env
    assert len(state.history) == 8 and state.best_epoch >= 1

    metrics = evaluate_run(run, "test")
    saved = json.loads((run / "metrics.json").read_text())
    for key in ("accuracy", "unweighted_accuracy", "macro_f1", "weighted_f1", "per_class", "definitions"):
        assert key in saved
    assert set(saved["per_class"]) == set(card["labels"])
    assert metrics["accuracy"] > 0.6  # chance is 0.25
    subsets = metrics["subsets"]
    assert len(subsets) == 7
    assert subsets["visual+audio+text"]["accuracy"] > max(subsets[m]["accuracy"] for m in ("visual", "audio", "text"))
    assert "synthetic" in (run / "report.md").read_text()
    # Calibrated on validation after training (issue 10.5): a temperature in the card, ECE in the metrics.
    assert card["temperature"] > 0 and card["calibration"]["ece_after"] <= card["calibration"]["ece_before"] + 1e-6
    assert 0 <= metrics["ece"] <= 1 and "ece" in metrics["definitions"]
    if card["temperature"] != 1.0:
        assert "ece_uncalibrated" in metrics
    from xmer.inference import Recognizer

    assert Recognizer.load(run).model.temperature == pytest.approx(card["temperature"])  # predictions use it


def test_an_existing_run_is_not_overwritten(tmp_path, cache):
    config = load_config(None, TINY + ["train.epochs=1"])
    Trainer(config, tmp_path / "run").fit()
    with pytest.raises(DataError, match="--resume"):
        Trainer(config, tmp_path / "run").fit()


def _train_cli(run_dir, epochs, *extra, env):
    cmd = [sys.executable, "-m", "xmer.cli", "train", "--out", str(run_dir), *extra]
    for o in TINY + [f"train.epochs={epochs}", "train.patience=100", "train.seed=3"]:
        cmd += ["--set", o]
    return cmd


@pytest.mark.slow
def test_resume_after_sigkill_reproduces_the_uninterrupted_run(tmp_path, cache):
    env = {**os.environ, "XMER_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    epochs = 12
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(_train_cli(whole, epochs, env=env), env=env, check=True, capture_output=True)

    proc = subprocess.Popen(_train_cli(killed, epochs, env=env), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = killed / "history.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if history.exists() and len(json.loads(history.read_text() or "[]")) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(json.loads(history.read_text()))
    assert proc.returncode == -signal.SIGKILL and done < epochs, "the run finished before it could be killed"
    torch.load(killed / "checkpoints" / "last.pt", weights_only=True)  # the last checkpoint is intact

    subprocess.run(_train_cli(killed, epochs, "--resume", env=env), env=env, check=True, capture_output=True)
    a = json.loads((whole / "history.json").read_text())
    b = json.loads((killed / "history.json").read_text())
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(a) == strip(b)
    wa = torch.load(whole / "checkpoints" / "best.pt", weights_only=True)["model"]
    wb = torch.load(killed / "checkpoints" / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert evaluate_run(whole, "test", subsets=False)["per_class"] == evaluate_run(killed, "test", subsets=False)["per_class"]
