"""Feature-file sources on small files written here in the published layouts: the Multimodal
Transformer pickles, MMSA pickles, and CMU-MultimodalSDK ``.csd`` (HDF5) for CMU-MOSEI and CMU-MOSI."""

from __future__ import annotations

import json
import os
import pickle
import sys
import types

import numpy as np
import pytest

from xmer.data.dataset import PreparedDataset
from xmer.data.sources import SOURCES, prepare
from xmer.errors import ConfigError, DataError

DIMS = {"vision": 35, "audio": 74, "text": 300}


def padded(rng, n, steps, dims, lengths):
    """(N, T, D) arrays zero-padded at the start, as the MulT aligned pickles are."""
    out = {}
    for key, dim in dims.items():
        array = np.zeros((n, steps, dim), dtype=np.float32)
        for i, length in enumerate(lengths):
            array[i, steps - length :] = rng.normal(size=(length, dim))
        out[key] = array
    return out


def mult_pickle(path, kind, counts=(4, 2, 2), steps=6):
    rng = np.random.default_rng(0)
    data = {}
    for split, n in zip(("train", "valid", "test"), counts):
        lengths = [steps - (i % 3) for i in range(n)]
        part = padded(rng, n, steps, DIMS, lengths)
        if kind == "iemocap":
            labels = np.zeros((n, 4, 2), dtype=np.float32)
            labels[:, :, 0] = 1
            for i in range(n):
                labels[i, i % 4] = (0, 1)
            part["labels"] = labels
        else:
            part["labels"] = np.linspace(-2, 2, n, dtype=np.float32).reshape(n, 1, 1)
            part["id"] = np.array([[f"vid{i}".encode(), b"1.0", b"2.5"] for i in range(n)])
        data[split] = part
    data["train"]["audio"][0, -1, 0] = -np.inf  # MOSEI's COVAREP has -inf
    data["valid"]["vision"][0] = 0  # an all-zero visual sequence: a missing modality
    with open(path, "wb") as f:
        pickle.dump(data, f)


def test_mult_iemocap_pickle(tmp_path, monkeypatch):
    monkeypatch.setitem(SOURCES["mult-pkl"].EXPECTED, "iemocap_data", (4, 2, 2))
    mult_pickle(tmp_path / "iemocap_data.pkl", "iemocap")
    summary = prepare("mult-pkl", tmp_path, tmp_path / "out")
    assert summary.label_space.name == "iemocap4" and summary.counts == {"train": 4, "valid": 2, "test": 2}
    assert summary.classes == {"angry": 1, "happy": 3, "sad": 1, "neutral": 3}
    assert any("non-finite" in n for n in summary.notes)
    dataset = PreparedDataset.open(tmp_path / "out")
    assert dataset.dims == {"visual": 35, "audio": 74, "text": 300}
    first = dataset.sample(dataset.records[0])
    assert first.features["text"].shape == (6, 300) and np.isfinite(first.features["audio"]).all()
    second = dataset.sample(dataset.records[1])
    assert second.features["visual"].shape == (5, 35)  # the zero padding at the start is gone
    valid = dataset.split("valid")[0]
    assert valid["modalities"] == ["audio", "text"]
    batch = next(dataset.batches(dataset.split("valid"), batch_size=2))  # the data contract holds
    assert batch.present["visual"].tolist() == [False, True] and batch.features["text"].shape == (2, 6, 300)
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert meta["modalities"]["visual"] == {"dim": 35, "extractor": "mult-pkl:iemocap_data.pkl"}


def test_mult_mosei_pickle_sentiment(tmp_path, monkeypatch):
    monkeypatch.setitem(SOURCES["mult-pkl"].EXPECTED, "mosei_senti_data", (4, 2, 2))
    mult_pickle(tmp_path / "mosei_senti_data_noalign.pkl", "mosei")
    summary = prepare("mult-pkl", tmp_path / "mosei_senti_data_noalign.pkl", tmp_path / "out")
    assert summary.label_space.name == "sentiment2"
    dataset = PreparedDataset.open(tmp_path / "out")
    record = dataset.records[0]
    assert record["label"] == "negative" and record["sentiment"] == -2.0 and record["source_id"] == "vid0-1.0-2.5"
    with pytest.raises(ConfigError, match="sentiment scores only"):
        prepare("mult-pkl", tmp_path / "mosei_senti_data_noalign.pkl", tmp_path / "o2", label_space="ekman7")


