"""Faces from media: decode frames, find the largest face in each, crop it to a 48x48 grey face.

Sources are a video (decoded with PyAV, sampled at ``fps`` frames per second), a single image, a
folder of images (an image sequence, in natural name order) or a list of image paths. Detection is
OpenCV's frontal-face Haar cascade (shipped with ``opencv-python-headless<5``) run on a down-scaled,
histogram-equalised copy of the frame; the largest face wins. The crop is a square around the
detection widened by ``margin`` (FER2013's faces are loosely cropped), padded by edge replication
where it leaves the frame, and resized to 48x48 with area averaging, like FER2013's images. A face
found in one frame is looked for around the same place in the next, which is several times cheaper
than searching the whole frame.

A readable input without any face is not an error here: :class:`FaceTrack` says how many frames
were examined and that none held a face, and the visual extractor turns that into
:class:`~xmer.features.ModalityAbsent`. Unreadable input raises :class:`~xmer.errors.DataError`.
"""

from __future__ import annotations

import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from xmer.errors import ConfigError, DataError
from xmer.features import INSTALL_HINT
from xmer.features.media import IMAGE_SUFFIXES, check_file, error_reason, open_av

FACE_SIZE = 48
"""Side of the square grey face crop, as in FER2013 (the front-end's input size)."""


def require_cv2():
    """The cv2 module with its Haar cascades, or a ConfigError with the install hint."""
    try:
        import cv2
    except ImportError:
        raise ConfigError(f"face detection needs OpenCV ('opencv-python-headless<5'); install it with: {INSTALL_HINT}") from None
    if not hasattr(cv2, "data"):  # OpenCV 5 dropped the bundled cascades
        raise ConfigError(f"OpenCV {cv2.__version__} ships no Haar cascades; install 'opencv-python-headless<5' ({INSTALL_HINT})")
    return cv2


@dataclass
class Frame:
    """One decoded frame: its index in the source, its time in seconds, and the grey image (H, W) uint8."""

    index: int
    time: float
    grey: np.ndarray


@dataclass
class FaceTrack:
    """The faces found in one source, one row per frame that held a face.

    ``faces`` (T, 48, 48) uint8; ``times`` (T,) seconds; ``frame_indices`` (T,) index of the frame
    in the source; ``boxes`` (T, 4) detection as x, y, w, h in source pixels.
    """

    source: str
    faces: np.ndarray
    times: np.ndarray
    frame_indices: np.ndarray
    boxes: np.ndarray
    frames_examined: int
    notes: list[str] = field(default_factory=list)
    """Anything the caller should know (e.g. decoding stopped early on a damaged stream)."""

    @property
    def found(self) -> bool:
        return len(self.faces) > 0

    def describe(self) -> str:
        """One line: how many of the examined frames held a face."""
        if not self.found:
            return f"no face found in {self.source} ({self.frames_examined} frame{'s' * (self.frames_examined != 1)} examined)"
        return f"{len(self.faces)} of {self.frames_examined} frames of {self.source} hold a face"


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


MAX_IMAGE_PIXELS = 40_000_000
"""The largest image read, width x height (a 6,300 x 6,300 photo; the server's default limit too):
a 400-megapixel PNG would take 1.4 GB to decode, for a face found at 48 x 48."""


def check_image_size(path: Path, limit: int = MAX_IMAGE_PIXELS) -> None:
    """Raise DataError for an image larger than ``limit`` pixels, read from its header (nothing decoded).
    Formats Pillow cannot open are left to the decoder."""
    try:
        from PIL import Image
    except ImportError:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked below
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError:  # Pillow's own refusal, past 179 million pixels
        raise DataError(f"{path}: an image of more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels; xmer reads at most "
                        f"{limit:,}: scale it down first") from None
    except Exception:  # not an image Pillow knows: OpenCV or FFmpeg decides below
        return
    if width * height > limit:
        raise DataError(f"{path}: {width}x{height} pixels is more than the {limit:,} xmer reads; scale it down first")


def read_image(path: str | Path) -> np.ndarray:
    """A grey (H, W) uint8 image from any format OpenCV (or, failing that, FFmpeg) reads.

    Raises:
        DataError: missing, empty, corrupt or unsupported file.
    """
    cv2 = require_cv2()
    path = check_file(path)
    check_image_size(path)
    grey = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)  # fromfile: any path encoding
    if grey is None:
        frames = list(_decode_video(path, fps=None, max_frames=1))  # GIF, WebP and friends
        if not frames:
            raise DataError(f"{path}: not a readable image")
        grey = frames[0].grey
    return grey


