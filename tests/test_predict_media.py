"""From media files to an emotion: extract features for a small set of real audio files and texts,
train on them, then `xmer predict --audio F --text "..."` on files the model never saw."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xmer.cli import main
from xmer.data.dataset import DatasetInfo
from xmer.data.store import building, write_manifest

sf = pytest.importorskip("soundfile")

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
            records.append({"id": f"clip{i}", "split": split, "source": "t", "label": label,
                            "modalities": ["audio", "text"], "media": {"audio": f"media/{i}.wav", "text": WORDS[label]}})
        write_manifest(tmp / "manifest.jsonl", records)
        info = DatasetInfo(name="tones", labels=LABELS, multi_label=False, label_space="tones", synthetic=False)
        (tmp / "dataset.json").write_text(json.dumps(info.to_json({})))
    data = root / "data"
    assert main(["extract", "--data", str(data), "--extractors", "audio=logmel,text=glove"]) == 0
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
    assert out["observed"] == ["audio", "text"] and out["imagined"] == []
    assert set(out["probabilities"]) == set(LABELS) and out["notes"] == {}


def test_predict_from_text_alone_imagines_audio(media_run, capsys):
    _, run = media_run
    capsys.readouterr()
    assert main(["predict", str(run), "--text", "so sad", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["observed"] == ["text"] and out["imagined"] == ["audio"]


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