def test_mult_counts_checked_and_several_pickles(tmp_path):
    mult_pickle(tmp_path / "mosi_data.pkl", "mosi")
    with pytest.raises(DataError, match="train samples: expected 1284, found 4"):
        prepare("mult-pkl", tmp_path, tmp_path / "out")
    mult_pickle(tmp_path / "mosi_data_noalign.pkl", "mosi")
    with pytest.raises(DataError, match="several pickles"):
        prepare("mult-pkl", tmp_path, tmp_path / "out")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_loader_refuses_code(tmp_path):
    with open(tmp_path / "iemocap_data.pkl", "wb") as f:
        pickle.dump({"train": _Evil(), "valid": {}, "test": {}}, f)
    with pytest.raises(DataError, match="refusing to load"):
        prepare("mult-pkl", tmp_path, tmp_path / "out")
    (tmp_path / "iemocap_data.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="cannot be loaded"):
        prepare("mult-pkl", tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_mmsa_unaligned_pickle(tmp_path, monkeypatch):
    monkeypatch.setitem(SOURCES["mmsa-pkl"].KNOWN, "mosi", (3, 2, 2))
    rng = np.random.default_rng(1)
    data = {}
    for split, n in (("train", 3), ("valid", 2), ("test", 2)):
        # MMSA pads at the end and stores the lengths; BERT text with a token mask in text_bert[:, 1]
        part = {
            "id": [f"{split}vid$_${i}" for i in range(n)],
            "raw_text": np.array([f"text {i}" for i in range(n)]),
            "audio": rng.normal(size=(n, 10, 5)).astype(np.float32),
            "vision": rng.normal(size=(n, 12, 20)).astype(np.float32),
            "text": rng.normal(size=(n, 8, 768)).astype(np.float32),
            "text_bert": np.zeros((n, 3, 8), dtype=np.float32),
            "audio_lengths": [10, 4, 0][:n],
            "vision_lengths": [12, 3, 7][:n],
            "regression_labels": np.array([1.2, -0.4, 0.0][:n], dtype=np.float32),
            "annotations": ["Positive", "Negative", "Neutral"][:n],
        }
        part["text_bert"][:, 1, :5] = 1
        data[split] = part
    with open(tmp_path / "unaligned_50.pkl", "wb") as f:
        pickle.dump(data, f)
    summary = prepare("mmsa-pkl", tmp_path, tmp_path / "out")
    assert summary.dropped == {"sentiment score 0 (neither negative nor positive)": 1}
    dataset = PreparedDataset.open(tmp_path / "out")
    sample = dataset.sample(dataset.records[1])
    assert sample.features["audio"].shape == (4, 5) and sample.features["visual"].shape == (3, 20)
    assert sample.features["text"].shape == (5, 768)
    assert dataset.records[1]["media"]["text"] == "text 1" and dataset.records[1]["id"] == "mmsa-mosi-trainvid$_$1"
    three = prepare("mmsa-pkl", tmp_path, None, label_space="sentiment3", dry_run=True)
    assert three.classes == {"negative": 3, "neutral": 1, "positive": 3}
    assert dataset.records[1]["modalities"] == ["visual", "audio", "text"]
    assert three.modalities == {"visual+audio+text": 6, "visual+text": 1}  # audio length 0: a missing modality


# ---------------------------------------------------------------------------------------------------
# CMU-MultimodalSDK computational sequences


def write_csd(path, root, entries, metadata=None):
    """A .csd exactly as the SDK's write_CSD makes it: root/data/<vid>/{features,intervals} + root/metadata."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        group = f.create_group(root)
        data = group.create_group("data")
        for vid, (features, intervals) in entries.items():
            g = data.create_group(vid)
            g.create_dataset("features", data=features)
            g.create_dataset("intervals", data=intervals)
        meta = group.create_group("metadata")
        for key, value in (metadata or {"root name": root, "computational sequence version": "1.0"}).items():
            meta.create_dataset(key, (1,), dtype=h5py.special_dtype(vlen=str))
            meta[key][0] = json.dumps(value)


def steps(t, dim, seed, step=0.5):
    rng = np.random.default_rng(seed)
    starts = np.arange(t) * step
    return rng.normal(size=(t, dim)), np.stack([starts, starts + step], axis=1)


def mosei_folder(folder):
    folder.mkdir()
    videos = ["vidA", "vidB", "-vidC"]
    labels = {}
    for k, vid in enumerate(videos):
        values = np.zeros((2, 7))
        values[0] = [1.0, 2.0, 0, 0, 0, 0, 0]  # happy
        values[1] = [-1.0, 0, 1.0, 0.5, 0, 0, 0]  # sad + anger
        labels[vid] = (values, np.array([[0.0, 2.0], [2.0, 4.0]]))
    labels["vidA"][0][0] = [0.0, 0, 0, 0, 0, 0, 0]  # no emotion present
    write_csd(folder / "CMU_MOSEI_Labels.csd", "All Labels", labels)
    write_csd(folder / "CMU_MOSEI_VisualFacet42.csd", "FACET 4.2", {v: steps(10, 35, i) for i, v in enumerate(videos)})
    covarep = {v: steps(40, 74, 10 + i, step=0.1) for i, v in enumerate(videos)}
    covarep["vidB"][0][3, 2] = -np.inf
    write_csd(folder / "CMU_MOSEI_COVAREP.csd", "COVAREP", covarep)
    # text only for two videos: the third has no words
    words = {v: steps(6, 300, 20 + i, step=0.7) for i, v in enumerate(videos[:2])}
    write_csd(folder / "CMU_MOSEI_TimestampedWordVectors.csd", "glove_vectors", words)
    write_csd(folder / "CMU_MOSEI_TimestampedWords.csd", "words", {"vidA": (np.array([[b"hi"]] * 6), steps(6, 1, 0)[1])})
    (folder / "cmu_mosei_std_folds.py").write_text(
        "standard_train_fold=['vidA', 'vidB']\nstandard_valid_fold=['-vidC']\nstandard_test_fold=['vidD']\n"
    )


def test_cmu_mosei_csd(tmp_path):
    mosei_folder(tmp_path / "mosei")
    with pytest.raises(DataError, match="standard-fold videos present in the labels: expected 4, found 3"):
        prepare("cmu-mosei", tmp_path / "mosei", tmp_path / "out")
    summary = prepare("cmu-mosei", tmp_path / "mosei", tmp_path / "out", allow_partial=True)
    assert summary.label_space.name == "mosei6" and summary.counts == {"train": 4, "valid": 2, "test": 0}
    assert summary.classes["happy"] == 2 and summary.classes["sad"] == 3 and summary.no_class == 1
    dataset = PreparedDataset.open(tmp_path / "out")
    assert dataset.dims == {"visual": 35, "audio": 74, "text": 300}
    record = next(r for r in dataset.records if r["id"] == "cmu-mosei-vidB[1]")
    assert record["label"] == ["sad", "anger"] and record["interval"] == [2.0, 4.0] and record["sentiment"] == -1.0
    sample = dataset.sample(record)
    # segment [2, 4): visual steps of 0.5 s -> 4, audio steps of 0.1 s -> 20, words of 0.7 s overlapping it -> 4 (1.4-2.1 .. 3.5-4.2)
    assert sample.features["visual"].shape == (4, 35) and sample.features["audio"].shape == (20, 74)
    assert sample.features["text"].shape == (4, 300)
    expected_visual = steps(10, 35, 1)[0][4:8].astype(np.float32)
    np.testing.assert_allclose(sample.features["visual"], expected_visual, rtol=1e-6)
    first = dataset.sample(next(r for r in dataset.records if r["id"] == "cmu-mosei-vidB[0]"))
    assert np.isfinite(first.features["audio"]).all()
    assert next(r for r in dataset.records if r["id"] == "cmu-mosei--vidC[0]")["modalities"] == ["visual", "audio"]
    ekman = prepare("cmu-mosei", tmp_path / "mosei", None, label_space="ekman7", allow_partial=True, dry_run=True)
    assert ekman.dropped == {"several ekman7 classes": 3, "no ekman7 class (no emotion labelled)": 1}
    senti = prepare("cmu-mosei", tmp_path / "mosei", None, label_space="sentiment2", allow_partial=True, dry_run=True)
    assert senti.classes == {"negative": 3, "positive": 2}


def test_cmu_csd_choices_and_errors(tmp_path, monkeypatch):
    mosei_folder(tmp_path / "mosei")
    (tmp_path / "mosei" / "cmu_mosei_std_folds.py").unlink()
    monkeypatch.setitem(sys.modules, SOURCES["cmu-mosei"].SDK_MODULE, None)  # as if mmsdk were not installed
    with pytest.raises(DataError, match="standard folds were not found"):
        prepare("cmu-mosei", tmp_path / "mosei", tmp_path / "out", allow_partial=True)
    sdk = types.ModuleType("cmu_mosei_std_folds")  # the installed SDK's folds module
    sdk.standard_train_fold, sdk.standard_valid_fold, sdk.standard_test_fold = ["vidA", "vidB"], [], ["-vidC"]
    monkeypatch.setitem(sys.modules, SOURCES["cmu-mosei"].SDK_MODULE, sdk)
    assert prepare("cmu-mosei", tmp_path / "mosei", None, dry_run=True).counts == {"train": 4, "valid": 0, "test": 2}
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps({"train": ["vidA"], "valid": ["vidB"], "test": ["-vidC"]}))
    write_csd(tmp_path / "mosei" / "CMU_MOSEI_VisualOpenFace2.csd", "OpenFace_2", {v: steps(5, 713, 3) for v in ("vidA", "vidB", "-vidC")})
    summary = prepare("cmu-mosei", tmp_path / "mosei", tmp_path / "out", folds=str(folds), csd={"visual": "CMU_MOSEI_VisualOpenFace2.csd"})
    assert summary.counts == {"train": 2, "valid": 2, "test": 2}
    assert PreparedDataset.open(tmp_path / "out").dims["visual"] == 713
    with pytest.raises(ConfigError, match="no such .csd"):
        prepare("cmu-mosei", tmp_path / "mosei", tmp_path / "o2", folds=str(folds), csd={"visual": "nope.csd"})
    (tmp_path / "mosei" / "CMU_MOSEI_COVAREP.csd").write_bytes(b"garbage")
    with pytest.raises(DataError, match="CMU_MOSEI_COVAREP.csd: not a readable HDF5"):
        prepare("cmu-mosei", tmp_path / "mosei", tmp_path / "o2", folds=str(folds))


def test_cmu_mosi_csd(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["cmu-mosi"], "EXPECTED", {"videos": 2, "segments": 4})
    folder = tmp_path / "mosi"
    folder.mkdir()
    labels = {v: (np.array([[2.2], [-0.6]]), np.array([[0.0, 1.0], [1.0, 3.0]])) for v in ("v1", "v2")}
    write_csd(folder / "CMU_MOSI_Opinion_Labels.csd", "Opinion Segment Labels", labels)
    write_csd(folder / "CMU_MOSI_COVAREP.csd", "COVAREP", {v: steps(30, 74, 1, step=0.1) for v in ("v1", "v2")})
    write_csd(folder / "CMU_MOSI_Visual_Facet_42.csd", "FACET_4.2", {v: steps(12, 35, 2, step=0.25) for v in ("v1", "v2")})
    (folder / "folds.json").write_text(json.dumps({"train": ["v1"], "valid": [], "test": ["v2"]}))
    summary = prepare("cmu-mosi", folder, tmp_path / "out")
    assert summary.label_space.name == "sentiment2" and summary.counts == {"train": 2, "valid": 0, "test": 2}
    dataset = PreparedDataset.open(tmp_path / "out")
    assert dataset.records[1]["label"] == "negative"
    assert dataset.sample(dataset.records[1]).features["visual"].shape == (8, 35)
    with pytest.raises(ConfigError, match="sentiment scores only"):
        prepare("cmu-mosi", folder, tmp_path / "o2", label_space="mosei6")
