"""Ensembles (`xmer export RUN RUN ... --out DIR`, `xmer.models.ensemble.Ensemble`): one model
folder whose predictions are the mean of its members' calibrated probabilities."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xmer.cli import main
from xmer.config import load_config
from xmer.errors import DataError
from xmer.export.folders import export_ensemble
from xmer.inference import Recognizer
from xmer.training.trainer import Trainer

TINY = ["model.d_model=16", "model.d_ff=16", "model.heads=2", "model.fusion_length=4", "model.max_encoder_steps=8",
        "translator.hidden=16", "translator.latent=8", "translator.step_disc_hidden=8",
        "data.toy.trimodal=24", "data.toy.bimodal=8", "data.toy.unimodal=8", "data.toy.valid=16", "data.toy.test=8",
        "data.batch_size=8", "train.progress=false", "train.epochs=1"]


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XMER_CACHE", str(root / "cache"))
        for seed in (1, 2):
            Trainer(load_config(None, TINY + [f"train.seed={seed}"]), root / f"run{seed}").fit()
    assert main(["export", str(root / "run1"), str(root / "run2"), "--out", str(root / "model")]) == 0
    return root


def inputs(recognizer: Recognizer) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    full = {m: rng.standard_normal((5, d)).astype(np.float32) for m, d in recognizer.input_dims.items()}
    return [full, {"text": full["text"]}, {"visual": full["visual"][:2], "audio": full["audio"]}]


def test_an_ensemble_predicts_the_mean_of_its_members(ensemble):
    model = Recognizer.load(ensemble / "model")
    card = json.loads((ensemble / "model" / "model.json").read_text())
    temperature = card["temperature"]  # of the average, fitted on the toy set's validation split at export
    assert model.model.temperature == temperature and card["calibration"]["split"] == "valid"
    members = [Recognizer.load(ensemble / "model" / "members" / name) for name in ("0", "1")]
    for item in inputs(model):
        together = model.predict(item)
        alone = [m.predict(item) for m in members]
        mean = np.array([np.mean([a.probabilities[label] for a in alone]) for label in model.labels])
        expected = np.exp(np.log(mean) / temperature) / np.exp(np.log(mean) / temperature).sum()
        assert [together.probabilities[label] for label in model.labels] == pytest.approx(expected, abs=2e-5)
        assert together.observed == alone[0].observed and together.imagined == alone[0].imagined
    assert json.loads((ensemble / "model" / "ensemble.json").read_text())["members"] == ["0", "1"]
    assert "## Ensemble" in (ensemble / "model" / "MODEL_CARD.md").read_text()


def test_the_cli_predicts_with_an_ensemble_folder(ensemble, tmp_path, capsys):
    model = Recognizer.load(ensemble / "model")
    np.savez(tmp_path / "f.npz", **inputs(model)[0])
    capsys.readouterr()
    assert main(["predict", str(ensemble / "model"), "--features", str(tmp_path / "f.npz"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["probabilities"] == pytest.approx(model.predict(inputs(model)[0]).probabilities, abs=1e-6)


def test_members_of_other_labels_are_refused_and_one_run_is_not_an_ensemble(ensemble, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(ensemble / "model", copy)
    card = json.loads((copy / "members" / "1" / "model.json").read_text())
    card["labels"] = card["labels"][::-1]
    (copy / "members" / "1" / "model.json").write_text(json.dumps(card))
    with pytest.raises(DataError, match="member 1 has other labels"):
        Recognizer.load(copy)
    with pytest.raises(DataError, match="at least two runs"):
        export_ensemble([ensemble / "run1"], tmp_path / "one")
    (copy / "ensemble.json").write_text('{"members": ["../../run1"]}')
    with pytest.raises(DataError, match="expected"):
        Recognizer.load(copy)


def test_an_ensemble_exports_to_onnx_and_predicts_there_as_in_pytorch(ensemble, tmp_path):
    pytest.importorskip("onnxruntime")
    from xmer.onnx_runtime import OnnxRecognizer

    assert main(["export", str(ensemble / "run1"), str(ensemble / "run2"), "--out", str(tmp_path / "m"), "--onnx"]) == 0
    torch_model, onnx_model = Recognizer.load(tmp_path / "m"), OnnxRecognizer.load(tmp_path / "m")
    for item in inputs(torch_model):
        expected, got = torch_model.predict(item), onnx_model.predict(item)
        assert got.probabilities == pytest.approx(expected.probabilities, abs=1e-5)
        assert got.imagined == expected.imagined


def test_an_ensemble_folder_is_evaluated_as_a_whole(ensemble, tmp_path):
    import shutil

    from xmer.scoring import evaluate_run

    shutil.copytree(ensemble / "model", tmp_path / "model")
    metrics = evaluate_run(tmp_path / "model", "test")
    assert 0 <= metrics["accuracy"] <= 1 and len(metrics["subsets"]) == 7
    assert "subsets_left_out" not in metrics and "translation" not in metrics  # per-member diagnostics only
    assert (tmp_path / "model" / "report.md").is_file()


def test_evaluating_on_another_dataset_keeps_the_models_own_scores(ensemble, tmp_path):
    """``evaluate --data DIR`` writes metrics_<split>_<DIR name>.json: the model's own metrics.json stays."""
    import shutil

    from xmer.scoring import evaluate_run

    shutil.copytree(ensemble / "model", tmp_path / "model")
    own = evaluate_run(tmp_path / "model", "test")
    before = (tmp_path / "model" / "metrics.json").read_bytes()
    toy = next((ensemble / "cache" / "toy").iterdir())  # the prepared toy set the runs trained on
    shutil.copytree(toy, tmp_path / "other")
    other = evaluate_run(tmp_path / "model", "test", dataset=str(tmp_path / "other"))  # the case that overwrote it
    assert (tmp_path / "model" / "metrics.json").read_bytes() == before and own["split"] == "test"
    assert json.loads((tmp_path / "model" / "metrics_test_other.json").read_text())["accuracy"] == other["accuracy"]
    assert (tmp_path / "model" / "report_test_other.md").is_file()


