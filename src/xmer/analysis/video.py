"""An annotated copy of an analysed video (``xmer analyze --video-out``): every frame with the
followed face's box, the segment's predicted emotion and its words burnt in, the audio track copied.

The video is decoded and encoded again as a stream, one frame at a time (H.264 with libx264 when
FFmpeg has it, else MPEG-4, at the source's frame rate and size); the audio packets are copied as
they are. The face box of a frame is the followed track's box at the nearest sampled time (within
half a second), so it moves in steps of the analysis's ``--fps``.
"""

from __future__ import annotations

import bisect
import textwrap
from pathlib import Path

import numpy as np

from xmer.errors import DataError
from xmer.analysis.timeline import Segment, Timeline


def _segment_at(segments: list[Segment], starts: list[float], t: float) -> Segment | None:
    i = bisect.bisect_right(starts, t) - 1
    return segments[i] if 0 <= i < len(segments) and t < segments[i].end + 1e-6 else None


def write_annotated_video(timeline: Timeline, out_path: str | Path, progress=None) -> Path:
    """Write the annotated copy of ``timeline.source`` to ``out_path`` (atomically); returns it.

    Raises:
        DataError: the source has no video stream or cannot be read.
    """
    import av
    import cv2

    from xmer.features.media import open_av
    from xmer.io import atomic_path

    source = Path(timeline.source)
    out_path = Path(out_path)
    segments = timeline.segments
    starts = [s.start for s in segments]
    track = next((t for t in timeline.tracks if t.id == timeline.main_face), None)
    box_times = [row[0] for row in track.boxes] if track else []
    with open_av(source) as src:
        video_in = next((s for s in src.streams if s.type == "video"), None)
        if video_in is None:
            raise DataError(f"{source}: has no video stream to annotate")
        audio_in = next((s for s in src.streams if s.type == "audio"), None)
        rate = video_in.average_rate or 25
        with atomic_path(out_path) as tmp:
            with av.open(str(tmp), "w", format="mp4") as out:
                codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
                video_out = out.add_stream(codec, rate=rate)
                video_out.width, video_out.height = video_in.codec_context.width, video_in.codec_context.height
                video_out.pix_fmt = "yuv420p"
                if codec == "libx264":
                    video_out.options = {"preset": "veryfast", "crf": "23"}
                audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None
                streams = [video_in] + ([audio_in] if audio_in is not None else [])
                last = 0.0
                for packet in src.demux(*streams):
                    if packet.stream.type == "audio":
                        if packet.dts is not None:
                            packet.stream = audio_out
                            out.mux(packet)
                        continue
                    try:
                        frames = packet.decode()
                    except Exception:
                        continue  # a damaged packet: skip its frames, as the analysis did
                    for frame in frames:
                        t = float(frame.time or 0.0)
                        image = _annotate(frame.to_ndarray(format="bgr24"), t, _segment_at(segments, starts, t),
                                          _box_at(track, box_times, t), cv2)
                        for p in video_out.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                            out.mux(p)
                        if progress is not None and t > last:
                            progress(t - last)
                            last = t
                for p in video_out.encode():
                    out.mux(p)
    return out_path


def _box_at(track, times: list[float], t: float):
    if not times:
        return None
    i = bisect.bisect_left(times, t)
    best = min((j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - t))
    return track.boxes[best][1:] if abs(times[best] - t) <= 0.5 else None


def _annotate(image: np.ndarray, t: float, segment: Segment | None, box, cv2) -> np.ndarray:
    """Draw the face box, the predicted emotion with its probability, and the words, on a BGR frame."""
    h, w = image.shape[:2]
    scale = max(0.4, w / 1280)
    thick = max(1, round(2 * scale))
    label = "nothing observed"
    if segment is not None and segment.probabilities:
        best = max(segment.probabilities, key=segment.probabilities.get)
        label = f"{segment.prediction}  {segment.probabilities[best]:.0%}   ({'+'.join(segment.observed)})"
    if box is not None:
        x, y, bw, bh = (int(v) for v in box)
        cv2.rectangle(image, (x, y), (x + bw, y + bh), (60, 220, 60), thick)
    cv2.rectangle(image, (0, 0), (w, int(40 * scale)), (0, 0, 0), -1)
    cv2.putText(image, f"{t:6.1f}s  {label}", (int(10 * scale), int(28 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                0.8 * scale, (255, 255, 255), thick, cv2.LINE_AA)
    if segment is not None and segment.text:
        lines = textwrap.wrap(segment.text, max(20, int(w / (14 * scale))))[:2]
        top = h - int((12 + 30 * len(lines)) * scale)
        cv2.rectangle(image, (0, top), (w, h), (0, 0, 0), -1)
        for k, line in enumerate(lines):
            cv2.putText(image, line, (int(10 * scale), top + int((26 + 30 * k) * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.7 * scale, (255, 255, 255), thick, cv2.LINE_AA)
    return image
