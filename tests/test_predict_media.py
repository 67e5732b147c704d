"""From media files to an emotion: extract features (a real face photo, tones, texts) for a small
set, train on them, then `xmer predict` on a video with an audio track, an audio file alone, an image
alone and a text alone, files the model never saw."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from media_writer import write_av
from xmer.cli import main
from xmer.data.dataset import DatasetInfo
from xmer.data.store import building, write_manifest

sf = pytest.importorskip("soundfile")
av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"

LABELS = ("happy", "sad")
WORDS = {"happy": "what a wonderful happy day", "sad": "i feel so sad and alone"}


def tone(path, freq, seconds=0.6, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(int(freq)).normal(size=t.size), rate)


@pytest.fixture(scope="module")
def media_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    records = []
    with building(root / "data") as tmp:
        (tmp / "media").mkdir()
        for i in range(24):
            label = LABELS[i % 2]
            wav = tmp / "media" / f"{i}.wav"
            tone(wav, 220 if label == "happy" else 660 + i)
            split = "train" if i < 16 else ("valid" if i < 20 else "test")
            image = tmp / "media" / f"{i}.png"
            face = cv2.imread(str(PHOTO), cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(str(image), np.clip(face.astype(int) + (25 if label == "happy" else -25), 0, 255).astype(np.uint8))
            records.append({"id": f"clip{i}", "split": split, "source": "t", "label": label,
                            "modalities": ["visual", "audio", "text"],
                            "media": {"visual": f"media/{i}.png", "audio": f"media/{i}.wav", "text": WORDS[label]}})
        write_manifest(tmp / "manifest.jsonl", records)
        info = DatasetInfo(name="tones", labels=LABELS, multi_label=False, label_space="tones", synthetic=False)
        (tmp / "dataset.json").write_text(json.dumps(info.to_json({})))
    data = root / "data"
    assert main(["extract", "--data", str(data), "--extractors", "visual=fer,audio=logmel,text=glove"]) == 0
    run = root / "run"
    assert main(["train", "--out", str(run), "--set", f"data.dataset={data}", "--set", "train.epochs=3",
                 "--set", "train.progress=false", "--set", "model.d_model=32", "--set", "model.d_ff=32",
                 "--set", "translator.enabled=true", "--set", "data.batch_size=8"]) == 0
    return root, run


def test_predict_from_audio_file_and_text(media_run, tmp_path, capsys):
    root, run = media_run
    wav = tmp_path / "new.wav"
    tone(wav, 230)
    capsys.readouterr()
    assert main(["predict", str(run), "--audio", str(wav), "--text", "a happy day", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["observed"] == ["audio", "text"] and out["imagined"] == ["visual"]
    assert set(out["probabilities"]) == set(LABELS) and out["notes"] == {}


def test_predict_from_text_alone_imagines_the_rest(media_run, capsys):
    _, run = media_run
    capsys.readouterr()
    assert main(["predict", str(run), "--text", "so sad", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["observed"] == ["text"] and out["imagined"] == ["visual", "audio"]


def write_video(path: Path, seconds: float = 1.0, with_face: bool = True, rate: int = 16_000) -> Path:
    """A 640x480 MPEG-4 clip of the face photo (or a blank frame), with a tone muxed in as AAC."""
    grey = np.full((480, 640), 120, np.uint8)
    if with_face:
        grey[100:380, 200:440] = cv2.resize(cv2.imread(str(PHOTO), cv2.IMREAD_GRAYSCALE), (240, 280))
    t = np.arange(int(seconds * rate)) / rate
    audio = np.repeat((0.3 * np.sin(2 * np.pi * 230 * t))[:, None], 2, axis=1).astype(np.float32)
    return write_av(path, [grey] * int(seconds * 10), 10, (640, 480), audio, rate)


def test_predict_from_a_video_with_its_audio_track_and_text(media_run, tmp_path, capsys):
    _, run = media_run
    clip = write_video(tmp_path / "clip.mp4")
    capsys.readouterr()
    assert main(["predict", str(run), "--video", str(clip), "--text", "a happy day", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["observed"] == ["visual", "audio", "text"] and out["imagined"] == []


def test_predict_from_an_image_alone(media_run, capsys):
    _, run = media_run
    capsys.readouterr()
    assert main(["predict", str(run), "--image", str(PHOTO), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["observed"] == ["visual"] and out["imagined"] == ["audio", "text"]


def test_a_video_without_a_face_counts_visual_as_missing(media_run, tmp_path, capsys):
    _, run = media_run
    clip = write_video(tmp_path / "noface.mp4", with_face=False)
    capsys.readouterr()
    assert main(["predict", str(run), "--video", str(clip)]) == 0
    text = capsys.readouterr().out
    assert "observed: audio" in text and "note: visual not used: " in text and "no face" in text


def test_bad_media_gives_one_clear_line(media_run, tmp_path, capsys):
    _, run = media_run
    assert main(["predict", str(run), "--audio", str(tmp_path / "missing.wav")]) == 2
    assert "missing.wav" in capsys.readouterr().err
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF....not audio at all" * 10)
    code = main(["predict", str(run), "--audio", str(junk), "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "junk.wav" in err and "Traceback" not in err
    assert main(["predict", str(run)]) == 2
    assert "either --features" in capsys.readouterr().err


def test_the_default_model_predicts_a_video_with_no_run_folder(tmp_path, capsys):
    """`xmer predict --video clip.mp4` right after install: the shipped model, its card and metrics."""
    from xmer.data.labels import get_label_space
    from xmer.inference import DEFAULT_MODEL

    card = (DEFAULT_MODEL / "MODEL_CARD.md").read_text()
    metrics = json.loads((DEFAULT_MODEL / "metrics.json").read_text())
    assert f"{100 * metrics['accuracy']:.1f}" in card and f"{100 * metrics['macro_f1']:.1f}" in card
    assert sum(f.stat().st_size for f in DEFAULT_MODEL.rglob("*") if f.is_file()) < 8e6
    clip = write_video(tmp_path / "clip.mp4")
    capsys.readouterr()
    assert main(["predict", "--video", str(clip), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["labels"] == list(get_label_space("ekman7").labels)
    assert out["observed"] == ["visual", "audio"] and abs(sum(out["probabilities"].values()) - 1) < 1e-4


@pytest.mark.real_data
def test_the_default_model_reads_real_faces_it_never_saw(shared_data, tmp_path):
    """FER2013 PrivateTest faces (held out from the default model and its visual front-end), one
    image per prediction through `Recognizer.predict_media`: well above chance (14.3%)."""
    import csv
    import gzip

    from xmer.inference import Recognizer

    recognizer = Recognizer.load()
    names = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]  # FER2013's label order
    rows = []
    with gzip.open(shared_data / "fer2013" / "fer2013.csv.gz", "rt") as f:
        for row in csv.DictReader(f):
            if row["Usage"] == "PrivateTest":
                rows.append(row)
                if len(rows) == 140:
                    break
    correct = 0
    for i, row in enumerate(rows):
        path = tmp_path / f"{i}.png"
        cv2.imwrite(str(path), np.array(row["pixels"].split(), dtype=np.uint8).reshape(48, 48))
        prediction = recognizer.predict_media(image=path)
        assert prediction.observed == ["visual"]
        correct += prediction.prediction == names[int(row["emotion"])]
    assert correct / len(rows) > 0.45, correct / len(rows)


def test_an_input_the_model_does_not_read_is_named(tmp_path):
    from xmer.errors import DataError
    from xmer.inference import Recognizer

    recognizer = Recognizer.load()
    recognizer.input_dims = {"audio": recognizer.input_dims["audio"]}  # as a voice-only model
    with pytest.raises(DataError, match=r"this model has no text input; it reads audio$"):
        recognizer.predict_media(text="hello")
    with pytest.raises(DataError, match=r"no faces \(video or image\) input"):
        recognizer.predict_media(image=PHOTO)


def test_a_collection_read_as_one_source_uses_its_own_speech_moments(media_run, tmp_path, capsys):
    """``predict --batch --one-source``: a model that standardises speech per source reads the
    collection with the moments of the collection's own speech; items that name their source are
    read with that source's; a model that does not standardise says so."""
    from xmer.batch import collection_moments, read_items
    from xmer.inference import Recognizer

    root, plain = media_run
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--set", f"data.dataset={root / 'data'}", "--set", "train.epochs=2",
                 "--set", "train.progress=false", "--set", "model.d_model=16", "--set", "model.d_ff=16",
                 "--set", "data.standardise=[audio]", "--set", "data.batch_size=8"]) == 0
    clips = tmp_path / "clips"
    clips.mkdir()
    t = np.arange(8000) / 16000
    for i in range(44):  # two sources unlike the training tones: other pitches, one louder than the other
        sf.write(clips / f"{i}.wav", (0.8 if i < 22 else 0.2) * np.sin(2 * np.pi * (300 + 40 * (i % 22)) * t), 16000)
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": i, "audio": f"clips/{i}.wav", "text": "hello"}) + "\n" for i in range(22)))
    lines = {}
    for flag in ([], ["--one-source"]):
        out = tmp_path / f"out{len(flag)}.jsonl"
        assert main(["predict", str(run), "--batch", str(items), "--out", str(out), *flag]) == 0
        lines[bool(flag)] = [json.loads(l) for l in out.read_text().splitlines()]
    assert "read as 1 source(s), with the speech of 22 of their clips" in capsys.readouterr().err
    recognizer = Recognizer.load(run)
    sources, n = collection_moments(recognizer, list(read_items(items)), one_source=True)
    assert collection_moments(recognizer, list(read_items(items))) == ({}, 0)  # items that name no source, alone
    assert n == 22 and set(sources) == {""} and set(sources[""]) == {"audio"}
    expected = recognizer.predict_media(audio=clips / "3.wav", text="hello", source=sources[""])
    assert lines[True][3]["probabilities"] == expected.to_json()["probabilities"]
    assert lines[False][3]["probabilities"] == recognizer.predict_media(audio=clips / "3.wav", text="hello").to_json()["probabilities"]
    assert lines[True][3]["probabilities"] != lines[False][3]["probabilities"]
    # Items that name their source: each source on its own moments, with or without --one-source;
    # a source of too few clips, and an item that names none, on the pooled ones.
    named = tmp_path / "named.jsonl"
    rows = [{"id": i, "audio": f"clips/{i}.wav", "source": "loud" if i < 22 else "quiet"} for i in range(44)]
    rows += [{"id": "few", "audio": "clips/0.wav", "source": "rare"}, {"id": "none", "audio": "clips/0.wav"},
             {"id": "bad", "audio": "clips/0.wav", "source": 7}]
    named.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "named_out.jsonl"
    assert main(["predict", str(run), "--batch", str(named), "--out", str(out)]) == 0
    assert "read as 2 source(s), with the speech of 44 of their clips" in capsys.readouterr().err
    got = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    sources, n = collection_moments(recognizer, list(read_items(named)), one_source=False)
    assert n == 44 and set(sources) == {"loud", "quiet"}
    for i, name in ((3, "loud"), (30, "quiet")):
        want = recognizer.predict_media(audio=clips / f"{i}.wav", source=sources[name]).to_json()["probabilities"]
        assert got[i]["probabilities"] == want
    alone = recognizer.predict_media(audio=clips / "0.wav").to_json()["probabilities"]
    assert got["few"]["probabilities"] == alone and got["none"]["probabilities"] == alone
    assert "'source' must be a string" in got["bad"]["error"]
    # a model trained without per-source standardisation reads every item on its own, and says so
    out = tmp_path / "plain.jsonl"
    assert main(["predict", str(plain), "--batch", str(items), "--out", str(out), "--one-source"]) == 0
    assert "every item was read on its own" in capsys.readouterr().err
    assert main(["predict", str(plain), "--audio", str(clips / "1.wav"), "--one-source"]) == 2
    assert "--one-source go with --batch" in capsys.readouterr().err