def test_exporting_an_ensemble_folder_copies_it_and_onnx_needs_its_graphs(ensemble, tmp_path, capsys):
    assert main(["export", str(ensemble / "model"), "--out", str(tmp_path / "again")]) == 0
    assert "copied the ensemble" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(p.name for p in (ensemble / "model").iterdir())
    item = inputs(Recognizer.load(ensemble / "model"))[0]
    assert Recognizer.load(tmp_path / "again").predict(item).probabilities == Recognizer.load(ensemble / "model").predict(item).probabilities
    pytest.importorskip("onnxruntime")
    from xmer.onnx_runtime import OnnxRecognizer

    with pytest.raises(DataError, match="has no ONNX model"):
        OnnxRecognizer.load(ensemble / "model")


def test_an_ensemble_that_cannot_be_calibrated_is_refused_saying_where_it_looked(tmp_path, capsys, monkeypatch):
    import shutil

    from xmer.data.toy import toy_dataset_path

    work = tmp_path / "work"
    monkeypatch.setenv("XMER_CACHE", str(tmp_path / "cache"))
    shutil.copytree(toy_dataset_path(load_config(None, TINY).data.toy), work / "data" / "toyset")
    monkeypatch.chdir(work)  # trained with a dataset path relative to this folder
    for seed in (1, 2):
        Trainer(load_config(None, TINY + [f"train.seed={seed}", "data.dataset=data/toyset"]), work / f"run{seed}").fit()
    runs = [str(work / "run1"), str(work / "run2")]
    monkeypatch.chdir(tmp_path)  # exported from another folder
    assert main(["export", *runs, "--out", "model"]) == 2
    error = capsys.readouterr().err
    assert "cannot calibrate the ensemble on data/toyset" in error and "--calibration-data DIR" in error
    assert not (tmp_path / "model").exists()
    assert main(["export", *runs, "--out", "model", "--no-calibration"]) == 0
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert "temperature" not in card and "calibration" not in card  # not the first member's own
    assert Recognizer.load(tmp_path / "model").model.temperature == 1.0
    assert main(["export", *runs, "--out", "given", "--calibration-data", "work/data/toyset"]) == 0
    monkeypatch.chdir(work)
    assert main(["export", *runs, "--out", "here"]) == 0
    assert json.loads((tmp_path / "given" / "model.json").read_text())["temperature"] == pytest.approx(
        json.loads((work / "here" / "model.json").read_text())["temperature"])
