"""Per-source standardisation (data.standardise): each folder on its own moments in training, the
pooled moments in the model card for an input of unknown source, a source's own moments at prediction."""

import json

import numpy as np
import pytest

from xmer.config import load_config
from xmer.data.dataset import DatasetInfo, PreparedDataset
from xmer.data.mixing import open_sources
from xmer.data.moments import MIN_SOURCE_STEPS, MIN_STD, Moments, source_moments
from xmer.data.store import ChunkWriter, building, write_manifest
from xmer.errors import ConfigError, DataError
from xmer.inference import Recognizer
from xmer.training.trainer import Trainer

EKMAN = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def make(root, records, dims, offset=0.0, scale=1.0, seed=0):
    """A prepared folder whose audio features are ``offset + scale * N(0, 1)`` plus a class signal."""
    rng = np.random.default_rng(seed)
    with building(root) as tmp:
        for m, dim in dims.items():
            with ChunkWriter(tmp / "features", m, dim) as w:
                for r in records:
                    if m in r["modalities"]:
                        signal = np.zeros(dim)
                        signal[EKMAN.index(r["label"]) % dim] = 3.0
                        shift = offset if m == "audio" else 0.0
                        w.add(r["id"], shift + scale * (rng.normal(size=(2, dim)) + signal))
        write_manifest(tmp / "manifest.jsonl", records)
        info = DatasetInfo(name=root.name, labels=EKMAN, multi_label=False, label_space="ekman7", synthetic=True)
        (tmp / "dataset.json").write_text(json.dumps(info.to_json({})))
    return str(root)


def rec(i, split, modalities, source):
    return {"id": f"{source}-{split}-{i}", "split": split, "source": source, "label": EKMAN[i % 7], "modalities": modalities}


@pytest.fixture
def two_sources(tmp_path):
    """A trimodal primary whose audio sits near 0, and an audio-only corpus far from it (offset 50, spread 10)."""
    tri = ["visual", "audio", "text"]
    primary = make(tmp_path / "primary", [rec(i, s, tri, "p") for s in ("train", "valid", "test") for i in range(21)],
                   {"visual": 4, "audio": 7, "text": 3})
    far = make(tmp_path / "far", [rec(i, "train", ["audio"], "f") for i in range(42)], {"audio": 7}, offset=50.0, scale=10.0, seed=1)
    return primary, far


def test_moments_match_numpy_and_pool_each_source_once():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 3)), rng.normal(2.0, 3.0, size=(7, 3))
    m = Moments.of([a, b])
    both = np.concatenate([a, b])
    assert np.allclose(m.mean, both.mean(0), atol=1e-5) and np.allclose(m.std, both.std(0), atol=1e-5) and m.steps == 12
    assert np.allclose(m.apply(both).mean(0), 0, atol=1e-5) and np.allclose(m.apply(both).std(0), 1, atol=1e-4)
    pooled = Moments.pooled([Moments.of([a]), Moments.of([b])])
    assert np.allclose(pooled.mean, (a.mean(0) + b.mean(0)) / 2, atol=1e-5)
    assert np.allclose(pooled.std, np.sqrt((a.std(0) ** 2 + b.std(0) ** 2) / 2), atol=1e-5)
    constant = Moments.of([np.ones((4, 2))])
    assert (constant.std == np.float32(MIN_STD)).all() and np.isfinite(constant.apply(np.ones((1, 2)))).all()
    again = Moments.from_json(json.loads(json.dumps(m.to_json())))
    assert np.array_equal(again.mean, m.mean) and np.array_equal(again.std, m.std)  # exactly: workers read what the driver has
    with pytest.raises(DataError, match="std > 0"):
        Moments.from_json({"mean": [0.0, 1.0], "std": [1.0, 0.0]})
    with pytest.raises(DataError, match="size 3 cannot be standardised with moments of size 2"):
        constant.apply(np.zeros((1, 3)))


def test_each_folder_is_standardised_on_its_own_training_moments(two_sources):
    primary, far = two_sources
    mixed = open_sources([{"dataset": primary, "role": "primary"}, {"dataset": far}], standardise=["audio"])
    train = mixed.split("train")
    for source in ("p", "f"):
        audio = np.concatenate([mixed.sample(r).features["audio"] for r in train if r["source"] == source])
        assert np.allclose(audio.mean(0), 0, atol=1e-4) and np.allclose(audio.std(0), 1, atol=1e-3)
    raw = PreparedDataset.open(primary)
    record = raw.split("train")[0]
    assert np.array_equal(mixed.sample({**record, "_part": 0}).features["visual"], raw.sample(record).features["visual"])
    pooled = mixed.pooled_moments()["audio"]
    p_mean, f_mean = (PreparedDataset.open(d).standardise(["audio"]).moments["audio"].mean for d in (primary, far))
    assert np.allclose(pooled.mean, (p_mean + f_mean) / 2, atol=1e-4)
    assert list(mixed.pooled_moments()) == ["audio"]
    assert open_sources([{"dataset": primary, "role": "primary"}, {"dataset": far}]).pooled_moments() == {}


