"""Decoding long media as a stream: audio in fixed blocks, kept on disk for random access.

``xmer analyze`` must hold an hour of video in flat memory, so nothing here reads a whole file at
once. :func:`audio_blocks` decodes the first audio track of any file FFmpeg reads, converting it on
the fly to 16 kHz mono float32 with FFmpeg's own resampler (stateful, so block edges leave no
trace), and yields it in blocks of ``seconds``. :class:`WaveSpool` keeps those blocks as raw 16-bit
samples in a temporary folder (115 MB an hour) so that any stretch can be read back later
(:meth:`WaveSpool.read`) without keeping the waveform in memory. Video frames stream through
:func:`xmer.features.face.read_frames`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from xmer.errors import DataError
from xmer.features import ModalityAbsent
from xmer.features.media import IMAGE_SUFFIXES, check_file, error_reason, open_av, require_av

SAMPLE_RATE = 16_000


def audio_blocks(path: str | Path, seconds: float = 30.0) -> Iterator[np.ndarray]:
    """The first audio track of ``path`` as 16 kHz mono float32 blocks (n,), each ``seconds`` long but the last.

    Raises:
        DataError: the file is missing, empty, corrupt or unsupported (an image has no audio).
        ModalityAbsent: the file has no audio track.
    """
    path = check_file(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise DataError(f"{path}: an image has no audio")
    av = require_av()
    size = int(seconds * SAMPLE_RATE)
    with open_av(path) as container:
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            raise ModalityAbsent(f"{path}: no audio track")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        pending: list[np.ndarray] = []
        held, total = 0, 0
        try:
            frames = container.decode(stream)
            while True:
                frame = next(frames, None)
                for out in resampler.resample(frame):  # None flushes the resampler at the end
                    piece = out.to_ndarray().reshape(-1)
                    pending.append(piece)
                    held += piece.size
                while held >= size:
                    joined = np.concatenate(pending)
                    yield joined[:size]
                    total += size
                    pending, held = [joined[size:]], joined.size - size
                if frame is None:
                    break
        except DataError:
            raise
        except Exception as error:
            if total == 0 and held == 0:
                raise DataError(f"{path}: corrupt or truncated audio stream ({error_reason(error)})") from None
            # a damaged tail: keep what decoded before it
        if held:
            yield np.concatenate(pending)
        elif total == 0:
            raise ModalityAbsent(f"{path}: the audio track holds no samples")


class WaveSpool:
    """A 16 kHz mono waveform written block by block to a temporary file of raw 16-bit samples and
    read back by time. Use as a context manager; the file is deleted on exit."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="xmer-wave-")
        self.path = Path(self._dir.name) / "wave.s16"
        self._file = open(self.path, "w+b")
        self.samples = 0

    def __enter__(self) -> "WaveSpool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def append(self, block: np.ndarray) -> None:
        """Add a block of float32 samples in [-1, 1]."""
        pcm = np.round(np.clip(block, -1.0, 1.0) * 32767).astype("<i2")
        self._file.seek(0, 2)
        self._file.write(pcm.tobytes())
        self.samples += pcm.size

    @property
    def duration(self) -> float:
        return self.samples / SAMPLE_RATE

    def read(self, start: float, end: float) -> np.ndarray:
        """Samples from ``start`` to ``end`` seconds as float32 (n,), empty when nothing was written there."""
        a, b = max(0, int(start * SAMPLE_RATE)), min(self.samples, int(end * SAMPLE_RATE))
        if b <= a:
            return np.zeros(0, np.float32)
        self._file.flush()
        self._file.seek(2 * a)
        return np.frombuffer(self._file.read(2 * (b - a)), "<i2").astype(np.float32) / 32767

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._dir.cleanup()