def _decode_video(path: Path, fps: float | None, max_frames: int | None, notes: list[str] | None = None) -> Iterator[Frame]:
    with open_av(path) as container:
        stream = next((s for s in container.streams if s.type == "video"), None)
        if stream is None:
            from xmer.features import ModalityAbsent

            raise ModalityAbsent(f"{path}: has no video stream")
        stream.thread_type = "AUTO"  # frame-parallel decoding inside FFmpeg
        rate = float(stream.average_rate) if stream.average_rate else 25.0
        period = 1.0 / fps if fps else 0.0
        next_time, index, kept = 0.0, -1, 0
        try:
            for frame in container.decode(stream):
                index += 1
                t = float(frame.time) if frame.time is not None else index / rate
                if fps and t + 1e-6 < next_time:
                    continue
                next_time = max(next_time + period, t + period / 2) if fps else 0.0
                yield Frame(index, t, frame.to_ndarray(format="gray"))
                kept += 1
                if max_frames and kept >= max_frames:
                    return
        except Exception as error:
            if kept == 0:
                raise DataError(f"{path}: corrupt or truncated video ({error_reason(error)})") from None
            if notes is not None:  # keep what decoded before the damage
                notes.append(f"{path}: decoding stopped after frame {index} ({error_reason(error)})")
    if index < 0:
        raise DataError(f"{path}: no decodable video frames (corrupt or truncated)")


