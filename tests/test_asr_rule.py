"""Words from speech only when they are understood: the transcript rule (keep, down-weight, drop), the
down-weighted fusion, and what a prediction from speech says about its words."""

from __future__ import annotations

import numpy as np
import pytest

from xmer.features.asr import DOWN_WEIGHT, DROP, KEEP, Rule, Utterance, judge
from xmer.inference import Recognizer


def said(text: str, logprob: float, no_speech: float = 0.05, compression: float = 1.2, start=0.0, end=2.0) -> Utterance:
    return Utterance(start, end, text, avg_logprob=logprob, no_speech_prob=no_speech, compression_ratio=compression)


def test_clear_english_is_kept_doubtful_words_down_weighted_nonsense_dropped():
    rule = Rule()
    clear = judge([said("Kids are talking by the door.", -0.35)])
    assert (clear.decision, clear.weight, clear.text) == (KEEP, 1.0, "Kids are talking by the door.")
    doubt = judge([said("Beto!", -0.6)])
    assert doubt.decision == DOWN_WEIGHT and doubt.weight == rule.partial_weight and "-0.60" in doubt.reason
    polish = judge([said("I hope you enjoyed this video.", -1.1)])
    assert polish.decision == DROP and polish.weight == 0.0 and "not English" in polish.reason
    assert judge([said("Thank you.", -0.6, no_speech=0.7)]).decision == DROP  # Whisper doubts it is speech
    assert judge([said("I'm sorry. " * 10, -0.2, compression=3.1)]).decision == DROP  # looping
    assert judge([]).decision == DROP and judge([said("  ", -0.1)]).reason == "no speech recognised"


def test_the_rule_weighs_segments_by_their_duration():
    # a long clear sentence and a short doubtful word: kept (mean -0.41); the reverse: dropped (-0.89)
    long_clear, short_doubt = said("we waited for the bus all morning", -0.3, end=4.0), said("uh", -1.5, start=4.0, end=4.4)
    assert judge([long_clear, short_doubt]).decision == KEEP
    assert judge([said("uh", -0.3, end=0.4), said("something long and unclear", -0.95, start=0.4, end=4.4)]).decision == DROP


def test_utterances_compare_and_serialise_by_time_and_words_only():
    assert said("hi", -0.3) == Utterance(0.0, 2.0, "hi")
    assert said("hi", -0.3).to_json() == {"start": 0.0, "end": 2.0, "text": "hi"}


def test_a_down_weighted_text_mixes_the_predictions_with_and_without_it():
    recognizer = Recognizer.load()
    rng = np.random.default_rng(0)
    features = {m: rng.normal(size=(1, d)).astype(np.float32) for m, d in recognizer.input_dims.items() if m != "visual"}
    with_words = recognizer.predict(features)
    without = recognizer.predict({"audio": features["audio"]})
    mixed = recognizer.predict(features, text_weight=0.3)
    expected = {k: 0.3 * with_words.probabilities[k] + 0.7 * without.probabilities[k] for k in recognizer.labels}
    assert mixed.probabilities == pytest.approx(expected, abs=2e-6)
    assert mixed.prediction == max(expected, key=expected.get)
    assert mixed.by_modality == with_words.by_modality  # each modality's own evidence is unchanged
    assert recognizer.predict(features, text_weight=1.0).probabilities == with_words.probabilities
    text_only = {"text": features["text"]}  # nothing to fall back on: the words are read as they are
    assert recognizer.predict(text_only, text_weight=0.3).probabilities == recognizer.predict(text_only).probabilities
    from xmer.errors import DataError

    with pytest.raises(DataError, match="text_weights"):
        recognizer.predict_many([features], text_weights=[1.5])


def test_polish_speech_is_not_read_as_english(shared_data):
    """A real nEMO clip (acted Polish): Whisper tiny.en's English guess is dropped, and the note says why."""
    from xmer.features.asr import speech_available

    if not speech_available():
        pytest.skip("xmer[speech] is not installed")
    clip = shared_data / "nemo" / "audio" / "EB0_neutral_13.opus"
    if not clip.is_file():
        pytest.skip(f"{clip} is not there")
    prediction = Recognizer.load().predict_media(audio=clip)
    assert prediction.observed == ["audio"] and prediction.text_source is None
    assert prediction.notes["text"].startswith("transcript dropped: words not understood")


def test_a_transcription_leaves_out_each_segment_the_rule_drops(monkeypatch):
    """The per-segment filter of ``xmer analyze`` and the whole-transcript rule are one rule."""
    from types import SimpleNamespace

    import xmer.features.asr as asr

    def segment(start, text, logprob, no_speech=0.05):
        return SimpleNamespace(start=start, end=start + 2, text=text, words=[], avg_logprob=logprob,
                               no_speech_prob=no_speech, compression_ratio=1.2)

    segments = [segment(0, "we waited for the bus", -0.3), segment(2, "kitty at law", -1.1),
                segment(4, "hmm", -0.6, no_speech=0.7), segment(6, "she was afraid", -0.6)]
    fake = SimpleNamespace(transcribe=lambda wave, **kw: (iter(segments), None))
    monkeypatch.setattr(asr, "whisper_model", lambda: fake)
    transcriber = asr.Transcriber()
    wave = np.zeros(16_000, np.float32)
    kept = transcriber.transcribe(wave)
    assert [u.text for u in kept] == ["we waited for the bus", "she was afraid"]  # nonsense and not-speech left out
    assert len(transcriber.transcribe(wave, filtered=False)) == 4
    heard = transcriber.hear(wave)  # the whole transcript: mean log-probability -0.65
    assert heard.decision == DOWN_WEIGHT and "-0.65" in heard.reason
