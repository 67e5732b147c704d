"""Audio feature extractors: a waveform at 16 kHz in, one feature vector per 10 ms out.

Loading (:func:`load_audio`): any format soundfile reads, or the audio track of a video through
PyAV; channels are averaged to mono; the rate is converted to 16 kHz with a polyphase filter
(``scipy.signal.resample_poly``, Kaiser-windowed sinc, exact rational ratio, e.g. 160/441 from
44.1 kHz). A signal whose peak stays below -60 dBFS counts as silent and one shorter than 100 ms as
too short: both raise :class:`~xmer.features.ModalityAbsent` (the modality is then missing).

Extractors (all with a 10 ms hop, so T = about 100 steps per second):

- ``logmel`` / ``logmel64``: log-mel filterbank energies computed with ``torch.stft``: 25 ms Hann
  window (400 samples) zero-padded to a 512-point FFT, 10 ms hop (160 samples), no centre padding
  (step t covers samples [160 t, 160 t + 400)), power spectrum, 80 (or 64) triangular filters on
  the HTK mel scale from 20 Hz to 8 kHz, natural log of (energy + 1e-6).
- ``egemaps``: the 25 low-level descriptors of eGeMAPSv02 (Eyben et al. 2016) from openSMILE:
  loudness, alpha ratio, Hammarberg index, spectral slopes, flux, MFCC 1-4, F0 (semitones from
  27.5 Hz), jitter, shimmer, HNR, H1-H2, H1-A3, F1-F3 frequency, bandwidth and level.
  ``egemaps_raw`` gives the descriptors as openSMILE does (their scales differ by up to four orders
  of magnitude and unvoiced frames hold 0 or -201 in the voicing-dependent ones).
- ``egemaps_stats``: the 88 eGeMAPSv02 functionals of the whole clip, one step, as openSMILE gives
  them (the standard eGeMAPS parameter set of the paper; a model standardises them with its training
  statistics).

Normalisation (``logmel``, ``logmel64``, ``egemaps``): each feature dimension is standardised over
the steps of its own utterance (per-utterance mean and variance normalisation, CMVN). Why: xmer
merges datasets recorded with different microphones, rooms and gains, and the absolute level of a
band or of F0 then says more about the recording setup (and the speaker) than about the emotion;
CMVN removes that offset and scale and keeps the contour (how energy, pitch and spectrum move
within the utterance), which carries most of the emotion. It also brings every dimension to unit
scale, which the recogniser's linear input layer and the translators' reconstruction losses need.
The price is the absolute loudness and pitch level of a clip; ``egemaps_raw`` keeps them for anyone
who standardises with training-set statistics instead.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from xmer.errors import ConfigError
from xmer.features import INSTALL_HINT, Extractor, ModalityAbsent
from xmer.features.media import read_audio

SAMPLE_RATE = 16_000
WINDOW = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms at 16 kHz
N_FFT = 512
SILENCE_DBFS = -60.0
MIN_SECONDS = 0.1


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of (N,) or (N, C) float32 samples from ``rate`` to ``target`` Hz."""
    if rate == target:
        return samples
    try:
        from scipy.signal import resample_poly
    except ImportError:
        raise ConfigError(f"resampling audio needs 'scipy'; install it with: {INSTALL_HINT}") from None

    ratio = Fraction(target, rate).limit_denominator(10_000)
    out = resample_poly(samples, ratio.numerator, ratio.denominator, axis=0)
    return out.astype(np.float32, copy=False)


def to_mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """(N, C) or (N,) samples at ``rate`` -> (N',) float32 mono at 16 kHz (channels averaged first)."""
    mono = samples.mean(axis=1, dtype=np.float32) if samples.ndim == 2 else samples.astype(np.float32, copy=False)
    return np.ascontiguousarray(resample(mono, rate))


def load_audio(source: str | Path) -> np.ndarray:
    """Read an audio file or a video's audio track as 16 kHz mono float32 (N,).

    Raises:
        DataError: the file cannot be read (missing, corrupt, truncated, unsupported).
        ModalityAbsent: no audio track, silence (peak below -60 dBFS), or shorter than 100 ms.
    """
    samples, rate = read_audio(source)
    wave = to_mono_16k(samples, rate)
    check_signal(wave, str(source))
    return wave


def check_signal(wave: np.ndarray, where: str = "waveform") -> None:
    """Raise :class:`ModalityAbsent` for a too-short or silent 16 kHz mono waveform."""
    seconds = wave.shape[0] / SAMPLE_RATE
    if seconds < MIN_SECONDS:
        raise ModalityAbsent(f"{where}: audio too short ({seconds * 1000:.0f} ms; at least {MIN_SECONDS * 1000:.0f} ms needed)")
    if not np.isfinite(wave).all():
        raise ModalityAbsent(f"{where}: audio holds NaN or infinite samples")
    peak = float(np.abs(wave).max())
    if peak < 10 ** (SILENCE_DBFS / 20):
        level = "digital silence" if peak == 0 else f"peak {20 * np.log10(peak):.0f} dBFS"
        raise ModalityAbsent(f"{where}: silent audio ({level}; below {SILENCE_DBFS:.0f} dBFS)")


