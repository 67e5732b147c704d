"""Analysing a recording over time: from a video or audio file to a :class:`~xmer.analysis.timeline.Timeline`.

``Recognizer.analyze`` and ``xmer analyze`` call :func:`analyze_media`. It reads the file as a
stream, in two passes, so memory stays flat for any length:

1. **Audio pass** (when the file has an audio track): decode in 30 s blocks of 16 kHz mono, spool
   them to a temporary file (:class:`~xmer.features.stream.WaveSpool`), and transcribe them as they
   come (:meth:`~xmer.features.asr.Transcriber.transcribe_stream`), unless a subtitle file was
   given or transcription is off. The utterances decide the segments
   (:func:`~xmer.analysis.timeline.plan_segments`).
2. **Video pass** (when the file has video and the model takes faces): decode frames at ``fps``,
   find every face (Haar cascade: the whole frame once a second, around each known face in between), follow each across frames (:class:`~xmer.features.tracking.IoUTracker`),
   crop and embed it with the model's visual extractor, keeping only the embeddings (512 bytes a
   face a frame).

Then every segment gets the model's inputs for its context span, each through the model's own
extractor for its modality: the face embeddings of the followed track, the audio read back from the
spool, the words of the utterance (the voice and words are read by the audio side as soon as it has
transcribed, while the video pass still runs, when the file says its duration). It is predicted with all of them (missing ones imagined by the
translators, as always) and with each observed one alone. The main timeline follows the main
face, the track seen in the most frames, and where it is out of view the face seen most in the
segment (a face that leaves and comes back is a new track; each segment names the track it used);
``faces="all"`` also gives every track its own timeline. Tracks seen in fewer than
``min_track_frames`` frames are dropped as stray detections.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from xmer.errors import ConfigError, DataError
from xmer.features import ModalityAbsent, get_extractor
from xmer.analysis.timeline import FaceTrack, Segment, Timeline, plan_segments, read_cues

Progress = Callable[[float], None]
"""Called with the seconds of media just processed, divided by the number of passes."""


class _Faces:
    """Per track: sample times, boxes and embeddings of the face (grows by one row per face per sampled frame)."""

    def __init__(self):
        self.times: dict[int, list[float]] = {}
        self.boxes: dict[int, list[tuple[int, int, int, int]]] = {}
        self.embeddings: dict[int, list[np.ndarray]] = {}

    def add(self, track: int, time: float, box, embedding: np.ndarray) -> None:
        self.times.setdefault(track, []).append(time)
        self.boxes.setdefault(track, []).append(box)
        self.embeddings.setdefault(track, []).append(embedding.astype(np.float16))

    def within(self, track: int, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        """(T, D) float32 embeddings and (T, 4) boxes of ``track`` in ``[start, end)``."""
        times = np.asarray(self.times.get(track, []))
        keep = np.flatnonzero((times >= start) & (times < end))
        if keep.size == 0:
            return np.zeros((0, 0), np.float32), np.zeros((0, 4))
        emb = np.stack([self.embeddings[track][i] for i in keep]).astype(np.float32)
        return emb, np.asarray([self.boxes[track][i] for i in keep], float)


def _threads_per_pass(function):
    """Run ``function`` with half of torch's CPU threads (at least one), restored afterwards.

    The audio and video passes run side by side and each would otherwise ask for every core, and
    the many small forward passes of a timeline run faster on one thread than on two
    (docs/speed.md has the figures). Whisper takes its thread count from torch when it is first
    loaded, so in a fresh process it follows too. torch's setting belongs to the calling thread
    (OpenMP's), so analyses running at once in other threads (the server's) are not affected.
    """

    @functools.wraps(function)
    def run(*args, **kwargs):
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(max(1, before // 2))
        try:
            return function(*args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return run


@_threads_per_pass
def analyze_media(
    recognizer,
    path: str | Path,
    transcript: str | Path | None = None,
    asr: bool = True,
    window: float = 2.0,
    hop: float = 1.0,
    faces: str = "main",
    fps: float = 4.0,
    min_track_frames: int = 3,
    progress: Progress | None = None,
) -> Timeline:
    """The emotion timeline of a video or audio file (see the module docstring).

    Args:
        recognizer: the model; its card names the extractors its features came from.
        path: a video or audio file (any format FFmpeg reads).
        transcript: a ``.srt`` / ``.vtt`` file with the words and their times (then no transcription).
        asr: transcribe the speech (with ``xmer[speech]``); False: no words unless ``transcript``.
        window: seconds of context of a segment where nobody speaks; hop: length of such a segment.
        faces: ``"main"`` (the face seen most) or ``"all"`` (also a timeline per face track).
        fps: video frames sampled per second for faces.
        min_track_frames: face tracks seen in fewer sampled frames are dropped.
        progress: called as work is done (see :data:`Progress`).

    Raises:
        DataError: the file cannot be read, is an image, or holds nothing the model can use.
        ConfigError: the model's extractors cannot read media (without ``xmer[speech]``, the
            timeline has no words and a note says so).
    """
    from xmer.features.asr import SPEECH_HINT, get_transcriber, join_text, speech_available
    from xmer.features.media import IMAGE_SUFFIXES, choose_extractors, probe
    from xmer.features.stream import WaveSpool

    if faces not in ("main", "all"):
        raise ConfigError(f"faces must be 'main' or 'all', not {faces!r}")
    path = Path(path)
    info = probe(path)
    if info.kind == "image" or path.suffix.lower() in IMAGE_SUFFIXES:
        raise DataError(f"{path}: an image has no timeline; use xmer predict --image")
    extractors = choose_extractors(recognizer.media_extractors())
    extractors = {m: n for m, n in extractors.items() if m in recognizer.input_dims}
    use_video = info.has_video and "visual" in extractors
    use_audio = info.has_audio
    passes = max(1, int(use_audio) + int(use_video))
    tick = (lambda seconds: progress(seconds / passes)) if progress else (lambda seconds: None)
    notes: list[str] = []

    cues = read_cues(transcript) if transcript is not None else None
    transcriber = None
    if asr and cues is None and use_audio:
        if speech_available():
            transcriber = get_transcriber()
        else:
            notes.append(f"text: no words, speech transcription is not installed ({SPEECH_HINT})")
    with WaveSpool() as spool, ThreadPoolExecutor(1) as pool:
        # The audio side runs in a thread beside the video pass: Whisper (CTranslate2), FFmpeg and
        # OpenCV release the GIL, so on two cores the two overlap.
        video_done = threading.Event()
        plan = _Plan(info.duration_s, window, hop, cues)
        audio_job = pool.submit(_audio_side, path, spool, transcriber, plan, extractors, video_done, tick, notes) if use_audio else None
        track_faces, kept_tracks, seen = _Faces(), [], 0.0
        try:
            if use_video:
                seen = _video_pass(path, extractors["visual"], fps, track_faces, tick, notes)
        finally:
            video_done.set()
            utterances = audio_job.result() if audio_job is not None else []
        if cues is not None:
            utterances = cues
        duration = info.duration_s or max(spool.duration, seen)
        if duration <= 0:
            raise DataError(f"{path}: holds no decodable audio or video")
        counts = {t: len(v) for t, v in track_faces.times.items()}
        kept_tracks = [t for t in sorted(counts, key=lambda t: (track_faces.times[t][0], track_faces.boxes[t][0][0]))
                       if counts[t] >= min_track_frames]

        segments = plan.segments if plan.segments is not None else plan_segments(utterances, duration, window, hop)
        main = max(kept_tracks, key=lambda t: (len(track_faces.times[t]), -t)) if kept_tracks else None
        renumber = {t: i + 1 for i, t in enumerate(kept_tracks)}
        timelines = {None: segments}  # track -> its segments; None: the main face's timeline
        if faces == "all":
            timelines.update({t: [_blank(s) for s in segments] for t in kept_tracks})
        _predict_segments(recognizer, extractors, spool if use_audio else None, track_faces, timelines, main, kept_tracks, renumber,
                          plan.ready)
        tracks = [_face_track(track_faces, t, renumber[t], timelines.get(t)) for t in kept_tracks]
    if info.has_video and "visual" not in extractors:
        notes.append("visual: this model takes no faces")
    if transcriber is not None and not utterances:
        notes.append("text: no speech recognised")
    text_source = "transcript" if cues is not None else ("asr" if transcriber is not None and utterances else None)
    return Timeline(source=str(path), duration=round(duration, 3), labels=list(recognizer.labels), segments=segments,
                    transcript=join_text(utterances), text_source=text_source,
                    main_face=renumber.get(main), tracks=tracks, notes=notes, model=recognizer.identity)


def _predict_segments(recognizer, extractors: dict, spool, track_faces: "_Faces", timelines: dict, main, kept_tracks: list,
                      renumber: dict, ready: dict[int, dict], at_once: int = 16) -> None:
    """Fill every timeline's segments with their predictions, ``at_once`` segments' features at a
    time (memory stays flat): the main timeline follows the main face (else any kept face), a
    track's own timeline its face only. ``ready``: the voice and words of segments already read, by index."""
    segments = timelines[None]
    for i in range(0, len(segments), at_once):
        jobs = []
        for k in range(i, min(i + at_once, len(segments))):
            inputs = ready.pop(k) if k in ready else _shared_inputs(extractors, spool, segments[k])
            for track, own in timelines.items():
                followed = [main, *kept_tracks] if track is None else [track]
                jobs += _jobs(extractors, track_faces, followed, renumber, own[k], inputs)
        _run_jobs(recognizer, jobs)


