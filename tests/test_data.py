"""Data contract: the feature store, prepared datasets, collate and the synthetic toy set."""

import json

import numpy as np
import pytest
import torch

from xmer.config import ToyConfig
from xmer.data.contract import Sample, collate
from xmer.data.dataset import DatasetInfo, PreparedDataset
from xmer.data.store import ChunkWriter, FeatureStore, building, write_manifest
from xmer.data.toy import write_toy
from xmer.errors import DataError
from xmer.modalities import MODALITIES

SMALL_TOY = ToyConfig(trimodal=20, bimodal=5, unimodal=5, valid=10, test=10)


def test_store_roundtrip_across_chunks(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"s{i}": rng.normal(size=(i + 1, 3)).astype(np.float32) for i in range(6)}
    for chunk, ids in (("a", ["s0", "s1", "s2"]), ("b", ["s3", "s4", "s5"])):
        with ChunkWriter(tmp_path, "audio", 3, chunk=chunk) as w:
            for i in ids:
                w.add(i, arrays[i])
    store = FeatureStore(tmp_path)
    assert store.modalities == ("audio",) and store.dim("audio") == 3
    for i, a in arrays.items():
        np.testing.assert_array_equal(store.get(i, "audio"), a)
    assert not store.has("s0", "visual")
    with pytest.raises(DataError, match="'nope'.*audio"):
        store.get("nope", "audio")


def test_a_failed_chunk_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with ChunkWriter(tmp_path, "text", 2, chunk="x") as w:
            w.add("a", np.ones((2, 2)))
            raise RuntimeError("killed")
    assert FeatureStore(tmp_path).ids("text") == set()
    assert not [p for p in (tmp_path / "text").iterdir() if p.suffix in (".f32", ".tsv")]


@pytest.mark.parametrize(
    "array, fragment",
    [(np.full((2, 3), np.nan), "NaN"), (np.ones((2, 4)), r"\(T>=1, 3\)"), (np.ones((0, 3)), r"\(T>=1, 3\)")],
)
def test_writer_rejects_bad_features_naming_sample_and_modality(tmp_path, array, fragment):
    with ChunkWriter(tmp_path, "visual", 3) as w:
        with pytest.raises(DataError, match=fragment) as error:
            w.add("clip-7", array)
    assert "clip-7" in str(error.value) and "visual" in str(error.value)


def test_store_dim_mismatch_across_chunks(tmp_path):
    with ChunkWriter(tmp_path, "audio", 3, chunk="a") as w:
        w.add("x", np.ones((1, 3)))
    with pytest.raises(DataError, match="3-dim"):
        ChunkWriter(tmp_path, "audio", 5, chunk="b")


def test_truncated_chunk_is_reported(tmp_path):
    with ChunkWriter(tmp_path, "audio", 3) as w:
        w.add("x", np.ones((4, 3)))
    data = tmp_path / "audio" / "00000.f32"
    data.write_bytes(data.read_bytes()[:-2])
    with pytest.raises(DataError, match="00000.f32"):
        FeatureStore(tmp_path).get("x", "audio")


def test_building_is_complete_or_absent(tmp_path):
    out = tmp_path / "ds"
    with pytest.raises(ValueError):
        with building(out) as tmp:
            (tmp / "half").write_text("x")
            raise ValueError("boom")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def _tiny_dataset(root, records, arrays, labels=("a", "b"), multi_label=False):
    with building(root) as tmp:
        for m in {m for _, m in arrays}:  # a modality a record lists but `arrays` lacks: extraction failed
            dim = next(a.shape[1] for (_, mm), a in arrays.items() if mm == m)
            with ChunkWriter(tmp / "features", m, dim) as w:
                for r in records:
                    if (r["id"], m) in arrays:
                        w.add(r["id"], arrays[(r["id"], m)])
        write_manifest(tmp / "manifest.jsonl", records)
        info = DatasetInfo(name="tiny", labels=tuple(labels), multi_label=multi_label, label_space="tiny", synthetic=True)
        (tmp / "dataset.json").write_text(json.dumps(info.to_json({})))
    return PreparedDataset.open(root)


