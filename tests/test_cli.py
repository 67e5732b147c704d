"""CLI contract: every registered command has help, predict prints the documented JSON for any
subset of modalities, and bad input ends in one clear line with exit status 2 (no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from xmer.cli import COMMANDS, main
from xmer.config import load_config
from xmer.inference import Recognizer
from xmer.training.trainer import Trainer

from test_training import TINY


def test_every_command_has_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"])
        assert exit_.value.code == 0
        assert name in capsys.readouterr().out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    mp = pytest.MonkeyPatch()
    mp.setenv("XMER_CACHE", str(root / "cache"))
    Trainer(load_config(None, TINY + ["train.epochs=2"]), root / "run").fit()
    yield root / "run"
    mp.undo()


@pytest.mark.parametrize("keys", [("visual", "audio", "text"), ("audio",), ("visual", "text")])
def test_predict_json_for_any_subset(run_dir, tmp_path, capsys, keys):
    dims = {"visual": 32, "audio": 24, "text": 50}
    rng = np.random.default_rng(0)
    path = tmp_path / "x.npz"
    np.savez(path, **{k: rng.normal(size=(7, dims[k])).astype(np.float32) for k in keys})
    assert main(["predict", str(run_dir), "--features", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"labels", "probabilities", "prediction", "observed", "imagined"}
    assert out["observed"] == list(keys) and out["prediction"] in out["labels"]
    assert sum(out["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    # each observed modality's own reading beside the fused one: the same as predicting from it alone
    assert list(out["by_modality"]) == list(keys)
    recognizer = Recognizer.load(run_dir)
    with np.load(path) as arrays:
        for m in keys:
            alone = recognizer.predict({m: arrays[m]})
            assert out["by_modality"][m]["prediction"] == alone.prediction
            assert out["by_modality"][m]["probabilities"] == pytest.approx(alone.probabilities, abs=2e-6)
    if len(keys) == 1:
        assert out["by_modality"][keys[0]]["probabilities"] == out["probabilities"]


@pytest.mark.parametrize(
    "arrays, fragment",
    [
        ({"audio": np.ones((3, 5))}, "audio.*\\(T, 24\\)"),
        ({"audio": np.full((3, 24), np.nan)}, "audio.*NaN"),
        ({"smell": np.ones((3, 24))}, "unknown modality.*smell"),
        ({"audio": np.array([["a"] * 24] * 3)}, "audio.*expected numbers, got an array of <U1"),
    ],
)
def test_predict_bad_features_file(run_dir, tmp_path, capsys, arrays, fragment):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    assert main(["predict", str(run_dir), "--features", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error" in err and str(path) in err
    import re

    assert re.search(fragment, err), err


def test_missing_and_unreadable_files_are_named(run_dir, tmp_path, capsys):
    assert main(["predict", str(run_dir), "--features", str(tmp_path / "nope.npz")]) == 2
    assert "nope.npz" in capsys.readouterr().err
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    assert main(["predict", str(run_dir), "--features", str(junk)]) == 2
    assert "junk.npz" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "no-run")]) == 2
    assert "no-run" in capsys.readouterr().err


def test_unknown_config_key_from_the_command_line(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--set", "train.epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "train.epoch" in err and "epochs" in err


def test_console_script_runs_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xmer.cli", "train", "--config", str(tmp_path / "missing.yaml"), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "missing.yaml" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--device", "nope"], "'nope' is not a torch device"),
    (["--runtime", "onnx", "--device", "cuda"], "the onnx runtime runs on the CPU"),
    (["runs/a", "--model", "runs/b"], "two models given: runs/a and --model runs/b"),
])
def test_the_model_options_are_checked_before_a_model_loads(args, fragment, capsys):
    assert main(["predict", *args, "--text", "hi"]) == 2
    assert fragment in capsys.readouterr().err


def test_a_device_this_machine_lacks_is_named():
    import torch

    from xmer.errors import ConfigError
    from xmer.runtime import load_recognizer

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="this machine's torch has no cuda device; use --device cpu"):
        load_recognizer(None, "torch", "cuda:1")


def test_the_same_model_is_given_positionally_or_with_model(run_dir, tmp_path, capsys):
    dims = Recognizer.load(run_dir).input_dims
    np.savez(tmp_path / "x.npz", **{m: np.ones((3, d), np.float32) for m, d in dims.items()})
    assert main(["predict", str(run_dir), "--features", str(tmp_path / "x.npz"), "--json"]) == 0
    positional = json.loads(capsys.readouterr().out)
    assert main(["predict", "--model", str(run_dir), "--features", str(tmp_path / "x.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == positional and positional["model"]["id"].startswith("run@")
