"""Speech augmentation: copies of a recording as another speaker, room or microphone might give it.

Three transforms of a 16 kHz mono waveform, each seeded through a ``numpy.random.Generator``:

- :func:`speed`: speed perturbation (tempo and pitch together, by resampling), as Kaldi's
  0.9 / 1.1 copies; a voice a little higher and faster, or lower and slower.
- :func:`add_noise`: white or pink noise at a signal-to-noise ratio in dB.
- :func:`reverberate`: a synthetic room (exponentially decaying noise as the impulse response,
  reverberation time ``rt60`` seconds), mixed with the dry signal.

:func:`augment` chains a random choice of them (at least one). ``benchmarks/speech_augment.py``
measures whether training copies made this way help speech front-ends on corpora left out.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

SAMPLE_RATE = 16000


def speed(wave: np.ndarray, factor: float) -> np.ndarray:
    """Play ``wave`` ``factor`` times as fast (1.1: 10% faster and higher); length / ``factor``."""
    from scipy.signal import resample_poly

    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    ratio = Fraction(factor).limit_denominator(100)
    return resample_poly(np.asarray(wave, np.float64), ratio.denominator, ratio.numerator).astype(np.float32)


def add_noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator, colour: str = "pink") -> np.ndarray:
    """``wave`` plus ``colour`` ("white" or "pink") noise whose power is ``snr_db`` below the signal's."""
    wave = np.asarray(wave, np.float32)
    noise = rng.standard_normal(len(wave))
    if colour == "pink":  # 1/f power: shape white noise's spectrum by 1/sqrt(f)
        spectrum = np.fft.rfft(noise)
        spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
        noise = np.fft.irfft(spectrum, len(wave))
    elif colour != "white":
        raise ValueError(f"noise colour must be 'white' or 'pink', got {colour!r}")
    signal_power = float(np.mean(wave.astype(np.float64) ** 2))
    noise_power = float(np.mean(noise ** 2)) or 1.0
    scale = np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return (wave + scale * noise).astype(np.float32)


def reverberate(wave: np.ndarray, rt60: float, rng: np.random.Generator, wet: float = 0.5) -> np.ndarray:
    """``wave`` in a synthetic room with reverberation time ``rt60`` s (60 dB decay), ``wet`` the
    share of the reverberant part; same length and RMS as ``wave``."""
    from scipy.signal import fftconvolve

    wave = np.asarray(wave, np.float32)
    n = max(1, int(rt60 * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    impulse = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000): -60 dB at rt60
    impulse /= np.sqrt(np.sum(impulse ** 2)) or 1.0
    wet_part = fftconvolve(wave, impulse)[: len(wave)]
    out = (1 - wet) * wave + wet * wet_part
    rms_in, rms_out = np.sqrt(np.mean(wave.astype(np.float64) ** 2)), np.sqrt(np.mean(out ** 2))
    return (out * (rms_in / rms_out if rms_out > 0 else 1.0)).astype(np.float32)


KINDS = ("speed", "reverb", "noise")


def augment(wave: np.ndarray, rng: np.random.Generator, kinds: tuple[str, ...] = KINDS) -> np.ndarray:
    """A random chain of ``kinds`` (each with probability 1/2, at least one): speed 0.9 or 1.1,
    reverberation of 0.2-0.6 s, pink or white noise at 10-25 dB SNR."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise ValueError(f"augmentation kinds: choose from {', '.join(KINDS)}, got {', '.join(kinds) or 'none'}")
    chosen = (rng.random(3) < 0.5) & np.isin(KINDS, kinds)
    if not chosen.any():
        chosen[KINDS.index(kinds[rng.integers(len(kinds))])] = True
    out = np.asarray(wave, np.float32)
    if chosen[0]:
        out = speed(out, float(rng.choice([0.9, 1.1])))
    if chosen[1]:
        out = reverberate(out, float(rng.uniform(0.2, 0.6)), rng)
    if chosen[2]:
        out = add_noise(out, float(rng.uniform(10, 25)), rng, colour=str(rng.choice(["pink", "white"])))
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    return out / peak * 0.99 if peak > 1.0 else out  # never clip