def test_batches_carry_masks_present_ids_and_sources(tmp_path):
    records = [
        {"id": "one", "split": "train", "source": "s1", "label": "a", "modalities": ["visual", "text"]},
        {"id": "two", "split": "train", "source": "s2", "label": "b", "modalities": ["audio"]},
    ]
    arrays = {("one", "visual"): np.ones((3, 4)), ("one", "text"): np.ones((2, 5)), ("two", "audio"): np.ones((6, 2))}
    ds = _tiny_dataset(tmp_path / "d", records, arrays)
    (batch,) = list(ds.batches(ds.split("train"), batch_size=8))
    assert batch.ids == ["one", "two"] and batch.sources == ["s1", "s2"]
    assert batch.labels.tolist() == [0, 1]
    assert batch.present["visual"].tolist() == [True, False]
    assert batch.present["audio"].tolist() == [False, True]
    assert batch.features["audio"].shape == (2, 6, 2)
    assert batch.mask["visual"].sum(1).tolist() == [3, 0]
    assert batch.mask["text"].tolist() == [[True, True], [False, False]]
    assert torch.all(batch.features["audio"][0] == 0)


def test_failed_extractions_leave_modalities_absent_and_empty_samples_out(tmp_path, caplog):
    records = [
        {"id": "full", "split": "train", "source": "s", "label": "a", "modalities": ["visual", "audio", "text"]},
        {"id": "noface", "split": "train", "source": "s", "label": "b", "modalities": ["visual", "audio", "text"]},
        {"id": "unreadable", "split": "train", "source": "s", "label": "a", "modalities": ["audio"]},
        {"id": "lost", "split": "test", "source": "s", "label": "a", "modalities": ["audio"]},
    ]
    arrays = {("full", m): np.ones((3, 2)) for m in MODALITIES} | {("noface", "audio"): np.ones((4, 2)), ("noface", "text"): np.ones((2, 2))}
    ds = _tiny_dataset(tmp_path / "d", records, arrays)
    train = ds.split("train")
    assert [r["id"] for r in train] == ["full", "noface"] and train[1]["modalities"] == ["audio", "text"]
    assert "1 sample(s) of split 'train' have no features" in caplog.text and "unreadable" in caplog.text
    assert [r["id"] for r in ds.split("train", "trimodal")] == ["full"]  # no longer trimodal without its face
    (batch,) = list(ds.batches(train, batch_size=8))
    assert batch.present["visual"].tolist() == [True, False]
    with pytest.raises(DataError, match="no sample of split 'test' has features"):
        ds.split("test")


def test_multi_label_batches(tmp_path):
    records = [{"id": "x", "split": "test", "source": "s", "label": ["a", "c"], "modalities": ["text"]}]
    ds = _tiny_dataset(tmp_path / "d", records, {("x", "text"): np.ones((2, 3))}, labels=("a", "b", "c"), multi_label=True)
    (batch,) = list(ds.batches(ds.split("test"), 4))
    assert batch.labels.tolist() == [[1.0, 0.0, 1.0]]


def test_manifest_errors_name_the_sample(tmp_path):
    records = [{"id": "x", "split": "train", "source": "s", "label": "zzz", "modalities": ["text"]}]
    with pytest.raises(DataError, match="'x'.*'zzz'"):
        _tiny_dataset(tmp_path / "d", records, {("x", "text"): np.ones((2, 3))})
    records = [{"id": "y", "split": "training", "source": "s", "label": "a", "modalities": ["text"]}]
    with pytest.raises(DataError, match="'y'.*training"):
        _tiny_dataset(tmp_path / "e", records, {("y", "text"): np.ones((2, 3))})


