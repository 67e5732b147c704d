"""``xmer prepare cmu-mosi-bclstm | ravdess-av``: small files in the release layouts, then the real copies.

The small sets shrink the expected counts with monkeypatch; the real-data tests (skipped without
../shared/data) check the release's exact counts.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from test_prepare_raw import make_wav
from xmer.data.dataset import PreparedDataset
from xmer.data.sources import SOURCES, prepare
from xmer.errors import DataError

# ---------------------------------------------------------------------------------------------------
# CMU-MOSI, bc-LSTM release


def _write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)


def mosi_tree(root, videos=(1, 2, 3, 4, 5, 6, 7, 8), test_videos=(9, 10), per_video=3):
    """Utterances of 10 videos; every modality's vector carries the utterance number so the test can
    check that row i of every file stays one utterance."""
    rng = np.random.default_rng(0)
    transcripts, split_rows = [], {"train": [], "test": []}
    for video in (*videos, *test_videos):
        for segment in range(1, per_video + 1):
            label = (video + segment) % 2
            transcripts.append([f"vid{video:02d}_{segment}", f"WORDS OF {video} {segment}", str(video), str(label)])
            split_rows["train" if video in videos else "test"].append((len(transcripts) - 1, label))
    order = rng.permutation(len(transcripts))  # transcripts.csv in another order than the feature files
    inverse = {int(old): new for new, old in enumerate(order)}
    _write_csv(root / "transcripts.csv", [transcripts[i] for i in order])
    for part, rows in split_rows.items():
        text, audio, video = [], [], []
        for index, label in rows:
            text.append([inverse[index]] + [index + 0.01 * d for d in range(100)])
            audio.append([100.0 * index + d for d in range(73)] + [label])
            video.append([0.0] + [float(index)] * 99 + [label])
        _write_csv(root / f"text_{part}.csv", text)
        _write_csv(root / "audio" / f"audio_{part}0.csv", audio)
        _write_csv(root / "video" / f"video_{part}0.csv", video)


@pytest.fixture
def small_mosi(monkeypatch):
    monkeypatch.setattr(SOURCES["cmu-mosi-bclstm"], "EXPECTED",
                        {"transcripts": 30, "videos": 10, "train": 24, "test": 6, "train videos": 8, "test videos": 2})


def test_mosi_layout_splits_and_standardised_features(tmp_path, small_mosi):
    mosi_tree(tmp_path / "raw")
    summary = prepare("cmu-mosi-bclstm", tmp_path / "raw", tmp_path / "out")
    assert summary.label_space.name == "sentiment2" and all(c.ok for c in summary.checks)
    assert summary.counts["test"] == 6 and summary.counts["train"] + summary.counts["valid"] == 24
    assert summary.counts["valid"] == 3  # 15 % of 8 videos = 1 video of 3 utterances
    dataset = PreparedDataset.open(tmp_path / "out")
    assert dataset.dims == {"visual": 100, "audio": 73, "text": 100}
    speakers = {s: {r["speaker"] for r in dataset.split(s)} for s in ("train", "valid", "test")}
    assert not speakers["train"] & speakers["valid"] and speakers["test"] == {"mosi-video09", "mosi-video10"}
    record = next(r for r in dataset.records if r["id"] == "cmu-mosi-bclstm-vid03_2")
    assert record["label"] == "positive" and record["media"]["text"] == "WORDS OF 3 2" and record["sentiment"] == 1.0
    # one-step sequences, standardised with train statistics: train features have mean 0, std 1
    features = dataset.read_features(record)
    assert {m: f.shape for m, f in features.items()} == {"visual": (1, 100), "audio": (1, 73), "text": (1, 100)}
    train = np.concatenate([dataset.read_features(r)["audio"] for r in dataset.split("train")])
    assert np.allclose(train.mean(0), 0, atol=1e-5) and np.allclose(train.std(0), 1, atol=1e-4)
    assert np.all(np.concatenate([dataset.read_features(r)["visual"][:, 0] for r in dataset.records]) == 0)  # constant column
    # rows stay aligned: the utterance's text, audio and video rank the same among the train samples
    ranks = {m: np.argsort(np.argsort([dataset.read_features(r)[m][0, 1] for r in dataset.split("train")])) for m in ("text", "audio", "visual")}
    assert (ranks["text"] == ranks["audio"]).all() and (ranks["text"] == ranks["visual"]).all()


def test_mosi_label_disagreement_and_missing_file(tmp_path, small_mosi):
    raw = tmp_path / "raw"
    mosi_tree(raw)
    rows = list(csv.reader(open(raw / "audio" / "audio_test0.csv")))
    rows[1][-1] = str(1 - int(float(rows[1][-1])))
    _write_csv(raw / "audio" / "audio_test0.csv", rows)
    with pytest.raises(DataError, match=r"text_test.csv, row 2: .*audio_test0.csv row 2 has label"):
        prepare("cmu-mosi-bclstm", raw, tmp_path / "out")
    partial = prepare("cmu-mosi-bclstm", raw, None, allow_partial=True, dry_run=True)
    assert partial.dropped == {"malformed row": 1} and partial.counts["test"] == 5
    (raw / "video" / "video_train0.csv").unlink()
    with pytest.raises(DataError, match="video_train0.csv not found"):
        prepare("cmu-mosi-bclstm", raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_mosi_count_mismatch(tmp_path, small_mosi):
    mosi_tree(tmp_path / "raw", test_videos=(9,))
    with pytest.raises(DataError, match="transcripts: expected 30, found 27"):
        prepare("cmu-mosi-bclstm", tmp_path / "raw", tmp_path / "out")


# ---------------------------------------------------------------------------------------------------
# RAVDESS audio-visual pairs


def ravdess_av_tree(root, actors=(1, 2, 17, 21), drop_audio=()):
    clips, au = [], []
    for a in actors:
        for emotion in (1, 3, 5):
            for statement in (1, 2):
                key = f"01-{emotion:02d}-01-{statement:02d}-01-{a:02d}"
                clips.append(f"01-{key}")
                au.append(np.full(35, emotion + 0.1 * a))
                au[-1][0] = len(au)  # no two clips' units alike (alike ones would be one item)
                if key not in drop_audio:
                    make_wav(root / "ravdess" / "Audio_Speech_Actors_01-24" / f"Actor_{a:02d}" / f"03-{key}.wav")
        make_wav(root / "ravdess" / "Audio_Speech_Actors_01-24" / f"Actor_{a:02d}" / f"03-02-03-01-01-01-{a:02d}.wav")  # song
    (root / "ravdess_au").mkdir(parents=True)
    np.savez(root / "ravdess_au" / "ravdess_au.npz", clip_id=np.array(clips), au=np.stack(au), au_columns=np.array(["AU01_r"] * 35))


@pytest.fixture
def small_av(monkeypatch):
    monkeypatch.setattr(SOURCES["ravdess-av"], "EXPECTED", {"audio files": 24, "action-unit clips": 24, "paired clips": 24, "actors": 4})


def test_ravdess_av_pairs_by_clip(tmp_path, small_av):
    ravdess_av_tree(tmp_path / "raw")
    summary = prepare("ravdess-av", tmp_path / "raw", tmp_path / "out")
    assert summary.counts == {"train": 12, "valid": 6, "test": 6} and summary.modalities == {"visual+audio+text": 24}
    dataset = PreparedDataset.open(tmp_path / "out")
    assert dataset.dims == {"visual": 35}  # audio and text come from `xmer extract`
    record = next(r for r in dataset.records if r["id"] == "ravdess-av-01-05-01-02-01-17")
    assert record["label"] == "angry" and record["split"] == "valid" and record["speaker"] == "ravdess-actor17"
    assert record["media"]["audio"].endswith("Actor_17/03-01-05-01-02-01-17.wav")
    assert record["media"]["text"] == "Dogs are sitting by the door"
    visual = dataset.read_features(record)["visual"]
    train = np.concatenate([dataset.read_features(r)["visual"] for r in dataset.split("train")])
    assert visual.shape == (1, 35) and np.allclose(train.mean(0), 0, atol=1e-5)
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert meta["modalities"]["visual"] == {"dim": 35, "extractor": "openface2-au"} and meta["modalities"]["audio"]["dim"] is None


def test_ravdess_av_unpaired_clip(tmp_path, small_av):
    ravdess_av_tree(tmp_path / "raw", drop_audio=("01-03-01-01-01-02",))
    with pytest.raises(DataError, match="speech audio files: expected 24, found 23; paired clips: expected 24, found 23"):
        prepare("ravdess-av", tmp_path / "raw", tmp_path / "out")
    summary = prepare("ravdess-av", tmp_path / "raw", None, allow_partial=True, dry_run=True)
    assert summary.modalities == {"visual+audio+text": 23, "visual+text": 1}


def test_ravdess_av_au_option_and_bad_file(tmp_path, small_av):
    ravdess_av_tree(tmp_path / "raw")
    moved = tmp_path / "elsewhere.npz"
    (tmp_path / "raw" / "ravdess_au" / "ravdess_au.npz").rename(moved)
    with pytest.raises(DataError, match="the action-unit file not found"):
        prepare("ravdess-av", tmp_path / "raw", None, dry_run=True)
    assert sum(prepare("ravdess-av", tmp_path / "raw", None, dry_run=True, au=str(moved)).counts.values()) == 24
    np.savez(moved, clip_id=np.array(["01-01-01-01-01-01-01"]), au=np.zeros((1, 17)))
    with pytest.raises(DataError, match=r"au has shape \(1, 17\)"):
        prepare("ravdess-av", tmp_path / "raw", None, dry_run=True, au=str(moved))


# ---------------------------------------------------------------------------------------------------
# the real copies


@pytest.mark.real_data
def test_real_mosi(shared_data, tmp_path):
    summary = prepare("cmu-mosi-bclstm", shared_data / "cmu_mosi_bclstm", tmp_path / "mosi")
    assert all(c.ok for c in summary.checks) and summary.dropped == {}
    assert summary.counts["train"] + summary.counts["valid"] == 1447 and summary.counts["test"] == 752
    assert summary.classes == {"negative": 738 + 285, "positive": 709 + 467}
    dataset = PreparedDataset.open(tmp_path / "mosi")
    videos = {s: {r["video"] for r in dataset.split(s)} for s in ("train", "valid", "test")}
    assert len(videos["valid"]) == 9 and max(videos["train"] | videos["valid"]) == 62 and min(videos["test"]) == 63
    assert dataset.dims == {"visual": 100, "audio": 73, "text": 100}


@pytest.mark.real_data
def test_real_ravdess_av(shared_data, tmp_path):
    summary = prepare("ravdess-av", shared_data, tmp_path / "av")
    assert {c.what: c.found for c in summary.checks} == {
        "action-unit clips": 1440, "speech audio files": 1440, "paired clips": 1440, "actors": 24}
    assert summary.counts == {"train": 960, "valid": 240, "test": 240} and summary.dropped == {}
    dataset = PreparedDataset.open(tmp_path / "av")
    assert all(r["media"]["audio"].endswith(".flac") and r["modalities"] == ["visual", "audio", "text"] for r in dataset.records)
    assert len({r["speaker"] for r in dataset.split("test")}) == 4
