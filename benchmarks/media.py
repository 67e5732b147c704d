"""From media to emotions, the three speeds a user meets: audio extraction, visual extraction, prediction.

    python benchmarks/media.py [--data-root ../shared/data] [--clips 20] [--video-seconds 8] [--repeats 5]

- **audio**: the default model's speech front-end (``whisper_egemaps`` today; ``--audio-extractor``
  names another) on speech clips written as 48 kHz stereo WAV (as RAVDESS ships them: decode, mix to
  mono, resample to 16 kHz, features), in seconds of audio per CPU second of this process with one
  torch thread (target >= 20x whatever the front-end; log-mel alone was 818x). RAVDESS clips from ../shared/data,
  else espeak-ng speech, else tones (``benchmarks/audio_extraction.py`` has the full table).
- **visual**: the ``fer`` extractor on a 640x480, 25 fps H.264 video of a real face photo, every
  frame decoded, searched for a face, cropped and embedded, in frames per wall second in one
  process with 2 threads (target >= 25 on 2 cores; ``benchmarks/visual_extraction.py`` has the
  per-stage breakdown and the multi-process figure).
- **predict**: ``Recognizer.predict_media`` of xmer's default model on a 5-second 640x480 clip with
  its audio track plus a 15-word text, median of ``--repeats`` calls after one warm-up call
  (start-up: imports, GloVe and the face CNN), i.e. what a server or a batch job pays per clip
  (target <= 1 s).

The last line is machine-readable: ``audio_x_realtime=<x> visual_fps=<y> predict_clip_s=<z>``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from audio_extraction import as_wav48k, measure, speech_clips  # noqa: E402
from test_predict_media import write_video as write_clip  # noqa: E402  (the tests' clip writer: face + AAC track)
from visual_extraction import timed  # noqa: E402
from visual_extraction import write_video as write_moving_face  # noqa: E402

from xmer.features import get_extractor  # noqa: E402
from xmer.inference import Recognizer  # noqa: E402


def audio_speed(data_root: Path, clips: int, tmp: Path, name: str) -> float:
    import soundfile as sf

    torch.set_num_threads(1)
    files, what = speech_clips(data_root, clips, tmp)
    seconds = sum(sf.info(f).frames / sf.info(f).samplerate for f in files)
    per_cpu, per_wall = measure(get_extractor(name), as_wav48k(files, tmp), seconds)
    print(f"audio: {name} on {len(files)} clips ({seconds:.0f} s of {what}) as 48 kHz WAV: "
          f"{per_cpu:.0f}x real time per core ({per_wall:.0f}x wall), 1 thread")
    return per_cpu


def visual_speed(seconds: float, tmp: Path) -> float:
    import cv2

    torch.set_num_threads(2)
    cv2.setNumThreads(2)
    video = tmp / "moving_face.mp4"
    frames = write_moving_face(video, seconds, "libx264")
    extractor = get_extractor("fer")
    extractor.fps = None  # every frame
    extractor(video)  # warm-up
    features, wall, cpu = timed(lambda: extractor(video))
    print(f"visual: fer on {frames} frames of 640x480 H.264, every frame, 2 threads: {frames / wall:.1f} frames/s "
          f"({frames / cpu:.1f} per CPU second; {len(features)} faces)")
    return frames / wall


def predict_speed(repeats: int, tmp: Path) -> float:
    torch.set_num_threads(2)
    recognizer = Recognizer.load()  # the default model that ships in the package
    clip = write_clip(tmp / "clip.mp4", seconds=5.0)
    text = "I can't believe we finally made it, this is the best day of my life"
    started = time.perf_counter()
    recognizer.predict_media(video=clip, text=text)
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        prediction = recognizer.predict_media(video=clip, text=text)
        notes = prediction.notes
        times.append(time.perf_counter() - started)
    print(f"predict: default model, 5 s clip 640x480 @10 fps with AAC audio + {len(text.split())} words, 2 threads: "
          f"first call {first:.2f} s (start-up included), then {', '.join(f'{t:.2f}' for t in times)} s; "
          f"observed {prediction.observed}, notes {notes or '-'}")
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=HERE.parents[1] / "shared" / "data")
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--video-seconds", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--audio-extractor", help="audio extractor to time (default: the default model's)")
    args = parser.parse_args()
    default_audio = Recognizer.load().card["extractors"]["audio"].split("@")[0]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        audio = audio_speed(args.data_root, args.clips, tmp, args.audio_extractor or default_audio)
        visual = visual_speed(args.video_seconds, tmp)
        predict = predict_speed(args.repeats, tmp)
    print(f"audio_x_realtime={audio:.0f} visual_fps={visual:.1f} predict_clip_s={predict:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
