"""Audio feature extraction speed, as a multiple of real time on one core (target: >= 50x).

    python benchmarks/audio_extraction.py [--data-root ../shared/data] [--clips 60]

Measures the whole path a file takes in ``xmer extract`` (decode, mix to mono, resample to 16 kHz,
features) for each audio extractor, in one process with one torch thread, on:

- ``flac16k``: real RAVDESS speech clips as stored in ../shared/data (16 kHz mono FLAC);
- ``wav48k``: the same clips written as 48 kHz stereo WAV, as the RAVDESS release ships them (so the
  polyphase resampler and the channel mix are timed too);
- ``mp4aac``: the same clips muxed as 44.1 kHz stereo AAC into an MPEG-4 video (the audio track of
  a video, decoded with PyAV).

Without ../shared/data, espeak-ng speech (or, failing that, noise-modulated tones) stands in.
"x real time per core" = seconds of audio / CPU seconds of this process (``time.process_time``),
so other load on a shared machine does not distort it; wall-clock figures are printed beside it.
The last line is machine-readable: ``audio_x_realtime_<extractor>=<x>`` for the 48 kHz WAV case.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def speech_clips(data_root: Path, count: int, tmp: Path) -> tuple[list[Path], str]:
    ravdess = data_root / "ravdess" / "Audio_Speech_Actors_01-24"
    clips = sorted(ravdess.glob("Actor_*/*.flac"))
    if clips:
        step = max(1, len(clips) // count)
        return clips[::step][:count], f"RAVDESS speech ({ravdess})"
    import soundfile as sf

    out = []
    sentences = ["Kids are talking by the door.", "Dogs are sitting by the door.", "I can't believe it happened again!"]
    for i in range(count):
        path = tmp / f"synthetic{i}.wav"
        if shutil.which("espeak-ng"):
            subprocess.run(["espeak-ng", "-w", str(path), "-s", str(140 + 5 * (i % 8)), sentences[i % 3]], check=True, capture_output=True)
        else:
            t = np.arange(int(3.5 * 16000)) / 16000
            wave = 0.2 * np.sin(2 * np.pi * (120 + 10 * i) * t) * (1 + np.sin(2 * np.pi * 3 * t))
            sf.write(path, wave.astype(np.float32), 16000)
        out.append(path)
    return out, "espeak-ng speech" if shutil.which("espeak-ng") else "synthetic tones (no espeak-ng, no ../shared/data)"


def as_wav48k(clips: list[Path], tmp: Path) -> list[Path]:
    import soundfile as sf

    from xmer.features.audio import resample

    out = []
    for i, clip in enumerate(clips):
        samples, rate = sf.read(clip, dtype="float32", always_2d=True)
        wave = resample(samples[:, 0], rate, 48_000)
        path = tmp / f"clip{i}_48k.wav"
        sf.write(path, np.stack([wave, 0.9 * wave], axis=1), 48_000, subtype="PCM_16")
        out.append(path)
    return out


def as_mp4(clips: list[Path], tmp: Path) -> list[Path]:
    import av
    import soundfile as sf

    from xmer.features.audio import resample

    out = []
    for i, clip in enumerate(clips):
        samples, rate = sf.read(clip, dtype="float32", always_2d=True)
        wave = resample(samples[:, 0], rate, 44_100)
        stereo = np.ascontiguousarray(np.stack([wave, wave]))  # (2, N)
        path = tmp / f"clip{i}.mp4"
        with av.open(str(path), "w") as container:
            video = container.add_stream("mpeg4", rate=5)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
            track = container.add_stream("aac", rate=44_100)  # every stream before the first packet
            track.layout = "stereo"
            for packet in video.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")):
                container.mux(packet)
            for packet in video.encode():
                container.mux(packet)
            for start in range(0, stereo.shape[1], 1024):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, start : start + 1024]), format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = 44_100, start
                for packet in track.encode(frame):
                    container.mux(packet)
            for packet in track.encode():
                container.mux(packet)
        out.append(path)
    return out


def measure(extractor, files: list[Path], seconds: float) -> tuple[float, float]:
    """(x real time per CPU second, x real time per wall second) for extracting every file."""
    extractor(files[0])  # warm-up: lazy imports, filterbanks, openSMILE config
    cpu, wall = time.process_time(), time.perf_counter()
    for path in files:
        extractor(path)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return seconds / cpu, seconds / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--extractors", default="logmel,egemaps")
    args = parser.parse_args()

    import soundfile as sf
    import torch

    from xmer.features import get_extractor

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clips, what = speech_clips(args.data_root, args.clips, tmp)
        seconds = sum(sf.info(c).frames / sf.info(c).samplerate for c in clips)
        cases = {"flac16k": clips, "wav48k": as_wav48k(clips, tmp), "mp4aac": as_mp4(clips, tmp)}
        print(f"audio: {len(clips)} clips, {seconds:.1f} s of {what}; 1 torch thread, CPU time per core")
        print(f"{'extractor':12s} {'input':8s} {'x realtime/core':>16s} {'x realtime wall':>16s}")
        last = {}
        for name in args.extractors.split(","):
            extractor = get_extractor(name)
            for case, files in cases.items():
                per_cpu, per_wall = measure(extractor, files, seconds)
                print(f"{name:12s} {case:8s} {per_cpu:16.0f} {per_wall:16.0f}")
                if case == "wav48k":
                    last[name] = per_cpu
    print(" ".join(f"audio_x_realtime_{name}={x:.0f}" for name, x in last.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