def read_frames(
    source: str | Path | Sequence[str | Path],
    fps: float | None = 8.0,
    max_frames: int | None = None,
    sequence_fps: float = 25.0,
    notes: list[str] | None = None,
) -> Iterator[Frame]:
    """Decode ``source`` into grey frames.

    Args:
        source: a video file, an image file, a folder of images, or a list of image paths.
        fps: sample a video at this many frames per second (None: every frame). Image sequences
            are not sub-sampled: each image is one frame.
        max_frames: stop after this many frames (None: all).
        sequence_fps: the frame rate that gives an image sequence its time stamps.
        notes: if given, a line is appended for a video whose decoding stopped early.

    Raises:
        DataError: missing, empty, corrupt or unsupported input; an empty folder.
    """
    if isinstance(source, (list, tuple)):
        paths = [Path(p) for p in source]
    elif Path(source).is_dir():
        paths = sorted((p for p in Path(source).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
        if not paths:
            raise DataError(f"{source}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    else:
        path = check_file(source)
        if path.suffix.lower() in IMAGE_SUFFIXES and path.suffix.lower() != ".gif":
            yield Frame(0, 0.0, read_image(path))
            return
        yield from _decode_video(path, fps, max_frames, notes)
        return
    for i, path in enumerate(paths[:max_frames] if max_frames else paths):
        yield Frame(i, i / sequence_fps, read_image(path))


# ---------------------------------------------------------------------------------------------
# Detection and cropping
# ---------------------------------------------------------------------------------------------


class FaceDetector:
    """Largest frontal face in a grey frame, with OpenCV's Haar cascade.

    A full search scans the whole frame, down-scaled to ``detect_width``. Given a ``prior`` box (the
    face in the previous frame), :meth:`detect` first searches only around it, at sizes near it and
    at a resolution where the face is about ``track_size`` pixels: several times cheaper than a full
    search, and it finds small faces more reliably. It falls back to the full search when that fails.

    Args:
        detect_width: frames wider than this are down-scaled to it for the full search.
        min_face: smallest face looked for, as a fraction of the frame's shorter side.
        scale_factor, min_neighbors: the cascade's search step and how many overlapping hits a
            detection needs (higher: fewer false faces, more misses).
        track_size: side in pixels a prior face is scaled to for the search around it.
    """

    def __init__(self, detect_width: int = 320, min_face: float = 0.1, scale_factor: float = 1.1, min_neighbors: int = 5,
                 track_size: int = 64):
        cv2 = require_cv2()
        self.cv2 = cv2
        self._path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._local = threading.local()
        self.cascade  # noqa: B018 - load it now, so a broken install fails here
        self.detect_width, self.min_face, self.track_size = detect_width, min_face, track_size
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors

    @property
    def cascade(self):
        """This thread's cascade: OpenCV's detector keeps per-image buffers, so threads (the
        server's workers) must not share one."""
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = self._local.cascade = self.cv2.CascadeClassifier(str(self._path))
            if cascade.empty():
                raise ConfigError(f"cannot load the Haar cascade {self._path}; reinstall 'opencv-python-headless<5'")
        return cascade

    def _search(self, grey: np.ndarray, scale: float, min_side: int, max_side: int = 0) -> tuple[int, int, int, int] | None:
        """Largest face in ``grey`` resized by ``scale``, as (x, y, w, h) in ``grey``'s pixels."""
        found = self._search_all(grey, scale, min_side, max_side)
        return max(found, key=lambda b: b[2] * b[3]) if found else None

    def _search_all(self, grey: np.ndarray, scale: float, min_side: int, max_side: int = 0) -> list[tuple[int, int, int, int]]:
        """Every face in ``grey`` resized by ``scale``, as (x, y, w, h) in ``grey``'s pixels."""
        cv2 = self.cv2
        h, w = grey.shape
        image = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR) if scale != 1 else grey
        image = cv2.equalizeHist(image)
        found = self.cascade.detectMultiScale(image, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                                              minSize=(min_side, min_side), maxSize=(max_side, max_side) if max_side else (0, 0))
        return [tuple(int(round(v / scale)) for v in box) for box in found]

    def detect_all(self, grey: np.ndarray) -> list[tuple[int, int, int, int]]:
        """(H, W) uint8 -> every face as (x, y, w, h) in this frame's pixels (a full search)."""
        H, W = grey.shape
        scale = min(1.0, self.detect_width / W)
        return self._search_all(grey, scale, max(20, int(self.min_face * min(H, W) * scale)))

    def detect_near(self, grey: np.ndarray, prior: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
        """The face near ``prior`` (last frame's box), searched only around it, or None."""
        H, W = grey.shape
        x, y, w, h = prior
        side = max(w, h)
        pad = int(0.5 * side)
        x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(W, x + w + pad), min(H, y + h + pad)
        scale = min(1.0, self.track_size / side) if side > 0 else 1.0
        s = side * scale
        box = self._search(grey[y0:y1, x0:x1], scale, max(20, int(0.7 * s)), int(1.45 * s) + 1) if x1 > x0 and y1 > y0 else None
        return None if box is None else (box[0] + x0, box[1] + y0, box[2], box[3])

    def detect(self, grey: np.ndarray, prior: tuple[int, int, int, int] | None = None) -> tuple[int, int, int, int] | None:
        """(H, W) uint8 -> the largest face as (x, y, w, h) in this frame's pixels, or None.

        ``prior``: the face's box in the previous frame, to search around first.
        """
        H, W = grey.shape
        if prior is not None:
            box = self.detect_near(grey, prior)
            if box is not None:
                return box
        scale = min(1.0, self.detect_width / W)
        return self._search(grey, scale, max(20, int(self.min_face * min(H, W) * scale)))


def crop_face(grey: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.2, size: int = FACE_SIZE) -> np.ndarray:
    """Square crop around ``box`` widened by ``margin`` of its side on each side, edge-padded where
    it leaves the frame, resized to (size, size) uint8."""
    cv2 = require_cv2()

    x, y, w, h = box
    side = int(round(max(w, h) * (1 + 2 * margin)))
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    H, W = grey.shape
    pad = max(0, -x0, -y0, x0 + side - W, y0 + side - H)
    if pad:
        grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    crop = grey[y0 : y0 + side, x0 : x0 + side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)


def extract_faces(
    source: str | Path | Sequence[str | Path],
    fps: float | None = 8.0,
    max_frames: int | None = None,
    detector: FaceDetector | None = None,
    margin: float = 0.2,
    full_search_every: int = 8,
) -> FaceTrack:
    """The largest face of every sampled frame of ``source`` (see :func:`read_frames`).

    A face found in one frame is searched for around the same place in the next (see
    :meth:`FaceDetector.detect`); every ``full_search_every``-th frame searches the whole frame, so
    that a larger face coming into view takes over.

    Returns:
        A :class:`FaceTrack`; ``found`` is False when no frame held a face (not an error).

    Raises:
        DataError: the input cannot be read.
    """
    detector = detector or FaceDetector()
    notes: list[str] = []
    faces, times, indices, boxes = [], [], [], []
    examined, box = 0, None
    for frame in read_frames(source, fps=fps, max_frames=max_frames, notes=notes):
        prior = box if examined % full_search_every else None
        examined += 1
        box = detector.detect(frame.grey, prior)
        if box is None:
            continue
        faces.append(crop_face(frame.grey, box, margin))
        times.append(frame.time)
        indices.append(frame.index)
        boxes.append(box)
    name = str(source) if not isinstance(source, (list, tuple)) else f"{len(source)} images"
    return FaceTrack(
        source=name,
        faces=np.stack(faces) if faces else np.zeros((0, FACE_SIZE, FACE_SIZE), np.uint8),
        times=np.asarray(times, dtype=np.float64),
        frame_indices=np.asarray(indices, dtype=np.int64),
        boxes=np.asarray(boxes, dtype=np.int64).reshape(-1, 4),
        frames_examined=examined,
        notes=notes,
    )
