"""Several prepared datasets in one run: roles, label mapping, feature-size checks and weights."""

import json

import numpy as np
import pytest

from xmer.config import load_config
from xmer.data.dataset import DatasetInfo
from xmer.data.mixing import open_sources
from xmer.data.store import ChunkWriter, building, write_manifest
from xmer.errors import ConfigError, DataError
from xmer.training.trainer import Trainer

EKMAN = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
RAVDESS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")


def make(root, space, labels, records, dims):
    rng = np.random.default_rng(0)
    with building(root) as tmp:
        for m, dim in dims.items():
            with ChunkWriter(tmp / "features", m, dim) as w:
                for r in records:
                    if m in r["modalities"]:
                        w.add(r["id"], rng.normal(size=(3, dim)))
        write_manifest(tmp / "manifest.jsonl", records)
        info = DatasetInfo(name=root.name, labels=labels, multi_label=False, label_space=space, synthetic=True)
        (tmp / "dataset.json").write_text(json.dumps(info.to_json({})))
    return str(root)


def rec(i, split, label, modalities, source):
    return {"id": f"{source}-{split}-{i}", "split": split, "source": source, "label": label, "modalities": modalities}


@pytest.fixture
def two_sets(tmp_path):
    tri = ["visual", "audio", "text"]
    primary = make(tmp_path / "primary", "ekman7", EKMAN,
                   [rec(i, s, EKMAN[i % 7], tri, "p") for s in ("train", "valid", "test") for i in range(14)],
                   {"visual": 4, "audio": 3, "text": 2})
    aux = make(tmp_path / "aux", "ravdess8", RAVDESS,
               [rec(i, "train", RAVDESS[i % 8], ["audio"], "r") for i in range(16)] + [rec(99, "test", "calm", ["audio"], "r")],
               {"audio": 3})
    return primary, aux


def test_auxiliary_labels_are_mapped_and_unmappable_ones_dropped(two_sets):
    primary, aux = two_sets
    mixed = open_sources([{"dataset": primary, "role": "primary"}, {"dataset": aux, "weight": 1.0}])
    train = mixed.split("train")
    aux_train = [r for r in train if r["source"] == "r"]
    assert len(aux_train) == 14  # 16 minus the two 'calm' clips
    assert {r["label"] for r in aux_train} <= set(EKMAN) and "fear" in {r["label"] for r in aux_train}
    assert sum(mixed.dropped[aux].values()) == 2
    assert all(r["source"] == "p" for r in mixed.split("test"))  # auxiliary sets never reach valid/test
    batch = next(mixed.batches(train, 64))
    assert len(batch) == 28 and not batch.present["visual"][-1] and batch.present["audio"][-1]


def test_weights_resample_per_epoch(two_sets):
    primary, aux = two_sets
    mixed = open_sources([{"dataset": primary, "role": "primary", "weight": 2}, {"dataset": aux, "weight": 0.5}])
    train = mixed.split("train")
    sizes = [sum(len(b) for b in mixed.batches(mixed.epoch(train, s), 8, shuffle_seed=s)) for s in range(20)]
    assert all(28 <= n <= 28 + 14 for n in sizes) and np.mean(sizes) == pytest.approx(28 + 7, abs=2)
    ids = lambda s: [i for b in mixed.batches(mixed.epoch(train, s), 8, shuffle_seed=s) for i in b.ids]  # noqa: E731
    assert ids(3) == ids(3) and ids(3) != ids(4)


