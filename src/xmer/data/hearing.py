"""A speech corpus paired with the words xmer itself hears in it (``xmer prepare ... --transcribe``).

At prediction time the text of a recording without a transcript is its transcription by Whisper
tiny.en, kept, down-weighted or dropped by :func:`xmer.features.asr.judge`. A recogniser trained on
a speech corpus's own transcripts (or on none) never sees what that gives: the neutral carrier
sentences of acted corpora, the nonsense of an English recogniser on Polish. ``--transcribe``
prepares the corpus as xmer would hear it: every clip with audio is transcribed, and its words
become the sample's text when the rule keeps or down-weights them; when it drops them the sample
has no text. The corpus's own transcript, where it had one, stays in the manifest as
``corpus_text``, and the rule's decision as ``asr`` (decision, weight, Whisper's mean
log-probability and no-speech probability), so the transcription can be measured against it.
"""

from __future__ import annotations

import sys
import time
from typing import Sequence

from xmer.errors import ConfigError


def transcribe_samples(samples: Sequence, where: str, progress: bool = True) -> dict[str, int]:
    """Give every sample with audio the text xmer would hear in it (in place); returns decision -> count.

    Args:
        samples: :class:`~xmer.data.sources.base.RawSample` s whose ``media["audio"]`` is a file.
        where: the corpus, for messages.
        progress: a line on stderr every 100 clips.

    A clip that cannot be read (or holds no sound) gets no text, its decision ``drop`` and the reason
    in ``asr``; the others are transcribed all the same, and the unreadable ones are counted as
    ``unreadable`` (not ``drop``) and named on stderr (their audio fails again, by name, when features are extracted).

    Raises:
        ConfigError: ``xmer[speech]`` is not installed.
    """
    from xmer.errors import DataError
    from xmer.features import ModalityAbsent
    from xmer.features.asr import DROP, get_transcriber, speech_available
    from xmer.features.audio import SAMPLE_RATE, load_audio

    if not speech_available():
        from xmer.features.asr import SPEECH_HINT

        raise ConfigError(f"--transcribe needs speech transcription: {SPEECH_HINT}")
    transcriber = get_transcriber()
    counts: dict[str, int] = {}
    unreadable: list[str] = []
    speech = [s for s in samples if "audio" in s.modalities and s.media and s.media.get("audio")]
    started = time.perf_counter()
    for done, sample in enumerate(speech, start=1):
        extra = dict(sample.extra or {})
        media = dict(sample.media)
        if isinstance(media.get("text"), str):
            extra["corpus_text"] = media.pop("text")
        unreadable_clip = False
        try:
            wave = load_audio(media["audio"])
            span = (extra.get("media_span") or {}).get("audio")
            if span:
                wave = wave[int(span[0] * SAMPLE_RATE): int(span[1] * SAMPLE_RATE)]
            heard = transcriber.hear(wave)
        except (ModalityAbsent, DataError) as error:  # one bad clip does not stop the corpus
            heard = None
            extra["asr"] = {"decision": DROP, "weight": 0.0, "reason": str(error)}
            if isinstance(error, DataError):
                unreadable_clip = True
                unreadable.append(f"{sample.id}: {error}")
        if heard is not None:
            extra["asr"] = {"decision": heard.decision, "weight": heard.weight, "reason": heard.reason,
                            "avg_logprob": round(heard.avg_logprob, 3), "no_speech_prob": round(heard.no_speech_prob, 3)}
            if heard.weight > 0:
                media["text"] = heard.text
        modalities = tuple(m for m in sample.modalities if m != "text") + (("text",) if "text" in media else ())
        sample.media, sample.extra, sample.modalities = media, extra, modalities
        decision = "unreadable" if unreadable_clip else extra["asr"]["decision"]
        counts[decision] = counts.get(decision, 0) + 1
        if progress and (done % 100 == 0 or done == len(speech)):
            print(f"{where}: transcribed {done}/{len(speech)} clips ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    if unreadable:
        listing = "\n  ".join(unreadable[:10]) + (f"\n  ... and {len(unreadable) - 10} more" if len(unreadable) > 10 else "")
        print(f"{where}: {len(unreadable)} clip(s) could not be read, so they have no words:\n  {listing}", file=sys.stderr, flush=True)
    return counts
