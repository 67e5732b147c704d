"""Speech augmentation (`xmer.features.augment`): each transform does what it says, seeded."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

from xmer.features.augment import KINDS, SAMPLE_RATE, add_noise, augment, reverberate, speed  # noqa: E402


def tone(seconds: float = 1.0, hz: float = 200.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def peak_hz(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.fft.rfftfreq(len(wave), 1 / SAMPLE_RATE)[spectrum.argmax()])


def test_speed_changes_length_and_pitch_together():
    wave = tone()
    faster = speed(wave, 1.1)
    assert len(faster) == pytest.approx(len(wave) / 1.1, abs=2) and faster.dtype == np.float32
    assert peak_hz(faster) == pytest.approx(220, abs=2) and peak_hz(speed(wave, 0.9)) == pytest.approx(180, abs=2)
    with pytest.raises(ValueError):
        speed(wave, 0)


@pytest.mark.parametrize("colour", ["white", "pink"])
def test_noise_is_added_at_the_asked_signal_to_noise_ratio(colour):
    wave = tone(2.0)
    noisy = add_noise(wave, 10.0, np.random.default_rng(0), colour)
    snr = 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) / np.mean((noisy - wave).astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.1)
    with pytest.raises(ValueError):
        add_noise(wave, 10.0, np.random.default_rng(0), "blue")


def test_reverberation_keeps_length_and_loudness_and_smears_time():
    click = np.zeros(SAMPLE_RATE, np.float32)
    click[100] = 1.0
    wet = reverberate(click, 0.4, np.random.default_rng(0))
    assert len(wet) == len(click)
    assert np.sqrt(np.mean(wet.astype(np.float64) ** 2)) == pytest.approx(np.sqrt(np.mean(click ** 2)), rel=1e-3)
    assert np.abs(wet[2000:]).max() > 0  # energy long after the click: the room's tail


def test_augment_is_seeded_never_clips_and_keeps_to_the_kinds_asked():
    wave = tone()
    a, b = augment(wave, np.random.default_rng(3)), augment(wave, np.random.default_rng(3))
    assert np.array_equal(a, b) and np.abs(a).max() <= 1.0
    for seed in range(10):  # speed alone: every copy is 0.9x or 1.1x as long, and otherwise clean
        out = augment(wave, np.random.default_rng(seed), ("speed",))
        assert len(out) in (pytest.approx(len(wave) / 0.9, abs=2), pytest.approx(len(wave) / 1.1, abs=2))
    assert not np.array_equal(augment(wave, np.random.default_rng(0), ("noise",)), wave)
    with pytest.raises(ValueError, match="choose from"):
        augment(wave, np.random.default_rng(0), ("pitch",))
    assert KINDS == ("speed", "reverb", "noise")
