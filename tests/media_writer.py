"""The one writer of test videos: frames and, optionally, an audio track, muxed into an MPEG-4 file
with PyAV (the tests of analysis, audio reading and media prediction, and the benchmarks, build
their clips through it)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pytest


def write_av(path: Path, frames: Iterable[np.ndarray], fps: int, size: tuple[int, int],
             wave: np.ndarray | None = None, rate: int = 16_000) -> Path:
    """An MPEG-4 video at ``fps`` of ``frames`` (grey (H, W) or RGB (H, W, 3) uint8 arrays of
    ``size`` = (width, height)), with ``wave`` ((N,) mono or (N, C) float32 at ``rate``) as AAC."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        track = None
        if wave is not None:
            wave = np.asarray(wave, np.float32).reshape(len(wave), -1)  # (N, C)
            layout = {1: "mono", 2: "stereo"}[wave.shape[1]]
            track = out.add_stream("aac", rate=rate)
            track.layout = layout
        for picture in frames:
            rgb = np.repeat(picture[:, :, None], 3, axis=2) if picture.ndim == 2 else picture
            for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if track is not None:
            for start in range(0, len(wave), 1024):
                piece = np.ascontiguousarray(wave[start : start + 1024].T)
                frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout=layout)
                frame.sample_rate, frame.pts = rate, start
                for packet in track.encode(frame):
                    out.mux(packet)
            for packet in track.encode():
                out.mux(packet)
    return path
