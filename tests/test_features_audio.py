"""Audio loading and the audio extractors, on files these tests write: tones and noise in several
formats, a video with an AAC track muxed in with PyAV, espeak-ng speech (skipped when absent),
corrupt, truncated, silent and too-short files; plus real RAVDESS clips when ../shared/data exists."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
av = pytest.importorskip("av")

from media_writer import write_av  # noqa: E402
from xmer.errors import ConfigError, DataError  # noqa: E402
from xmer.features import EXTRACTORS, ModalityAbsent, get_extractor  # noqa: E402
from xmer.features.audio import HOP, WINDOW, load_audio, mel_filterbank, resample  # noqa: E402
from xmer.features.media import probe, read_audio  # noqa: E402

AUDIO_EXTRACTORS = [name for name, entry in EXTRACTORS.items() if entry.modality == "audio"]


def tone(seconds=1.0, rate=16_000, freq=440.0, amp=0.3, channels=1, seed=0) -> np.ndarray:
    """(N, C) float32: a sine plus a little noise."""
    t = np.arange(int(seconds * rate)) / rate
    wave = amp * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(seed).standard_normal(t.size)
    return np.repeat(wave[:, None], channels, axis=1).astype(np.float32)


def write_video(path: Path, seconds=1.0, audio: np.ndarray | None = None, rate=44_100) -> Path:
    """A small MPEG-4 video (grey frames, 25 fps), with ``audio`` (N, 2) muxed in as AAC if given."""
    frames = (np.full((120, 160, 3), 8 * i % 255, np.uint8) for i in range(int(seconds * 25)))
    return write_av(path, frames, 25, (160, 120), audio, rate)


def dominant_frequency(wave: np.ndarray, rate=16_000) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    return float(np.fft.rfftfreq(wave.size, 1 / rate)[spectrum.argmax()])


# -- loading -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix, rate, channels, subtype",
    [(".wav", 44_100, 2, "PCM_16"), (".flac", 48_000, 1, "PCM_24"), (".ogg", 22_050, 2, "VORBIS"), (".wav", 8_000, 1, "FLOAT")],
)
def test_load_audio_formats_to_16k_mono(tmp_path, suffix, rate, channels, subtype):
    path = tmp_path / f"tone{suffix}"
    sf.write(path, tone(1.0, rate, 440, channels=channels), rate, subtype=subtype)
    wave = load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(wave.size - 16_000) <= 16  # 1 s at 16 kHz (Vorbis may pad a few samples)
    assert abs(dominant_frequency(wave) - 440) < 3


def test_resample_is_exact_polyphase():
    x = tone(0.5, 44_100, 1000)[:, 0]
    y = resample(x, 44_100, 16_000)
    assert y.size == 8_000 and abs(dominant_frequency(y) - 1000) < 3
    # A tone above the new Nyquist frequency is filtered out, not aliased.
    high = resample(tone(0.5, 44_100, 12_000, amp=0.5)[:, 0], 44_100, 16_000)
    assert np.sqrt(np.mean(high[200:-200] ** 2)) < 0.02  # the input's RMS is 0.35


def test_audio_track_of_a_video(tmp_path):
    stereo = tone(1.0, 44_100, 660, channels=2)
    path = write_video(tmp_path / "clip.mp4", 1.0, stereo)
    info = probe(path)
    assert info.kind == "video" and info.has_audio and info.has_video and info.sample_rate == 44_100
    wave = load_audio(path)
    assert 15_500 < wave.size < 16_800  # the AAC encoder adds some priming samples
    assert abs(dominant_frequency(wave) - 660) < 5
    features = get_extractor("logmel")(path)
    assert features.shape[1] == 80 and 90 < features.shape[0] < 110


def test_video_without_audio_track_is_absent(tmp_path):
    path = write_video(tmp_path / "mute.mp4", 0.4)
    with pytest.raises(ModalityAbsent, match="no audio track"):
        load_audio(path)


@pytest.mark.parametrize("name, content", [("noise.wav", b"RIFF\x00\x01junkjunkjunk" * 50), ("noise.mp4", bytes(range(256)) * 20), ("notes.xyz", b"hello world\n" * 40)])
def test_corrupt_or_unsupported_file_is_a_data_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as error:
        load_audio(path)
    assert not isinstance(error.value, ModalityAbsent)
    assert name in str(error.value)


def test_truncated_files(tmp_path):
    wav = tmp_path / "cut.wav"
    sf.write(wav, tone(1.0), 16_000)
    wav.write_bytes(wav.read_bytes()[: 44 + 8000])  # header promises 16000 samples, 4000 left
    with pytest.raises(DataError, match="truncated"):
        load_audio(wav)
    video = write_video(tmp_path / "cut.mp4", 1.0, tone(1.0, 44_100, channels=2))
    video.write_bytes(video.read_bytes()[:2000])
    with pytest.raises(DataError, match="cut.mp4"):
        load_audio(video)
    flac = tmp_path / "cut.flac"
    sf.write(flac, tone(2.0), 16_000)
    flac.write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    with pytest.raises(DataError, match="cut.flac"):
        load_audio(flac)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_audio(tmp_path / "empty.wav")


def test_silent_and_too_short_audio_are_absent(tmp_path):
    sf.write(tmp_path / "zeros.wav", np.zeros(16_000, np.float32), 16_000)
    with pytest.raises(ModalityAbsent, match="silent"):
        load_audio(tmp_path / "zeros.wav")
    sf.write(tmp_path / "hiss.wav", tone(1.0, amp=0.0002) * 0.01, 16_000)  # about -67 dBFS peak
    with pytest.raises(ModalityAbsent, match="silent"):
        get_extractor("logmel")(tmp_path / "hiss.wav")
    sf.write(tmp_path / "blip.wav", tone(0.05), 16_000)
    with pytest.raises(ModalityAbsent, match="too short"):
        load_audio(tmp_path / "blip.wav")


# -- extractors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", AUDIO_EXTRACTORS)
def test_every_audio_extractor_gives_finite_T_by_D(name):
    try:
        extractor = get_extractor(name)
    except ConfigError as error:
        if "install" in str(error):
            pytest.skip(f"{name}: optional package missing ({error})")
        raise
    assert extractor.modality == "audio" and extractor.id == f"{name}@{extractor.version}"
    wave = tone(1.0, freq=220)[:, 0] + tone(1.0, freq=1800, amp=0.1, seed=1)[:, 0]
    features = extractor(wave)
    assert features.dtype == np.float32 and features.shape[1] == extractor.dim
    if extractor.pooled:
        assert features.shape[0] == 1  # one vector per clip
    else:
        per_second = round(1 / extractor.step_seconds)
        assert 0.95 * per_second <= features.shape[0] <= per_second  # 1 s of audio
    assert np.isfinite(features).all()
    assert get_extractor(name) is extractor  # built once per process


def test_logmel_matches_a_numpy_reference():
    extractor = get_extractor("logmel")
    wave = tone(0.5, freq=300)[:, 0] + tone(0.5, freq=2500, amp=0.05, seed=2)[:, 0]
    steps = 1 + (wave.size - WINDOW) // HOP
    frames = np.stack([wave[i * HOP : i * HOP + WINDOW] for i in range(steps)])  # (T, 400)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, n=512)) ** 2  # (T, 257)
    expected = np.log(power @ mel_filterbank(80) + 1e-6)
    expected = (expected - expected.mean(0)) / (expected.std(0) + 1e-5)
    got = extractor(wave)
    assert got.shape == expected.shape == (steps, 80)
    np.testing.assert_allclose(got, expected, atol=2e-3)
    # Per-utterance normalisation: every band has mean 0 and unit variance over time.
    np.testing.assert_allclose(got.mean(0), 0, atol=1e-4)


def test_logmel_tone_lands_in_its_mel_band():
    from xmer.features.audio import LogMel, hz_to_mel

    raw = LogMel(n_mels=64, normalize=False)(tone(0.5, freq=1000, amp=0.5)[:, 0])
    band = int(raw.mean(0).argmax())
    edges = np.linspace(hz_to_mel(20), hz_to_mel(8000), 66)
    assert abs(edges[band + 1] - hz_to_mel(1000)) < (edges[1] - edges[0]) * 1.5


def _espeak(tmp_path: Path, text: str) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


def test_egemaps_finds_voice_in_synthetic_speech(tmp_path):
    path = _espeak(tmp_path, "Kids are talking by the door.")
    rate = sf.info(path).samplerate
    assert rate != 16_000  # espeak-ng writes 22.05 kHz: the resampler is exercised
    raw = get_extractor("egemaps_raw")(path)
    names = get_extractor("egemaps_raw").feature_names
    f0 = raw[:, names.index("F0semitoneFrom27.5Hz_sma3nz")]
    assert (f0 > 0).mean() > 0.2  # voiced frames have a pitch
    assert 10 < np.median(f0[f0 > 0]) < 50  # 27.5 Hz * 2^(st/12): 50 .. 500 Hz
    assert get_extractor("logmel")(path).shape[0] == raw.shape[0] + 2  # 20 ms vs 60 ms frames, same hop


@pytest.mark.real_data
def test_ravdess_male_and_female_pitch(shared_data):
    root = shared_data / "ravdess" / "Audio_Speech_Actors_01-24"
    if not root.is_dir():
        pytest.skip(f"RAVDESS not found at {root}")
    extractor = get_extractor("egemaps_raw")
    column = extractor.feature_names.index("F0semitoneFrom27.5Hz_sma3nz")

    def median_f0(actor: str) -> float:
        clips = sorted((root / actor).glob("03-01-01-01-*.flac"))[:2]  # neutral
        f0 = np.concatenate([extractor(clip)[:, column] for clip in clips])
        return float(np.median(f0[f0 > 0]))

    # Odd actors are male, even ones female: about an octave (12 semitones) apart, at least 5.
    assert median_f0("Actor_02") - median_f0("Actor_01") > 5
    clip = next((root / "Actor_01").glob("*.flac"))
    assert probe(clip).sample_rate == 16_000
    samples, rate = read_audio(clip)
    assert rate == 16_000 and get_extractor("logmel")(clip).shape[0] == 1 + (samples.shape[0] - WINDOW) // HOP


def test_missing_optional_library_gives_the_install_hint(monkeypatch):
    import sys

    from xmer.errors import ConfigError
    from xmer.features.audio import EGeMAPS

    monkeypatch.setitem(sys.modules, "opensmile", None)  # makes `import opensmile` fail
    with pytest.raises(ConfigError, match=r"pip install 'xmer\[media\]'"):
        EGeMAPS()


def test_probe(tmp_path):
    import matplotlib

    image = probe(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    assert (image.kind, image.width, image.height, image.has_audio) == ("image", 512, 600, False)
    with pytest.raises(DataError, match="an image has no audio"):
        load_audio(image.path)
    sf.write(tmp_path / "a.flac", tone(1.5, 22_050, channels=2), 22_050)
    audio = probe(tmp_path / "a.flac")
    assert (audio.kind, audio.sample_rate, audio.channels, audio.has_video) == ("audio", 22_050, 2, False)
    assert audio.duration_s == pytest.approx(1.5)
    video = probe(write_video(tmp_path / "v.mp4", 0.4))
    assert (video.kind, video.width, video.height, video.frame_rate, video.has_audio) == ("video", 160, 120, 25.0, False)
    (tmp_path / "junk.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(500))
    with pytest.raises(DataError, match="junk.mkv"):
        probe(tmp_path / "junk.mkv")


def test_whisper_reads_past_its_30_s_window():
    try:
        extractor = get_extractor("whisper")
    except ConfigError as error:
        pytest.skip(f"whisper: optional package missing ({error})")
    wave = np.tile(tone(1.0, freq=220)[:, 0], 31)  # 31 s: one full window and one of 1 s
    states = extractor(wave)
    assert states.shape[1] == 384 and 1540 <= states.shape[0] <= 1550  # 50 states a second, all of them
    pooled = get_extractor("whisper_stats")(wave)
    np.testing.assert_allclose(pooled[0, :384], states.mean(0), atol=1e-4)


def test_egemaps_functionals_describe_the_whole_clip(tmp_path):
    path = _espeak(tmp_path, "Kids are talking by the door.")
    extractor = get_extractor("egemaps_stats")
    stats = extractor(path)
    assert stats.shape == (1, 88) and np.isfinite(stats).all()
    f0 = stats[0, extractor.feature_names.index("F0semitoneFrom27.5Hz_sma3nz_amean")]
    lld = get_extractor("egemaps_raw")(path)[:, get_extractor("egemaps_raw").feature_names.index("F0semitoneFrom27.5Hz_sma3nz")]
    assert f0 == pytest.approx(lld[lld > 0].mean(), abs=1.0)  # the mean pitch of the voiced frames


def test_whisper_egemaps_is_the_two_side_by_side(tmp_path):
    try:
        both = get_extractor("whisper_egemaps")
    except ConfigError as error:
        pytest.skip(f"whisper: optional package missing ({error})")
    path = _espeak(tmp_path, "I cannot believe you did that to me again.")
    features = both(path)
    assert features.shape == (1, 856) and both.dim == 856
    assert np.array_equal(features[:, :768], get_extractor("whisper_stats")(path))
    assert np.array_equal(features[:, 768:], get_extractor("egemaps_stats")(path))
    with pytest.raises(ModalityAbsent):
        both(np.zeros(16_000, np.float32))  # silence: no voice to read
