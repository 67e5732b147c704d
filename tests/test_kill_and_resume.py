"""Killed with SIGKILL mid-way and run again, ``xmer extract`` and ``xmer experiment`` end exactly
where an uninterrupted run ends, and leave no temporaries or locks (``xmer train``'s own test is in
test_training.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from xmer.data.store import FeatureStore

from test_bad_inputs import media_dataset


def kill_when(command: list[str], ready, env: dict, timeout: float = 180) -> None:
    """Start ``command``, SIGKILL it once ``ready()`` holds, and check it had not finished."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the command finished before it could be killed"


def leftovers(folder: Path) -> list[str]:
    """Temporaries and locks anywhere under ``folder``."""
    return [str(p) for p in folder.rglob(".*") if p.name.endswith((".tmp", ".building", ".lock"))
            and not p.name.startswith(".dataset.json")]


@pytest.mark.slow
def test_extract_killed_and_resumed_stores_what_an_uninterrupted_run_stores(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    count = 120
    whole, killed = media_dataset(tmp_path / "whole", count), media_dataset(tmp_path / "killed", count)
    extract = [sys.executable, "-m", "xmer", "extract", "--extractors", "audio=logmel", "--chunk-size", "2", "--data"]
    subprocess.run(extract + [str(whole)], env=env, check=True, capture_output=True)

    chunks = killed / "features" / "audio"
    kill_when(extract + [str(killed)], lambda: len(list(chunks.glob("*.idx.tsv"))) >= 3, env)
    done = len(FeatureStore(killed / "features").ids("audio"))
    assert 0 < done < count
    subprocess.run(extract + [str(killed)], env=env, check=True, capture_output=True)

    a, b = FeatureStore(whole / "features"), FeatureStore(killed / "features")
    assert a.ids("audio") == b.ids("audio") and len(a.ids("audio")) == count
    assert all(np.array_equal(a.get(i, "audio"), b.get(i, "audio")) for i in a.ids("audio"))
    assert leftovers(killed) == []


@pytest.mark.slow
def test_experiment_killed_and_resumed_reports_what_an_uninterrupted_run_reports(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XMER_CACHE": str(tmp_path / "cache")}
    experiment = [sys.executable, "-m", "xmer", "experiment", "missing", "--data", "toy", "--quick", "--seeds", "1", "2",
                  "--out"]
    subprocess.run(experiment + [str(tmp_path / "whole")], env=env, check=True, capture_output=True)

    killed = tmp_path / "killed"
    second = killed / "full-method" / "seed2" / "history.json"  # the first seed done, the second under way
    kill_when(experiment + [str(killed)], lambda: second.exists(), env)
    assert not (killed / "results.json").exists()
    subprocess.run(experiment + [str(killed)], env=env, check=True, capture_output=True)

    def summary(folder):
        results = json.loads((folder / "results.json").read_text())
        return {name: c["summary"] for name, c in results["conditions"].items()}

    assert summary(killed) == summary(tmp_path / "whole")
    assert leftovers(killed) == []
