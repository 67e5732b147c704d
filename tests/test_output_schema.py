"""One JSON for every prediction: the CLI, a batch line and the server say the same, with the schema
version, the model's id and its extractors, and ``prediction`` always one label (docs/output.md)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from xmer.cli import main
from xmer.inference import DEFAULT_MODEL, Recognizer, model_folder_id
from xmer.schema import SCHEMA_VERSION

TEXT = "I can't believe they cancelled it again"


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer.load()


def test_every_entry_point_writes_one_schema(recognizer, tmp_path, capsys):
    direct = recognizer.predict_media(text=TEXT).to_json()
    assert list(direct)[:2] == ["schema_version", "labels"] and direct["schema_version"] == SCHEMA_VERSION
    assert direct["model"] == {"id": recognizer.model_id, "extractors": recognizer.card["extractors"]}
    assert recognizer.model_id.startswith("default@") and len(recognizer.model_id) == len("default@") + 12
    assert isinstance(direct["prediction"], str) and "predicted_labels" not in direct

    assert main(["predict", "--text", TEXT, "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"id": "a", "text": TEXT}) + "\n")
    assert main(["predict", "--batch", str(items), "--out", str(tmp_path / "out.jsonl")]) == 0
    line = json.loads((tmp_path / "out.jsonl").read_text())
    assert line.pop("id") == "a"
    assert cli == direct == line

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from xmer.serving.app import create_app

    with TestClient(create_app(recognizer, model_dir=DEFAULT_MODEL, warm_up=False)) as client:
        served = client.post("/predict", json={"text": TEXT}).json()
    assert served == direct


def test_a_model_id_names_the_folder_and_follows_its_files(tmp_path):
    copy = tmp_path / "mine"
    shutil.copytree(DEFAULT_MODEL, copy)
    original = model_folder_id(DEFAULT_MODEL)
    assert model_folder_id(copy) == original.replace("default@", "mine@")  # the same files: the same hash
    (copy / "MODEL_CARD.md").write_text("edited")  # not a model file
    assert model_folder_id(copy) == original.replace("default@", "mine@")
    card = json.loads((copy / "model.json").read_text())
    card["temperature"] = 2.0  # another calibration predicts otherwise: another id
    (copy / "model.json").write_text(json.dumps(card))
    assert model_folder_id(copy) != original.replace("default@", "mine@")


def test_a_multi_label_model_gives_one_label_and_the_labels_over_half(recognizer, monkeypatch):
    monkeypatch.setattr(recognizer, "multi_label", True)
    rng = np.random.default_rng(0)
    out = recognizer.predict({"text": rng.normal(size=(1, recognizer.input_dims["text"])).astype(np.float32)})
    assert isinstance(out.prediction, str) and out.prediction == max(out.probabilities, key=out.probabilities.get)
    assert out.predicted_labels == [l for l, p in out.probabilities.items() if p > 0.5]
    assert "predicted_labels" in out.to_json()
