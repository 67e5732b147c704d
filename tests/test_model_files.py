"""Model files are safe to open: every shipped model loads with pickle switched off, and weight files
are safetensors with their metadata as JSON (xmer.export.weights)."""

from __future__ import annotations

import json

import pickle

import numpy as np
import pytest
import torch

from xmer.errors import DataError
from xmer.features.frontend import ASSETS, load_frontend
from xmer.inference import DEFAULT_MODEL, Recognizer
from xmer.export.weights import load_weights, save_weights


@pytest.fixture
def no_pickle(monkeypatch):
    """Any attempt to unpickle (torch.load included, whatever ``weights_only``) fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was read while loading a model")

    for module, name in ((torch, "load"), (torch.serialization, "load"), (pickle, "load"), (pickle, "loads")):
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


def test_every_shipped_model_loads_without_pickle(no_pickle):
    shipped = sorted(p.relative_to(ASSETS).as_posix() for p in ASSETS.rglob("*") if p.is_file())
    assert not [p for p in shipped if p.endswith((".pt", ".pth", ".pkl", ".bin", ".ckpt"))], shipped
    members = json.loads((DEFAULT_MODEL / "ensemble.json").read_text())["members"]  # the default model is an ensemble
    assert {"visual_frontend.safetensors", "text_adapter.safetensors", "default_model/ensemble.json"} <= set(shipped)
    assert {f"default_model/members/{m}/model.safetensors" for m in members} <= set(shipped) and len(members) >= 2
    assert load_frontend().embed_dim == 128
    from xmer.features.text_adapter import load_adapter

    assert load_adapter()[1]["labels"] == list(Recognizer.load().labels)
    recognizer = Recognizer.load()  # the default model
    out = recognizer.predict({"audio": np.zeros((4, recognizer.input_dims["audio"]), np.float32)})
    assert out.observed == ["audio"] and abs(sum(out.probabilities.values()) - 1) < 1e-4
    pytest.importorskip("cv2")
    from xmer.features import get_extractor

    assert get_extractor("fer").id == recognizer.card["extractors"]["visual"]  # the id the model was made with


def test_weights_round_trip_with_json_metadata(tmp_path):
    tensors = {"a": torch.arange(6, dtype=torch.float16).reshape(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)}
    save_weights(tmp_path / "w.safetensors", tensors, {"config": {"d": 3, "names": ["x", "y"]}, "epoch": 4})
    loaded, meta = load_weights(tmp_path / "w.safetensors")
    assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)
    assert meta == {"config": {"d": 3, "names": ["x", "y"]}, "epoch": 4}
    (tmp_path / "plain.txt").write_text("x")  # a weights file gets the mode a plain write gives (umask), not 0600
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == (tmp_path / "plain.txt").stat().st_mode & 0o777


def test_foreign_or_broken_weight_files_are_named_errors(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(DataError, match="not found"):
        load_weights(tmp_path / "none.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}junk")
    with pytest.raises(DataError, match="junk.safetensors"):
        load_weights(tmp_path / "junk.safetensors")
    save_file({"a": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(DataError, match="not one xmer wrote"):
        load_weights(tmp_path / "other.safetensors")


def test_a_checkpoint_that_needs_code_to_load_is_refused(tmp_path):
    """A run folder's .pt is read with weights_only=True: a pickle that would call a function is refused."""
    import os

    from xmer.training.checkpoint import load_checkpoint

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    torch.save({"model": {}, "evil": Evil()}, tmp_path / "run" / "checkpoints" / "best.pt")
    with pytest.raises(DataError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert not (tmp_path / "pwned").exists()


def test_default_model_folder_is_the_export_format_with_a_hugging_face_card():
    from xmer.export.card import card_metadata

    assert (DEFAULT_MODEL / "ensemble.json").is_file() and not (DEFAULT_MODEL / "checkpoints").exists()
    assert all((DEFAULT_MODEL / "members" / m / "model.safetensors").is_file() for m in json.loads((DEFAULT_MODEL / "ensemble.json").read_text())["members"])
    meta = card_metadata(DEFAULT_MODEL)
    assert meta["license"] and "fer2013" in meta["datasets"] and {"accuracy", "f1"} <= set(meta["metrics"])
    results = meta["model-index"][0]["results"][0]["metrics"]
    measured = json.loads((DEFAULT_MODEL / "metrics.json").read_text())["accuracy"]
    assert results[0] == {"type": "accuracy", "value": round(100 * measured, 1)}  # the card states what was measured