def test_per_epoch_and_class_balance_set_each_sources_share(two_sets, tmp_path):
    primary, _ = two_sets
    # An auxiliary set of 40 samples, 36 happy and 4 sad: drawn 20 per epoch, half of them sad.
    skewed = make(tmp_path / "skewed", "ekman7", EKMAN,
                  [rec(i, "train", "happy" if i < 36 else "sad", ["audio"], "k") for i in range(40)], {"audio": 3})
    mixed = open_sources([{"dataset": primary, "role": "primary"},
                          {"dataset": skewed, "per_epoch": 20, "balance_classes": True}])
    train = mixed.split("train")
    drawn = [r for s in range(200) for r in mixed.epoch(train, s) if r["source"] == "k"]
    assert len(drawn) / 200 == pytest.approx(20, rel=0.05)
    sad = sum(r["label"] == "sad" for r in drawn) / len(drawn)
    assert sad == pytest.approx(0.5, abs=0.05)  # 10 a epoch from 4 samples: each sad one 2.5 times
    with pytest.raises(ConfigError, match="not both"):
        open_sources([{"dataset": primary, "role": "primary"}, {"dataset": skewed, "per_epoch": 5, "weight": 1}])
    with pytest.raises(ConfigError, match="per_epoch"):
        open_sources([{"dataset": primary, "role": "primary"}, {"dataset": skewed, "per_epoch": -1}])


def test_bad_source_lists(two_sets, tmp_path):
    primary, aux = two_sets
    with pytest.raises(ConfigError, match="exactly one primary"):
        open_sources([{"dataset": aux}])
    with pytest.raises(ConfigError, match="unknown key 'wieght'"):
        open_sources([{"dataset": primary, "role": "primary"}, {"dataset": aux, "wieght": 1}])
    with pytest.raises(ConfigError, match="role"):
        open_sources([{"dataset": primary, "role": "main"}])
    other = make(tmp_path / "other", "ekman7", EKMAN, [rec(0, "train", "happy", ["audio"], "o")], {"audio": 5})
    with pytest.raises(DataError, match="audio features are 5-dim.*3-dim"):
        open_sources([{"dataset": primary, "role": "primary"}, {"dataset": other}])


def test_a_run_trains_on_mixed_sources(two_sets, tmp_path):
    primary, aux = two_sets
    config = load_config(None, ["train.epochs=1", "train.progress=false", "model.d_model=16", "model.d_ff=16",
                                f"data.sources=[{{dataset: {primary}, role: primary}}, {{dataset: {aux}, weight: 0.5}}]"])
    trainer = Trainer(config, tmp_path / "run")
    trainer.fit()
    assert any(r["source"] == "r" for r in trainer.train_records)


def test_compose_pairs_unimodal_samples_of_one_class_into_trimodal_ones(tmp_path):
    dims = {"visual": 4, "audio": 3, "text": 2}
    tri = ["visual", "audio", "text"]
    primary = make(tmp_path / "primary", "ekman7", EKMAN,
                   [rec(i, s, EKMAN[i % 7], tri, "p") for s in ("train", "valid", "test") for i in range(14)], dims)
    faces = make(tmp_path / "faces", "ekman7", EKMAN, [rec(i, "train", EKMAN[i % 3], ["visual"], "f") for i in range(30)],
                 {"visual": 4})
    voices = make(tmp_path / "voices", "ekman7", EKMAN, [rec(i, "train", EKMAN[i % 4], ["audio"], "v") for i in range(30)],
                  {"audio": 3})
    texts = make(tmp_path / "texts", "ekman7", EKMAN, [rec(i, "train", EKMAN[i % 7], ["text"], "t") for i in range(30)],
                 {"text": 2})
    mixed = open_sources([{"dataset": primary, "role": "primary"}, {"dataset": faces}, {"dataset": voices},
                          {"dataset": texts}], compose_per_epoch=50)
    train = mixed.split("train")
    epoch = mixed.epoch(train, 3)
    composed = [r for r in epoch if r["source"] == "composed"]
    assert len(composed) == 50 and len(epoch) == len(train) + 50
    for r in composed:
        parts = r["_compose"]
        assert sorted(parts, key=("visual", "audio", "text").index) == tri
        assert {p["label"] for p in parts.values()} == {r["label"]} and r["label"] in EKMAN[:3]  # classes all three have
        sample = mixed.sample(r)
        by_part = {m: mixed.parts[p["_part"]].read_features(p)[m] for m, p in parts.items()}
        assert all(np.array_equal(sample.features[m], by_part[m]) for m in tri)
    assert [r["id"] for r in composed] == [r["id"] for r in mixed.epoch(train, 3) if r["source"] == "composed"]
    assert len({r["id"] for r in composed}) > 30  # drawn afresh, not one triple repeated
    batch = next(mixed.batches(composed, 16))
    assert all(bool(batch.present[m].all()) for m in tri)