def _face_track(track_faces: "_Faces", track, number: int, segments) -> FaceTrack:
    """A kept face track as the timeline reports it: its frames, first and last time, box path."""
    times = track_faces.times[track]
    return FaceTrack(number, len(times), round(min(times), 3), round(max(times), 3),
                     [[round(tt, 3), *map(int, b)] for tt, b in zip(times, track_faces.boxes[track])], segments)


@dataclass
class _Plan:
    """The segments, when the audio side can plan them (the duration is known before the video
    pass ends), and the voice and words of those it read while the video pass still ran."""

    duration: float | None
    window: float
    hop: float
    cues: list | None
    segments: list[Segment] | None = None
    ready: dict[int, dict] = field(default_factory=dict)


def _audio_side(path: Path, spool, transcriber, plan: _Plan, extractors: dict, video_done: threading.Event, tick,
                notes: list[str], ahead: int = 256) -> list:
    """The audio pass; then, while the video pass still runs, the plan of the segments and the
    features of their voice and words (of the first ``ahead`` segments at most, so memory stays
    bounded; the others are read afterwards, the same way). Returns the utterances."""
    utterances = _audio_pass(path, spool, transcriber, tick, notes)
    if plan.duration:
        plan.segments = plan_segments(plan.cues if plan.cues is not None else utterances, plan.duration, plan.window, plan.hop)
        for k, segment in enumerate(plan.segments[:ahead]):
            if video_done.is_set():
                break
            plan.ready[k] = _shared_inputs(extractors, spool, segment)
    return utterances