def test_open_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        PreparedDataset.open(tmp_path / "missing")
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match="dataset.json"):
        PreparedDataset.open(tmp_path / "d")
    (tmp_path / "d" / "dataset.json").write_text("{}")
    with pytest.raises(DataError, match="format"):
        PreparedDataset.open(tmp_path / "d")


def test_collate_rejects_wrong_feature_size():
    s = Sample(id="clip-9", source="x", features={"audio": np.ones((2, 3), np.float32)}, label=0)
    with pytest.raises(DataError, match="clip-9.*audio.*3.*expected 4"):
        collate([s], ["audio"], {"audio": 4}, 2, False)


@pytest.mark.parametrize("bad", [np.full((2, 3), np.inf, np.float32), np.ones((0, 3), np.float32)])
def test_sample_rejects_bad_arrays(bad):
    with pytest.raises(DataError, match="clip-1.*text"):
        Sample(id="clip-1", source="x", features={"text": bad}, label=0)


def test_toy_is_seeded_and_has_every_subset(tmp_path):
    a = PreparedDataset.open(write_toy(SMALL_TOY, tmp_path / "a"))
    b = PreparedDataset.open(write_toy(SMALL_TOY, tmp_path / "b"))
    assert a.records == b.records
    for r in a.records[:5]:
        for m in r["modalities"]:
            np.testing.assert_array_equal(a.store.get(r["id"], m), b.store.get(r["id"], m))
    subsets = {tuple(r["modalities"]) for r in a.split("train")}
    assert len(subsets) == 7
    assert all(set(r["modalities"]) == set(MODALITIES) for r in a.split("test") + a.split("valid"))
    assert a.info.synthetic and "SYNTHETIC" in a.info.description
    other = PreparedDataset.open(write_toy(ToyConfig(**{**SMALL_TOY.__dict__, "seed": 1}), tmp_path / "c"))
    assert [r["label"] for r in other.records] != [r["label"] for r in a.records]


def test_toy_modalities_share_a_latent(tmp_path):
    """Within one sample the modalities are views of one latent: translation between them is learnable.
    Check it: a ridge regression from the visual mean to the audio mean beats predicting the average."""
    ds = PreparedDataset.open(write_toy(ToyConfig(trimodal=400, bimodal=0, unimodal=0, valid=10, test=10, noise=0.5), tmp_path / "t"))
    recs = ds.split("train")
    v = np.stack([ds.store.get(r["id"], "visual").mean(0) for r in recs])
    a = np.stack([ds.store.get(r["id"], "audio").mean(0) for r in recs])
    train, test = slice(0, 300), slice(300, 400)
    x = np.c_[v, np.ones(len(v))]
    w = np.linalg.solve(x[train].T @ x[train] + 1e-2 * np.eye(x.shape[1]), x[train].T @ a[train])
    err = ((x[test] @ w - a[test]) ** 2).mean()
    baseline = ((a[train].mean(0) - a[test]) ** 2).mean()
    assert err < 0.7 * baseline


def test_data_usage_subsamples_the_trimodal_part_reproducibly_and_nested(tmp_path):
    ds = PreparedDataset.open(write_toy(SMALL_TOY, tmp_path / "u"))
    full = ds.split("train")
    seventy, eighty = ds.split("train", usage=0.7), ds.split("train", usage=0.8)
    tri = lambda rs: [r["id"] for r in rs if len(r["modalities"]) == 3]  # noqa: E731
    assert len(tri(seventy)) == 14 and len(tri(eighty)) == 16 and len(tri(full)) == 20
    assert set(tri(seventy)) <= set(tri(eighty))
    assert [r for r in seventy if len(r["modalities"]) < 3] == [r for r in full if len(r["modalities"]) < 3]
    assert ds.split("train", usage=0.7) == seventy
    with pytest.raises(DataError, match="usage"):
        ds.split("train", usage=0)
