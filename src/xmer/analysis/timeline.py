"""The emotion timeline of a recording: what ``xmer analyze`` and ``Recognizer.analyze`` return.

A :class:`Timeline` is a list of :class:`Segment` s that tile the recording in time order, without
gaps or overlap, each with a fused prediction, one prediction per observed modality, the words
spoken in it and the face it used. :func:`plan_segments` decides where segments fall:

- **speech**: each utterance of the transcription (a sentence or phrase, as Whisper cuts them, or a
  cue of a subtitle file) is one segment;
- **window**: a stretch where nobody speaks is cut into cells of ``hop`` seconds; each cell's
  features come from a ``window``-second context centred on it (clipped to the silent stretch), so
  with the defaults (window 2, hop 1) the predictions overlap like sliding windows while the
  segments themselves do not;
- a silence shorter than ``min_gap`` seconds between utterances is split between its neighbours
  rather than made a segment of its own.

Times are seconds from the start of the file. :func:`read_cues` reads the times and words of a
``.srt`` / ``.vtt`` subtitle file (the transcript a user gives instead of the transcription).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from xmer.errors import DataError
from xmer.features.asr import Utterance
from xmer.schema import SCHEMA_VERSION


@dataclass
class Segment:
    """One stretch of the timeline with its prediction."""

    start: float
    end: float
    kind: str
    """``"speech"`` (an utterance) or ``"window"`` (a cell of a stretch without speech)."""
    context: tuple[float, float]
    """The span whose face frames, audio and words the prediction read (a window cell reads more than itself)."""
    text: str = ""
    prediction: str | list[str] | None = None
    """None (and ``probabilities`` empty) when nothing was observed: no face, no sound, no words."""
    probabilities: dict[str, float] = field(default_factory=dict)
    observed: list[str] = field(default_factory=list)
    imagined: list[str] = field(default_factory=list)
    by_modality: dict[str, dict] = field(default_factory=dict)
    """Observed modality -> ``{"prediction", "probabilities"}`` from that modality alone."""
    face: dict | None = None
    """``{"track", "frames", "box"}``: the face track used, its frames in the context, its median box
    (x, y, w, h, source pixels); None when no face was seen."""

    def to_json(self) -> dict:
        out = asdict(self)
        out["context"] = [round(v, 3) for v in self.context]
        return out


@dataclass
class FaceTrack:
    """One face followed across frames: ``boxes`` is its path, rows ``[time, x, y, w, h]``."""

    id: int
    frames: int
    first: float
    last: float
    boxes: list[list[float]]
    segments: list[Segment] | None = None
    """The track's own timeline (``faces="all"`` only)."""

    def to_json(self) -> dict:
        out = asdict(self)
        out["segments"] = None if self.segments is None else [s.to_json() for s in self.segments]
        return out


@dataclass
class Timeline:
    """The emotion over time of one recording."""

    source: str
    duration: float
    labels: list[str]
    segments: list[Segment]
    """The timeline of the main face (the track seen in the most frames), or without faces."""
    transcript: str = ""
    text_source: str | None = None
    """``"asr"``, ``"transcript"`` (a subtitle file given) or None (no words)."""
    main_face: int | None = None
    tracks: list[FaceTrack] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model: dict = field(default_factory=dict)
    """``{"id", "extractors"}`` of the model that made it, as every prediction reports it."""

    def to_json(self) -> dict:
        """The timeline as the JSON object of docs/output.md (``schema_version`` first)."""
        return {"schema_version": SCHEMA_VERSION, "model": self.model, "source": self.source, "duration": round(self.duration, 3), "labels": self.labels,
                "segments": [s.to_json() for s in self.segments], "transcript": self.transcript,
                "text_source": self.text_source, "main_face": self.main_face,
                "tracks": [t.to_json() for t in self.tracks], "notes": self.notes}

    def timelines(self) -> dict[str, list[Segment]]:
        """Name -> segments: ``"main"``, then ``"face N"`` for every track with its own timeline."""
        out = {"main": self.segments}
        out.update({f"face {t.id}": t.segments for t in self.tracks if t.segments is not None})
        return out


def plan_segments(utterances: list[Utterance], duration: float, window: float = 2.0, hop: float = 1.0,
                  min_gap: float = 0.5) -> list[Segment]:
    """Segments (without predictions) tiling ``[0, duration]``: the utterances, and cells of ``hop``
    seconds where nobody speaks (see the module docstring).

    Args:
        utterances: speech with times in seconds, any order; clipped to the duration, overlaps trimmed.
        duration: the recording's length in seconds.
        window: seconds of context a window cell's prediction reads.
        hop: length of a window cell in seconds.
        min_gap: silences shorter than this are shared between the neighbouring utterances.
    """
    if window <= 0 or hop <= 0:
        raise DataError(f"--window and --hop must be positive (got {window} and {hop})")
    speech: list[list] = []
    for u in sorted(utterances, key=lambda u: u.start):
        start, end = max(0.0, u.start), min(duration, u.end)
        if speech and start < speech[-1][1]:
            start = speech[-1][1]
        if end - start > 1e-3:
            speech.append([start, end, u.text])
    # silences shorter than min_gap go half to each neighbour (the ends of the recording to the utterance)
    for i, s in enumerate(speech):
        before = s[0] - (speech[i - 1][1] if i else 0.0)
        if before < min_gap:
            s[0] -= before if i == 0 else before / 2
            if i:
                speech[i - 1][1] = s[0]
    if speech and duration - speech[-1][1] < min_gap:
        speech[-1][1] = duration
    segments: list[Segment] = []
    cursor = 0.0
    for start, end, text in speech + [[duration, duration, None]]:
        if start - cursor > 1e-6:
            segments.extend(_windows(cursor, start, window, hop))
        if text is not None:
            segments.append(Segment(round(start, 3), round(end, 3), "speech", (start, end), text=text))
        cursor = end
    return segments


def _windows(start: float, end: float, window: float, hop: float) -> list[Segment]:
    n = max(1, round((end - start) / hop))
    step = (end - start) / n
    cells = []
    for i in range(n):
        a, b = start + i * step, start + (i + 1) * step if i < n - 1 else end
        centre = (a + b) / 2
        context = (max(start, centre - window / 2), min(end, centre + window / 2))
        cells.append(Segment(round(a, 3), round(b, 3), "window", context))
    return cells


def read_cues(path: str | Path) -> list[Utterance]:
    """The timed cues of a SubRip (``.srt``) or WebVTT (``.vtt``) file as utterances.

    Raises:
        DataError: missing or unreadable file, or one without a single timed cue.
    """
    from xmer.features.text import read_text_file, subtitle_cues

    cues = [Utterance(start, end, words) for start, end, words in subtitle_cues(read_text_file(path)) if start is not None]
    if not cues:
        raise DataError(f"{path}: no timed cues found (analyze needs a .srt or .vtt transcript with times)")
    return cues