def _audio_pass(path: Path, spool, transcriber, tick, notes: list[str]) -> list:
    """Decode the audio track into ``spool`` and transcribe it as it comes (when ``transcriber``)."""
    from xmer.features.stream import audio_blocks

    def spooled(blocks):
        for block in blocks:
            spool.append(block)
            tick(block.size / 16_000)
            yield block

    try:
        blocks = spooled(audio_blocks(path))
        if transcriber is not None:
            return list(transcriber.transcribe_stream(blocks))
        for _ in blocks:
            pass
    except ModalityAbsent as error:
        notes.append(f"audio: {error}")
    return []


def _blank(segment: Segment) -> Segment:
    return Segment(segment.start, segment.end, segment.kind, segment.context, text=segment.text)


def _video_pass(path: Path, visual: str, fps: float, store: _Faces, tick, notes: list[str], full_search_s: float = 1.0) -> float:
    """Decode, detect, track and embed every face; returns the time of the last frame seen.

    The whole frame is searched for faces every ``full_search_s`` seconds (so a face coming into
    view is found within that time); in the frames between, each tracked face is searched for
    around its last box only. The crops are embedded in batches in a second thread, beside the
    decoding and the search (torch, FFmpeg and OpenCV release the GIL), and stored in frame order.
    """
    from xmer.features.face import FaceDetector, crop_face, read_frames
    from xmer.features.tracking import IoUTracker, iou

    extractor = get_extractor(visual)
    if not hasattr(extractor, "embed"):
        raise ConfigError(f"the visual extractor {visual!r} cannot embed face crops, which analyze needs")
    margin = getattr(extractor, "margin", 0.2)
    detector = getattr(extractor, "detector", None) or FaceDetector()
    tracker = IoUTracker(max_gap=max(1.0, 2.5 / fps))
    pending: list[tuple[int, float, tuple, np.ndarray]] = []
    embedding: deque = deque()  # (crops, their embedding job), oldest first
    last = 0.0

    def flush(held: int):
        """Send the pending crops to be embedded; store the oldest results until at most ``held`` batches are out."""
        if pending:
            embedding.append((list(pending), embedder.submit(extractor.embed, np.stack([p[3] for p in pending]))))
            pending.clear()
        while len(embedding) > held:
            batch, job = embedding.popleft()
            for (track, time, box, _), vector in zip(batch, job.result()):  # job.result(): (B, D)
                store.add(track, time, box, vector)

    decode_notes: list[str] = []
    full_every = max(1, round(fps * full_search_s))
    with ThreadPoolExecutor(1) as embedder:
        for k, frame in enumerate(read_frames(path, fps=fps, notes=decode_notes)):
            if k % full_every == 0:
                boxes = detector.detect_all(frame.grey)
            else:  # between full searches, each face is looked for only around where it was (several times cheaper)
                boxes = []
                for alive in tracker.alive:
                    box = detector.detect_near(frame.grey, alive.box)
                    if box is not None and all(iou(box, other) < 0.5 for other in boxes):
                        boxes.append(box)
            for track, box in zip(tracker.update(frame.time, boxes), boxes):
                pending.append((track, frame.time, box, crop_face(frame.grey, box, margin)))
            if len(pending) >= 32:
                flush(held=2)
            tick(max(0.0, frame.time - last))
            last = max(last, frame.time)
        flush(held=0)
    notes.extend(decode_notes)
    return last + 1.0 / fps


