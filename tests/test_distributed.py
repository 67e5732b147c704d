"""Data-parallel training with torchrun: two CPU ranks (Gloo) train one run that stays in sync."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from xmer.training.distributed import Context, average_gradients, shard

TORCHRUN = Path(sys.executable).with_name("torchrun")


def test_shards_cover_every_record_and_are_equal_in_length():
    records = [{"id": str(i)} for i in range(11)]
    shards = [shard(records, Context(rank, 3), seed=7) for rank in range(3)]
    assert {len(s) for s in shards} == {4}  # 11 padded to 12 by wrapping around
    assert {r["id"] for s in shards for r in s} == {str(i) for i in range(11)}
    assert shard(records, Context(), seed=7) == records  # one process: all, in order
    assert shard(records, Context(0, 3), seed=8) != shards[0]  # a new permutation every epoch


def test_average_gradients_is_a_no_op_in_one_process():
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    average_gradients([p], Context())
    assert torch.equal(p.grad, torch.full((3,), 2.0))


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun not installed beside this Python")
def test_torchrun_two_ranks_train_one_run_in_sync(tmp_path, monkeypatch):
    from xmer.config import load_config
    from xmer.data.from_config import open_dataset

    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    overrides = [
        "train.epochs=2", "train.threads=1", "train.progress=false", "translator.enabled=true",
        "data.toy.trimodal=64", "data.toy.bimodal=16", "data.toy.unimodal=16", "data.toy.valid=32",
        "data.toy.test=32", "data.batch_size=16", "model.d_model=32", "model.d_ff=32", "translator.hidden=32",
        "translator.latent=16", "method.recognizer_steps_per_translator_step=2",
    ]
    n_train = len(open_dataset(load_config(None, overrides)).split("train"))
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "xmer", "train", "--out", str(out)]
    command += [arg for key in overrides for arg in ("--set", key)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run folder:") == 1  # rank 0 speaks for the run
    history = json.loads((out / "history.json").read_text())
    assert [e["epoch"] for e in history] == [1, 2]
    # each rank took the steps of its half of the training samples
    payload = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert payload["state"]["step"] == 2 * math.ceil(math.ceil(n_train / 2) / 16)
    assert payload["state"]["translator_steps"] == payload["state"]["step"] // 2
    # the run evaluates and predicts like any other
    from xmer.cli import main

    assert main(["evaluate", str(out), "--split", "test", "--no-subsets"]) == 0
    shutil.rmtree(out)


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun not installed beside this Python")
def test_replicas_that_drift_apart_stop_the_run(tmp_path, monkeypatch):
    """Without the gradient all-reduce the ranks diverge, and the per-epoch check says so."""
    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    script = tmp_path / "unsynced.py"
    script.write_text(
        "import sys\n"
        "import xmer.training.trainer as trainer\n"
        "trainer.average_gradients = lambda parameters, context: None  # break the sync on purpose\n"
        "from xmer.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    overrides = ["train.epochs=1", "train.threads=1", "train.progress=false", "data.toy.trimodal=32",
                 "data.toy.bimodal=8", "data.toy.unimodal=8", "data.toy.valid=16", "data.toy.test=16",
                 "data.batch_size=16", "model.d_model=32", "model.d_ff=32"]
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", str(script), "train", "--out", str(tmp_path / "run")]
    command += [arg for key in overrides for arg in ("--set", key)]
    done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "replicas out of sync" in done.stderr


# ---------------------------------------------------------------------------------------------------
# Weighted sources: the epoch is drawn once, the same on every rank, then sharded


def _weighted_sources(cache: Path) -> list[dict]:
    """A primary toy set and an auxiliary one drawn at weight 0.5 (a fresh random half every epoch)."""
    from xmer.config import ToyConfig
    from xmer.data.toy import toy_dataset_path

    sizes = dict(trimodal=40, bimodal=9, unimodal=9, valid=16, test=16)
    primary = toy_dataset_path(ToyConfig(seed=0, **sizes))
    auxiliary = toy_dataset_path(ToyConfig(seed=1, **sizes))
    return [{"dataset": str(primary), "role": "primary"}, {"dataset": str(auxiliary), "weight": 0.5}]


def test_ranks_of_a_weighted_mixture_take_the_same_number_of_steps(tmp_path, monkeypatch):
    from xmer.data.mixing import open_sources

    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    mixed = open_sources(_weighted_sources(tmp_path / "cache"))
    train, batch = mixed.split("train"), 8
    uneven = 0
    for seed in range(20):
        steps = [math.ceil(len(shard(mixed.epoch(train, seed), Context(rank, 2), seed)) / batch) for rank in (0, 1)]
        assert steps[0] == steps[1], seed
        # what the ranks did before: each drew its own epoch from its own shard
        before = [math.ceil(len(mixed.epoch(shard(train, Context(rank, 2), seed), seed)) / batch) for rank in (0, 1)]
        uneven += before[0] != before[1]
    assert uneven  # the old order (shard, then draw) desynchronises the ranks for some epochs


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun not installed beside this Python")
def test_torchrun_two_ranks_with_weighted_sources_stay_in_step(tmp_path, monkeypatch):
    """Before the epoch was drawn once, this run hung or crashed in the gradient all-reduce."""
    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    sources = json.dumps(_weighted_sources(tmp_path / "cache"))
    out = tmp_path / "run"
    overrides = ["train.epochs=3", "train.threads=1", "train.progress=false", "data.batch_size=8",
                 "model.d_model=16", "model.d_ff=16", f"data.sources={sources}"]
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "xmer", "train", "--out", str(out)]
    command += [arg for key in overrides for arg in ("--set", key)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XMER_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [e["epoch"] for e in json.loads((out / "history.json").read_text())] == [1, 2, 3]  # in sync every epoch