def standardize(features: np.ndarray) -> np.ndarray:
    """Per-utterance mean and variance normalisation over time of a (T, D) array."""
    mean = features.mean(axis=0, keepdims=True)
    std = features.std(axis=0, keepdims=True)
    return ((features - mean) / (std + 1e-5)).astype(np.float32)


class AudioExtractor(Extractor):
    """Shared call: a path (audio or video file) or a 16 kHz mono waveform -> (T, D) features."""

    modality = "audio"
    step_seconds: float = HOP / SAMPLE_RATE
    """Time between two steps of a sequence-valued extractor (10 ms for log-mel and eGeMAPS)."""

    def __init__(self):
        from xmer.features.media import require_soundfile

        require_soundfile()  # fail at construction, not on the first file, when it is missing

    def __call__(self, source) -> np.ndarray:
        if isinstance(source, np.ndarray):
            wave = np.ascontiguousarray(source, dtype=np.float32).reshape(-1)
            check_signal(wave)
            where = "waveform"
        else:
            wave = load_audio(source)
            where = str(source)
        features = self.features(wave)
        if features.shape[0] == 0 or not np.isfinite(features).all():
            raise ModalityAbsent(f"{where}: {self.name or type(self).__name__} found no usable frames")
        return features

    def features(self, wave: np.ndarray) -> np.ndarray:
        """(N,) float32 at 16 kHz -> (T, D) float32."""
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------------
# Log-mel filterbanks


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int = N_FFT, rate: int = SAMPLE_RATE, fmin: float = 20.0, fmax: float | None = None) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangular filters, HTK mel scale, peak 1 (no area normalisation)."""
    fmax = fmax or rate / 2
    bins_hz = np.linspace(0, rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (n_mels, 1)
    rising = (bins_hz[None] - lower) / (centre - lower)
    falling = (upper - bins_hz[None]) / (upper - centre)
    return np.clip(np.minimum(rising, falling), 0.0, None).T.astype(np.float32)


class LogMel(AudioExtractor):
    """Log-mel filterbanks (torch.stft), 25 ms / 10 ms, per-utterance CMVN; (T, n_mels)."""

    name = "logmel"
    version = "1"

    def __init__(self, n_mels: int = 80, normalize: bool = True):
        if n_mels < 8 or n_mels > 128:
            raise ConfigError(f"logmel: n_mels must be between 8 and 128, got {n_mels}")
        super().__init__()
        self.dim = int(n_mels)
        self.normalize = normalize
        self._filters = mel_filterbank(n_mels)
        self._torch = None

    def features(self, wave: np.ndarray) -> np.ndarray:
        import torch

        if self._torch is None:
            self._torch = (torch.from_numpy(self._filters), torch.hann_window(WINDOW, periodic=True))
        filters, window = self._torch
        # torch.stft centres the 400-point window in each 512-point frame; 56 zeros each side make
        # step t's window cover exactly samples [160 t, 160 t + 400), so T = 1 + (N - 400) // 160.
        pad = (N_FFT - WINDOW) // 2
        wave = np.pad(np.asarray(wave, dtype=np.float32), (pad, pad + max(0, WINDOW - wave.shape[0])))
        with torch.no_grad():
            spec = torch.stft(
                torch.from_numpy(wave), n_fft=N_FFT, hop_length=HOP, win_length=WINDOW, window=window,
                center=False, return_complex=True,
            )  # (n_fft/2+1, T)
            power = spec.real.square() + spec.imag.square()
            logmel = torch.log(power.T @ filters + 1e-6)  # (T, n_mels)
        out = logmel.numpy().astype(np.float32, copy=False)
        return standardize(out) if self.normalize else out


# ---------------------------------------------------------------------------------------------------
# eGeMAPS low-level descriptors


class EGeMAPS(AudioExtractor):
    """The 25 eGeMAPSv02 low-level descriptors from openSMILE, 10 ms hop; (T, 25). With
    ``functionals``: the 88 eGeMAPSv02 functionals of the clip (means, spreads, percentiles and
    slopes of those descriptors, rates of voiced segments), one step; (1, 88)."""

    name = "egemaps"
    version = "1"
    dim = 25

    def __init__(self, normalize: bool = True, functionals: bool = False):
        try:
            import opensmile
        except ImportError:
            raise ConfigError(f"the egemaps extractor needs the 'opensmile' package; install it with: {INSTALL_HINT}") from None
        super().__init__()
        self.normalize, self.functionals = normalize and not functionals, functionals
        self.dim, self.pooled = (88, True) if functionals else (25, False)
        self._smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02,
            feature_level=opensmile.FeatureLevel.Functionals if functionals else opensmile.FeatureLevel.LowLevelDescriptors,
        )
        self.feature_names = tuple(self._smile.feature_names)
        if len(self.feature_names) != self.dim:
            raise ConfigError(f"egemaps: openSMILE gave {len(self.feature_names)} features, expected {self.dim}")

    def features(self, wave: np.ndarray) -> np.ndarray:
        # openSMILE converts to int16 by multiplying by 32768: keep the peak inside that range.
        wave = np.clip(wave, -1.0, 32767 / 32768).astype(np.float32, copy=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Segment too short": we check for NaN below
            frame = self._smile.process_signal(wave, SAMPLE_RATE)
        out = frame.to_numpy(dtype=np.float32)
        if not np.isfinite(out).all():
            return np.zeros((0, self.dim), dtype=np.float32)
        return standardize(out) if self.normalize else out