def _shared_inputs(extractors, spool, segment: Segment) -> dict[str, np.ndarray]:
    """The audio and text features of a segment's context (the same whichever face is followed)."""
    out = {}
    a, b = segment.context
    if spool is not None and "audio" in extractors:
        wave = spool.read(a, b)
        try:
            out["audio"] = _checked(get_extractor(extractors["audio"])(wave))
        except (ModalityAbsent, DataError):
            pass  # silence or too short: the audio of this segment is missing
    if segment.text and "text" in extractors:
        try:
            out["text"] = _checked(get_extractor(extractors["text"])(segment.text))
        except (ModalityAbsent, DataError):
            pass
    return {m: f for m, f in out.items() if f is not None}


def _checked(array) -> np.ndarray | None:
    array = np.asarray(array, np.float32)
    return array if array.ndim == 2 and array.shape[0] > 0 and np.isfinite(array).all() else None


def _jobs(extractors, store: _Faces, followed: list, renumber, segment: Segment, shared) -> list[tuple[Segment, dict]]:
    """The prediction a segment needs, as ``[(segment, features)]`` (the fused prediction carries each
    modality's own reading, :attr:`~xmer.inference.Prediction.by_modality`); sets
    the segment's face: the first track of ``followed`` seen in the segment's context, or, when it
    is not, the one of the others seen there most. A segment where nothing was observed (no face,
    silence, no words) needs none: it gets no prediction rather than a guess."""
    features = dict(shared)
    a, b = segment.context
    if "visual" in extractors:
        found = [(t, *store.within(t, a, b)) for t in followed if t is not None]
        found = [f for f in found if len(f[1])]
        if found:
            track, emb, boxes = found[0] if found[0][0] == followed[0] else max(found, key=lambda f: len(f[1]))
            features["visual"] = emb
            segment.face = {"track": renumber[track], "frames": int(len(emb)),
                            "box": [int(v) for v in np.median(boxes, axis=0).round()]}
    if not features:
        return []
    return [(segment, features)]


def _run_jobs(recognizer, jobs, batch_size: int = 32) -> None:
    """Run the predictions in batches and store them in their segments."""
    for i in range(0, len(jobs), batch_size):
        chunk = jobs[i : i + batch_size]
        ids = [f"{s.start:.2f}-{s.end:.2f}s" for s, _ in chunk]
        for (segment, _), out in zip(chunk, recognizer.predict_many([f for _, f in chunk], ids)):
            segment.prediction, segment.probabilities = out.prediction, out.probabilities
            segment.observed, segment.imagined, segment.by_modality = out.observed, out.imagined, out.by_modality


def analyze_file(recognizer, path: Path | str, folder: Path, video_out: bool = False, progress=None, **options):
    """Analyse one file (a path, or a URI that PyArrow reads) and write its timeline files into
    ``folder``, plus ``annotated.mp4`` with ``video_out`` when it has video: what ``xmer analyze``
    does per file, in this process or on a Ray worker. Returns the :class:`~xmer.analysis.timeline.Timeline`.

    Raises:
        DataError: the file cannot be read or analysed (the message names it).
    """
    from xmer.uris import is_uri, local_copy
    from xmer.errors import DataError
    from xmer.features.media import probe
    from xmer.analysis.report import warm_up, write_timeline

    warm_up()
    with local_copy(path) as local:
        try:
            timeline = recognizer.analyze(local, progress=progress, **options)
        except DataError as error:
            if not is_uri(path):
                raise
            raise DataError(str(error).replace(str(local), str(path))) from None  # the URI, not the copy
        timeline.source = str(path)
        write_timeline(timeline, folder)
        if video_out and probe(local).has_video:
            from xmer.analysis.video import write_annotated_video

            write_annotated_video(timeline, Path(folder) / "annotated.mp4")
    return timeline
