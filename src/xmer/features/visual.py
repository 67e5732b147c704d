"""The visual extractor (the paper's FE_v): frames -> largest face -> FER2013 CNN embedding.

Each sampled frame that holds a face gives one row: the 128-d penultimate layer of the front-end
(:mod:`xmer.features.frontend`) applied to the 48x48 grey face (:mod:`xmer.features.face`).
Frames without a face give no row; a source without any face raises
:class:`~xmer.features.ModalityAbsent`, so the visual modality counts as missing.

The extractor's version carries the first 12 hex digits of the weights' sha256 (their
:func:`~xmer.features.frontend.weights_fingerprint`), so features made with other weights never mix
with these in one feature store.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xmer.features import Extractor, ModalityAbsent
from xmer.features.face import FACE_SIZE, FaceDetector, FaceTrack, extract_faces, read_image
from xmer.features.media import IMAGE_SUFFIXES
from xmer.features.frontend import WEIGHTS_PATH, load_frontend, normalise, weights_fingerprint

log = logging.getLogger(__name__)

VERSION = "2"
"""Bump when the pipeline (sampling, detection, crop, normalisation) changes for the same weights.
2: a single 48x48 image is taken as a face crop as it is (FER2013, CK+48), without detection."""


class FerExtractor(Extractor):
    """Faces per frame -> FER2013 CNN embeddings, (T, 128) float32.

    Args:
        fps: video frames sampled per second (None: every frame). Images and image folders give
            one row per image that holds a face.
        weights: front-end weights (default: the ones shipped in ``xmer/assets``).
        margin: crop margin around the detected face, as a fraction of its side on each side.
        detect_width: frames are down-scaled to this width for detection.
        batch_size: faces embedded per forward pass.
    """

    name = "fer"
    modality = "visual"

    def __init__(self, fps: float | None = 8.0, weights: str | Path | None = None, margin: float = 0.2,
                 detect_width: int = 320, batch_size: int = 256):
        path = Path(weights) if weights is not None else WEIGHTS_PATH
        self.model = load_frontend(path)
        self.dim = self.model.embed_dim
        self.version = f"{VERSION}+{weights_fingerprint(path)[:12]}"
        self.fps, self.margin, self.batch_size = fps, margin, batch_size
        self.detector = FaceDetector(detect_width=detect_width)

    def embed(self, faces: np.ndarray) -> np.ndarray:
        """uint8 grey faces (N, 48, 48) -> (N, D) float32 embeddings."""
        out = []
        with torch.inference_mode():
            for i in range(0, len(faces), self.batch_size):
                x = normalise(faces[i : i + self.batch_size]).contiguous(memory_format=torch.channels_last)  # (B, 1, 48, 48)
                out.append(self.model.embedding(x))  # (B, D)
        return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, self.dim), np.float32)

    def classify(self, faces: np.ndarray) -> np.ndarray:
        """uint8 grey faces (N, 48, 48) -> (N, 7) FER2013 class probabilities (the front-end's own head)."""
        with torch.inference_mode():
            return self.model(normalise(faces)).softmax(-1).numpy()

    def faces(self, source: Any, max_frames: int | None = None) -> FaceTrack:
        """The face track of ``source`` (a video, an image, a folder of images or a list of image paths)."""
        return extract_faces(source, fps=self.fps, max_frames=max_frames, detector=self.detector, margin=self.margin)

    def __call__(self, source: Any) -> np.ndarray:
        """(T, D) float32, one row per sampled frame that holds a face.

        Raises:
            DataError: the source cannot be read.
            ModalityAbsent: no frame holds a face.
        """
        crop = _face_crop(source)
        if crop is not None:
            return self.embed(crop[None])  # (1, D)
        track = self.faces(source)
        for note in track.notes:
            log.warning(note)
        if not track.found:
            raise ModalityAbsent(track.describe())
        return self.embed(track.faces)


def _face_crop(source: Any) -> np.ndarray | None:
    """A single image of exactly 48x48 pixels is already a face crop (FER2013 and CK+48 ship them so,
    and the front-end was trained on them): (48, 48) uint8 grey, or None for anything else. Running
    the detector on it would miss most faces (they fill the frame) and re-crop the rest."""
    if not isinstance(source, (str, Path)) or Path(source).suffix.lower() not in IMAGE_SUFFIXES:
        return None
    if not Path(source).is_file():
        return None
    grey = read_image(source)
    return grey if grey.shape == (FACE_SIZE, FACE_SIZE) else None