def test_a_share_of_each_epoch_is_read_as_from_an_unknown_source(two_sources):
    primary, far = two_sources
    mixed = open_sources([{"dataset": primary, "role": "primary"}, {"dataset": far}], standardise=["audio"], unknown_source=0.5)
    drawn = mixed.epoch(mixed.split("train"), seed=3)
    unknown = [r for r in drawn if r.get("_unknown_source")]
    assert 0.3 < len(unknown) / len(drawn) < 0.7 and mixed.epoch(mixed.split("train"), seed=3) == drawn
    record = next(r for r in unknown if r["source"] == "f")
    raw = PreparedDataset.open(far).read_features(record)["audio"]
    assert np.allclose(mixed.sample(record).features["audio"], mixed.pooled_moments()["audio"].apply(raw), atol=1e-5)
    own = {k: v for k, v in record.items() if k != "_unknown_source"}
    assert np.allclose(mixed.sample(own).features["audio"], mixed.parts[1].moments["audio"].apply(raw), atol=1e-5)
    plain = open_sources([{"dataset": primary, "role": "primary"}, {"dataset": far}], unknown_source=0.5)
    assert not any(r.get("_unknown_source") for r in plain.epoch(plain.split("train"), seed=3))  # nothing standardised


def test_a_model_reads_an_input_with_its_sources_moments_or_the_pooled_ones(two_sources, tmp_path):
    primary, far = two_sources
    config = load_config(None, ["train.epochs=2", "train.progress=false", "model.d_model=16", "model.d_ff=16",
                                "data.standardise=[audio]",
                                f"data.sources=[{{dataset: {primary}, role: primary}}, {{dataset: {far}}}]"])
    Trainer(config, tmp_path / "run").fit()
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert set(card["standardise"]) == {"audio"} and len(card["standardise"]["audio"]["mean"]) == 7
    recognizer = Recognizer.load(tmp_path / "run")
    rng = np.random.default_rng(5)
    clips = [{"audio": rng.normal(size=(1, 7))} for _ in range(MIN_SOURCE_STEPS)]
    # A single input is read with the pooled moments: the same as giving them as the source's.
    alone = recognizer.predict(clips[0])
    pooled = recognizer.predict_many(clips[:1], source={"audio": recognizer.moments["audio"]})[0]
    assert alone.probabilities == pooled.probabilities
    # A collection from one source is read with its own moments: moving the whole source (another
    # microphone, another room) changes nothing.
    moved = [{"audio": 40.0 + 7.0 * c["audio"]} for c in clips]
    here = recognizer.predict_many(clips, source=recognizer.source_moments(clips))
    there = recognizer.predict_many(moved, source=recognizer.source_moments(moved))
    for a, b in zip(here, there):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-4)
    # ... while read as single clips, the moved ones are read differently.
    assert any(recognizer.predict(m).probabilities != pytest.approx(h.probabilities, abs=1e-4) for m, h in zip(moved, here))
    # Too few steps say too little about a source: the pooled moments serve.
    assert recognizer.source_moments(clips[: MIN_SOURCE_STEPS - 1]) == {}
    assert source_moments(clips, ["text"]) == {}
    # Exported, the model folder standardises the same way in both runtimes.
    pytest.importorskip("onnxruntime")
    from xmer.cli import main
    from xmer.onnx_runtime import OnnxRecognizer

    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "model"), "--onnx"]) == 0
    for runtime in (Recognizer.load(tmp_path / "model"), OnnxRecognizer.load(tmp_path / "model")):
        got = runtime.predict_many(moved, source=runtime.source_moments(moved))
        assert all(a.probabilities == pytest.approx(b.probabilities, abs=1e-4) for a, b in zip(got, there))
        assert runtime.predict(moved[0]).probabilities == pytest.approx(recognizer.predict(moved[0]).probabilities, abs=1e-4)


def test_another_folder_is_evaluated_on_its_own_moments(two_sources, tmp_path):
    """``xmer evaluate RUN --data DIR`` (and calibration on DIR) reads DIR as one source, as training
    read each folder: the same answers as predicting its records with DIR's moments as their source."""
    from xmer.scoring import evaluate_run

    primary, far = two_sources
    config = load_config(None, ["train.epochs=2", "train.progress=false", "model.d_model=16", "model.d_ff=16",
                                "data.standardise=[audio]", f"data.sources=[{{dataset: {primary}, role: primary}}, {{dataset: {far}}}]"])
    Trainer(config, tmp_path / "run").fit()
    other = make(tmp_path / "other", [rec(i, s, ["audio"], "o") for s in ("train", "test") for i in range(21)], {"audio": 7},
                 offset=-30.0, scale=4.0, seed=2)
    metrics = evaluate_run(tmp_path / "run", split="test", subsets=False, dataset=other)
    data = PreparedDataset.open(other)
    own = data.standardise(["audio"]).moments["audio"]
    records = data.split("test")
    recognizer = Recognizer.load(tmp_path / "run")
    raw = [{"audio": PreparedDataset.open(other).read_features(r)["audio"]} for r in records]
    predicted = recognizer.predict_many(raw, source={"audio": own})
    confusion = np.zeros((7, 7), int)
    for p, r in zip(predicted, records):
        confusion[EKMAN.index(r["label"]), EKMAN.index(p.prediction)] += 1
    assert np.array_equal(np.asarray(metrics["confusion_matrix"]), confusion)


def test_standardise_names_modalities(tmp_path):
    with pytest.raises(ConfigError, match="data.standardise': unknown modality 'voice'"):
        load_config(None, ["data.standardise=[voice]"])
