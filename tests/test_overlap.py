"""Items shared between datasets and splits: the keys, ``xmer audit``, the drops at prepare and in a
mixture (a source's training records holding an evaluation item never reach training), and the
learning-rate schedule sized by the records an epoch draws."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xmer.cli import main
from xmer.config import load_config
from xmer.data.dataset import PreparedDataset
from xmer.data.mixing import open_sources
from xmer.data.overlap import SHARED_IN_RELEASE, KeyRules, normalise_text, text_key
from xmer.data.sources import SOURCES, prepare
from xmer.training.trainer import Trainer

from test_mixing import EKMAN, make, rec

LINE = "I really don't think we need a canoe, Ross, not today."


def text(i, split, words, source, label="happy"):
    return {**rec(i, split, label, ["text"], source), "media": {"text": words}}


def test_texts_match_after_case_punctuation_and_spacing():
    assert normalise_text("  Y'know, I — I REALLY don’t   think!") == "yknow i i really dont think"
    assert text_key(LINE) == text_key(LINE.upper().replace(",", " ,")) is not None
    assert text_key("Oh my God!") is None  # shorter than 8 words: ordinary language, not an item
    assert text_key("Oh my God!", KeyRules(min_words=1)) is not None
    tweet = "sooooo happy today with my friends at the beach #blessed http://t.co/abc @amy"
    retweet = "soo happy today with my friends at the beach blessed https://t.co/xyz @bob 2"
    assert text_key(tweet) != text_key(retweet)
    assert text_key(tweet, KeyRules(near=True)) == text_key(retweet, KeyRules(near=True))


@pytest.fixture
def shows(tmp_path):
    """Two transcripts of one show: a test line of the first is a training line of the second, and the
    second repeats a validation line in its training split."""
    first = make(tmp_path / "show_a", "ekman7", EKMAN, [
        text(0, "train", "We were on a break, and everybody knows it, Rachel.", "a"),
        text(1, "test", LINE, "a", "angry"),
        text(2, "test", "Okay.", "a"),
    ], {"text": 2})
    second = make(tmp_path / "show_b", "ekman7", EKMAN, [
        text(0, "train", LINE.lower(), "b", "angry"),
        text(1, "train", "Could this BE any more of a training line, seriously?", "b"),
        text(2, "valid", "could this be any more of a training line seriously", "b"),
        text(3, "train", "Okay.", "b"),
    ], {"text": 2})
    return first, second


def test_audit_finds_a_test_line_trained_on_through_another_corpus(shows, tmp_path, capsys):
    first, second = shows
    report = tmp_path / "audit.json"
    assert main(["audit", first, second, "--json", str(report)]) == 1
    out = capsys.readouterr().out
    assert "show_a/test" in out and "show_b/train" in out and "evaluation items in training: 2 (exit 1)" in out
    found = json.loads(report.read_text())
    pairs = {(o["first"], o["second"]): o for o in found["overlaps"]}
    assert pairs["show_a/test", "show_b/train"]["count"] == 1
    assert pairs["show_b/train", "show_b/valid"]["count"] == 1  # within one dataset too
    example = pairs["show_a/test", "show_b/train"]["examples"][0]
    assert "a-test-1" in example["first"] and "b-train-0" in example["second"]
    assert found["evaluation_items_in_training"] == 2 and found["rules"] == {"min_words": 8, "near": False}
    # "Okay." is in both, but it is language, not an item; counted with --min-words 1
    assert main(["audit", first, second, "--min-words", "1"]) == 1
    assert "evaluation items in training: 3" in capsys.readouterr().out
    assert main(["audit", first]) == 0


def test_audit_needs_datasets_or_a_config(capsys):
    assert main(["audit"]) == 2
    assert "give prepared-dataset folders or --config" in capsys.readouterr().err


def test_images_by_pixels_audio_by_samples_and_words_of_a_recording_belong_to_it(tmp_path):
    sf = pytest.importorskip("soundfile")
    from PIL import Image

    media = tmp_path / "media"
    media.mkdir()
    face = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    Image.fromarray(face).save(media / "a.png")
    Image.fromarray(face).save(media / "b.bmp")  # the same picture in another format
    Image.fromarray(face[::-1]).save(media / "c.png")
    voice = (np.sin(np.linspace(0, 300, 8000)) * 16000).astype(np.int16)  # 16-bit samples, written as they are
    sf.write(media / "a.wav", voice, 16000, subtype="PCM_16")
    sf.write(media / "b.flac", voice, 16000)  # the same recording, losslessly re-encoded
    sf.write(media / "c.wav", voice[::-1].copy(), 16000, subtype="PCM_16")
    sentence = "Kids are talking by the door, said in every emotion here."

    def av(i, split, image, sound, source):
        return {**rec(i, split, "sad", ["visual", "audio", "text"], source),
                "media": {"visual": str(media / image), "audio": str(media / sound), "text": sentence}}

    one = make(tmp_path / "one", "ekman7", EKMAN, [av(0, "train", "a.png", "c.wav", "o"), av(1, "test", "c.png", "a.wav", "o")], {})
    two = make(tmp_path / "two", "ekman7", EKMAN, [av(0, "train", "b.bmp", "b.flac", "t")], {})
    from xmer.data.overlap import audit, split_groups

    found = audit(split_groups([PreparedDataset.open(one), PreparedDataset.open(two)]))
    pairs = {(o.first, o.second): o.count for o in found.overlaps}
    # one/train's face is two/train's (not a leak); one/test's voice is two/train's (a leak). The shared
    # sentence is a transcript, part of each recording, so one/train and one/test share nothing.
    assert pairs == {("one/train", "two/train"): 1, ("one/test", "two/train"): 1}
    assert [(o.first, o.second) for o in found.leaks] == [("one/test", "two/train")]


def test_prepare_drops_training_images_that_are_test_images(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["fer2013"], "EXPECTED", {"Training": 3, "PublicTest": 1, "PrivateTest": 1})
    rows = [("0", "Training"), ("1", "Training"), ("7", "Training"), ("7", "PublicTest"), ("9", "PrivateTest")]
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "fer2013.csv").write_text("emotion,pixels,Usage\n" + "".join(
        f"3,{first} {' '.join(['5'] * 2303)},{usage}\n" for first, usage in rows))
    summary = prepare("fer2013", tmp_path / "raw", tmp_path / "out")
    assert summary.counts == {"train": 2, "valid": 1, "test": 1} and summary.dropped == {SHARED_IN_RELEASE: 1}
    assert all(c.ok for c in summary.checks)  # the release's counts are checked before the drop


@pytest.fixture
def mixture(tmp_path):
    """A primary with a text in its test split that an auxiliary set holds in training, and composed triples."""
    tri = ["visual", "audio", "text"]
    leaked = "Could this be any more of a leaked evaluation line, Chandler?"
    primary = make(tmp_path / "primary", "ekman7", EKMAN, [
        *[{**rec(i, s, EKMAN[i % 7], tri, "p"), "parts": {}, "media": {"text": f"primary {s} line {i} " + "word " * 8}}
          for s in ("train", "valid", "test") for i in range(14)],
        {**rec(99, "test", "angry", tri, "p"), "parts": {}, "media": {"text": leaked}},
    ], {"visual": 4, "audio": 3, "text": 2})
    texts = make(tmp_path / "texts", "ekman7", EKMAN, [
        *[text(i, "train", f"an auxiliary line number {i} of the text corpus", "t", EKMAN[i % 7]) for i in range(20)],
        text(20, "train", leaked.upper(), "t", "angry"),
        text(21, "test", "the auxiliary set's own test line is not the primary's business", "t"),
    ], {"text": 2})
    faces = make(tmp_path / "faces", "ekman7", EKMAN, [rec(i, "train", EKMAN[i % 7], ["visual"], "f") for i in range(14)],
                 {"visual": 4})
    voices = make(tmp_path / "voices", "ekman7", EKMAN, [rec(i, "train", EKMAN[i % 7], ["audio"], "v") for i in range(14)],
                  {"audio": 3})
    return primary, texts, faces, voices


def sources(primary, *aux, weight=1.0):
    return [{"dataset": primary, "role": "primary"}, *({"dataset": a, "weight": weight} for a in aux)]


def test_a_mixture_drops_training_records_holding_an_evaluation_item(mixture):
    primary, texts, faces, voices = mixture
    mixed = open_sources(sources(primary, texts, faces, voices), compose_per_epoch=200)
    train = mixed.split("train")
    assert "t-train-20" not in {r["id"] for r in train} and "t-train-19" in {r["id"] for r in train}
    assert mixed.overlaps_dropped == {primary: 0, texts: 1, faces: 0, voices: 0}
    composed = [r for r in mixed.epoch(train, 1) if r["source"] == "composed"]
    assert composed and all(r["_compose"]["text"]["id"] != "t-train-20" for r in composed)
    assert mixed.report()["overlaps_dropped"][texts] == 1


def test_audit_of_a_config_sees_the_mixture_after_its_drops(mixture, tmp_path, capsys):
    primary, texts, faces, voices = mixture
    config = tmp_path / "mix.yaml"
    entries = ", ".join(f"{{dataset: {d}}}" for d in (texts, faces, voices))
    config.write_text(f"data:\n  sources: [{{dataset: {primary}, role: primary}}, {entries}]\n")
    report = tmp_path / "audit.json"
    assert main(["audit", "--config", str(config), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "evaluation items in training: 0" in out and f"dropped before training: 1 training record(s) of {texts}" in out
    assert json.loads(report.read_text())["dropped_before_training"][texts] == 1
    # the same datasets audited as they are on disk: the leak is there
    assert main(["audit", primary, texts]) == 1


def test_the_schedule_counts_the_records_an_epoch_draws(mixture, tmp_path):
    primary, texts, faces, voices = mixture
    epochs = 3
    config = load_config(None, [f"train.epochs={epochs}", "train.progress=false", "model.d_model=16", "model.d_ff=16",
                                "data.batch_size=8", "train.warmup_steps=0", "translator.enabled=false",
                                f"data.sources=[{{dataset: {primary}, role: primary}}, {{dataset: {texts}, weight: 0.25}}, "
                                f"{{dataset: {faces}, per_epoch: 3}}]"])
    trainer = Trainer(config, tmp_path / "run")
    held = len(trainer.train_records)
    drawn = [len(trainer.dataset.epoch(trainer.train_records, trainer._epoch_seed(e))) for e in range(1, epochs + 1)]
    assert max(drawn) < held  # the weighted sources draw fewer than they hold
    steps = []
    trainer.train_step = _counting(trainer.train_step, steps)
    trainer.fit()
    factor = trainer.scheduler.lr_lambdas[0]
    # the cosine reaches its floor (10% of the peak) at the last step run, not five times later
    assert len(steps) == sum(math.ceil(n / 8) for n in drawn)
    assert factor(len(steps)) == pytest.approx(0.1, abs=0.02)
    assert factor(math.ceil(drawn[0] / 8) * epochs) == pytest.approx(0.1)


def _counting(step, calls: list):
    def counted(batch):
        calls.append(1)
        return step(batch)

    return counted