def test_composed_triples_can_hold_neutral_modalities_beside_the_emotion():
    """compose(neutral_rate=r): about r of the non-neutral triples take one or two modalities from
    neutral samples, keep at least one of their class, and keep that class as their label."""
    from xmer.data.mixing import compose

    pool = [{"id": f"{m}{i}", "label": EKMAN[i % 7], "modalities": [m]} for m in ("visual", "audio", "text") for i in range(70)]
    rng = np.random.default_rng(0)
    triples = compose(pool, 2000, rng, neutral_rate=0.4)
    mixed, quiet_counts, quiet_modalities = 0, set(), set()
    for t in triples:
        labels = {m: r["label"] for m, r in t["_compose"].items()}
        if t["label"] == "neutral":
            assert set(labels.values()) == {"neutral"}
            continue
        quiet = {m for m, label in labels.items() if label == "neutral"}
        assert set(labels.values()) - {"neutral"} == {t["label"]} and len(quiet) < 3  # one modality at least shows it
        if quiet:
            mixed += 1
            quiet_counts.add(len(quiet))
            quiet_modalities |= quiet
    emotional = sum(t["label"] != "neutral" for t in triples)
    assert 0.35 < mixed / emotional < 0.45 and quiet_counts == {1, 2} and quiet_modalities == {"visual", "audio", "text"}
    agreeing = compose(pool, 300, np.random.default_rng(0))  # the default: modalities always agree
    assert all({r["label"] for r in t["_compose"].values()} == {t["label"]} for t in agreeing)


def test_neutral_composition_needs_a_neutral_class(tmp_path):
    dims = {"visual": 4, "audio": 3, "text": 2}
    labels = ("pos", "neg")
    primary = make(tmp_path / "p", "binary", labels,
                   [rec(i, s, labels[i % 2], ["visual", "audio", "text"], "p") for s in ("train", "valid", "test") for i in range(4)], dims)
    with pytest.raises(ConfigError, match="compose_neutral needs a 'neutral' class"):
        open_sources([{"dataset": primary, "role": "primary"}], compose_per_epoch=10, compose_neutral=0.3)


def test_a_source_can_lend_some_of_its_modalities(tmp_path):
    dims = {"visual": 4, "audio": 3, "text": 2}
    primary = make(tmp_path / "p", "ekman7", EKMAN,
                   [rec(i, s, EKMAN[i % 7], ["visual", "audio", "text"], "p") for s in ("train", "valid", "test") for i in range(7)], dims)
    speech = make(tmp_path / "s", "ekman7", EKMAN, [rec(i, "train", EKMAN[i % 7], ["audio", "text"], "s") for i in range(14)],
                  {"audio": 3, "text": 2})
    mixed = open_sources([{"dataset": primary, "role": "primary"}, {"dataset": speech, "modalities": ["audio"]}])
    voices = [r for r in mixed.split("train") if r["_part"] == 1]
    assert len(voices) == 14 and all(r["modalities"] == ["audio"] for r in voices)
    assert all(set(mixed.sample(r).features) == {"audio"} for r in voices)
    for bad in (["sound"], [], "audio", ("audio", "smell")):
        with pytest.raises(ConfigError, match="modalities must be a list"):
            open_sources([{"dataset": primary, "role": "primary"}, {"dataset": speech, "modalities": bad}])
    with pytest.raises(ConfigError, match="primary dataset is read whole"):
        open_sources([{"dataset": primary, "role": "primary", "modalities": ["audio"]}])
