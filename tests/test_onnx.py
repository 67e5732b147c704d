"""`xmer export --onnx` and `--runtime onnx`: onnxruntime gives PyTorch's probabilities (max abs
difference <= 1e-4, float32) for every modality subset, on a toy-trained model with and without
translators, for short, long (shortened before attention) and padded inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install 'xmer[onnx]')")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install 'xmer[onnx]')")

from xmer.cli import main  # noqa: E402
from xmer.config import load_config  # noqa: E402
from xmer.data.contract import Sample, collate  # noqa: E402
from xmer.errors import DataError  # noqa: E402
from xmer.inference import Recognizer  # noqa: E402
from xmer.export.onnx import subsets  # noqa: E402
from xmer.onnx_runtime import OnnxRecognizer  # noqa: E402
from xmer.training.trainer import Trainer  # noqa: E402

TINY = ["model.d_model=16", "model.d_ff=16", "model.heads=2", "model.fusion_length=4", "model.max_encoder_steps=8",
        "translator.hidden=16", "translator.latent=8", "translator.step_disc_hidden=8",
        "data.toy.trimodal=24", "data.toy.bimodal=8", "data.toy.unimodal=8", "data.toy.valid=16", "data.toy.test=8",
        "data.batch_size=8", "train.progress=false", "train.epochs=1"]


@pytest.fixture(scope="module", params=[True, False], ids=["translators", "recogniser-alone"])
def exported(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    config = load_config(None, TINY + [f"translator.enabled={str(request.param).lower()}"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XMER_CACHE", str(root / "cache"))
        Trainer(config, root / "run").fit()
    assert main(["export", str(root / "run"), "--out", str(root / "model"), "--onnx"]) == 0
    return root / "model", request.param


def batch_for(subset, dims, rng, lengths):
    samples = [Sample(id=str(i), source="t", features={m: rng.normal(size=(n + 3 * j, dims[m])).astype(np.float32)
                                                       for j, m in enumerate(subset)}, label=0)
               for i, n in enumerate(lengths)]
    return collate(samples, list(dims), dims, 4, False)


def test_onnxruntime_matches_pytorch_for_every_subset(exported):
    folder, translators = exported
    manifest = json.loads((folder / "onnx" / "manifest.json").read_text())
    assert manifest["imagines"] is translators and manifest["max_abs_difference"] <= 1e-4
    torch_model, onnx_model = Recognizer.load(folder), OnnxRecognizer.load(folder)
    dims = torch_model.input_dims
    rng = np.random.default_rng(1)
    assert len(subsets(tuple(dims))) == len(manifest["subsets"]) == 7
    for subset in subsets(tuple(dims)):
        for lengths in ([5], [3, 30, 11]):  # one row; three rows padded to 36 steps, longer than max_encoder_steps=8
            batch = batch_for(subset, dims, rng, lengths)
            want, got = torch_model.scores(batch).numpy(), onnx_model.scores(batch).numpy()
            assert np.abs(want - got).max() <= 1e-4, (subset, lengths, np.abs(want - got).max())
    mixed = collate([Sample(id="a", source="t", features={"audio": rng.normal(size=(4, dims["audio"])).astype(np.float32)}, label=0),
                     Sample(id="b", source="t", features={"text": rng.normal(size=(9, dims["text"])).astype(np.float32)}, label=0)],
                    list(dims), dims, 4, False)  # rows with different modalities: each through its own graph
    assert np.abs(torch_model.scores(mixed).numpy() - onnx_model.scores(mixed).numpy()).max() <= 1e-4
    prediction = onnx_model.predict({"audio": rng.normal(size=(6, dims["audio"]))})
    assert prediction.imagined == (["visual", "text"] if translators else [])


def test_predict_and_serve_with_the_onnx_runtime(exported, tmp_path, capsys):
    folder, translators = exported
    if not translators:
        pytest.skip("one model is enough for the CLI and the server")
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "f.npz", audio=rng.normal(size=(12, 24)).astype(np.float32))
    outputs = []
    for runtime in ("torch", "onnx"):
        assert main(["predict", str(folder), "--features", str(tmp_path / "f.npz"), "--json", "--runtime", runtime]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0]["prediction"] == outputs[1]["prediction"] and outputs[0]["imagined"] == outputs[1]["imagined"]
    assert max(abs(outputs[0]["probabilities"][k] - outputs[1]["probabilities"][k]) for k in outputs[0]["labels"]) <= 1e-4
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from fastapi.testclient import TestClient

    from xmer.serving.app import create_app

    with TestClient(create_app(OnnxRecognizer.load(folder), model_dir=folder, runtime="onnx")) as client:
        assert client.get("/health").json()["runtime"] == "onnx"
        out = client.post("/predict", json={"features": {"audio": rng.normal(size=(5, 24)).tolist()}}).json()
        assert out["observed"] == ["audio"] and abs(sum(out["probabilities"].values()) - 1) < 1e-4


def test_a_folder_without_onnx_graphs_says_how_to_make_them(tmp_path):
    with pytest.raises(DataError, match="xmer export RUN --out .* --onnx"):
        OnnxRecognizer.load(tmp_path)
