"""``xmer analyze`` end to end: speed on a minute of video with speech, peak memory on ten minutes,
and the word error rate of the offline transcription.

    python benchmarks/analyze.py [--seconds 60] [--long-minutes 10] [--threads 2]   # --long-minutes 0: speed only

- **Material** (built here, nothing real): a 640x480, 25 fps MPEG-4 video of the face photo that
  ships with matplotlib, drifting slowly across the frame, with an AAC track of espeak-ng saying the
  sentences of :data:`SENTENCES` in turn, 0.8 s apart, over and over; the face leaves the frame for
  3 s of every 20 and the speech pauses for 4 s of every 30 (so both fallbacks run).
- **Speed**: a fresh ``xmer analyze CLIP --out DIR`` process (start-up, model and Whisper loading,
  ASR, face search at 4 fps, per-segment predictions, the four files), wall time; reported as
  seconds of video per wall second (target >= 3 on 2 cores), with the process's CPU seconds
  (user + system), which a busy machine inflates less than the wall time.
- **Memory**: the same command on a ``--long-minutes`` video, peak resident set size of its process
  (``ru_maxrss``), beside that of the one-minute run: flat memory means the two are close.
- **WER**: each sentence of :data:`SENTENCES` spoken alone by espeak-ng, with 0.5 s of silence on either side, and transcribed
  (``Transcriber.transcribe``), and the whole one-minute track as ``analyze`` transcribes it;
  word error rate = (substitutions + deletions + insertions) / reference words, after lower-casing
  and dropping punctuation (Levenshtein alignment over words).

The last line is machine-readable: ``analyze_x_realtime=<x> peak_rss_mb_10min=<y>``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

SENTENCES = (
    "I am so happy to see you today.",
    "This is terrible, I hate waiting in the rain.",
    "Please put the books on the table by the window.",
    "I cannot believe you did that to me again.",
    "We will meet at the station at seven tomorrow morning.",
    "The weather was lovely and the children played outside.",
    "Why did nobody tell me about the meeting?",
    "She was afraid of the dark empty house.",
    "Thank you very much for the wonderful present.",
    "Turn left at the corner and walk for two blocks.",
)
"""What espeak-ng says: plain English of everyday length, a few with emotion words."""


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def wer(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference words)."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)], len(ref)


def speech_track(seconds: float, tmp: Path, pause_every: float = 30.0) -> tuple[np.ndarray, int, str]:
    """espeak-ng saying SENTENCES in turn for ``seconds`` (4 s of silence every ``pause_every`` s): wave, rate, words said."""
    from test_analyze import speak

    clips = [speak(s, tmp / f"s{i}.wav") for i, s in enumerate(SENTENCES)]
    rate = clips[0][1]
    pieces, said, total, i = [], [], 0, 0
    while total < seconds * rate:
        every = int(pause_every * rate)
        if total // every != (total + len(clips[i % len(clips)][0])) // every:
            pieces.append(np.zeros(4 * rate, np.float32))
            total += 4 * rate
        wave = clips[i % len(clips)][0]
        if total + len(wave) > seconds * rate:
            break
        pieces += [wave, np.zeros(int(0.8 * rate), np.float32)]
        said.append(SENTENCES[i % len(SENTENCES)])
        total += len(wave) + int(0.8 * rate)
        i += 1
    wave = np.concatenate(pieces)
    wave = np.concatenate([wave, np.zeros(max(0, int(seconds * rate) - len(wave)), np.float32)])[: int(seconds * rate)]
    return wave, rate, " ".join(said)


def build_video(path: Path, seconds: float, tmp: Path, fps: int = 25, pause_every: float = 30.0) -> str:
    """The benchmark clip (see the module docstring); returns the words spoken."""
    import cv2
    from test_analyze import PHOTO, write_clip

    wave, rate, said = speech_track(seconds, tmp, pause_every)
    face = cv2.resize(cv2.imread(str(PHOTO), cv2.IMREAD_GRAYSCALE), (200, 234))

    def frames():
        for i in range(int(seconds * fps)):
            t = i / fps
            grey = np.full((480, 640), 110, np.uint8)
            if t % 20 < 17:
                x = int(200 + 120 * np.sin(2 * np.pi * t / 40))
                grey[120:354, x : x + 200] = face
            yield grey

    write_clip(path, frames(), wave, rate, fps=fps)
    return said


def run_analyze(clip: Path, out: Path, threads: int) -> tuple[float, float, float]:
    """A fresh ``xmer analyze`` process: (wall seconds, CPU seconds, peak RSS in MB)."""
    code = ("import resource, sys, torch; torch.set_num_threads(%d); from xmer.cli import main; "
            "rc = main(['analyze', %r, '--out', %r]); "
            "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr); sys.exit(rc)"
            % (threads, str(clip), str(out)))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"xmer analyze failed on {clip}:\n{done.stderr[-2000:]}")
    rss = float(re.search(r"RSS ([0-9.]+)", done.stderr).group(1))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, rss


def example(out: Path, threads: int) -> None:
    """The README's picture: ``xmer analyze`` on a 24 s built clip (face away from 17 to 20 s, a
    pause in the speech about then)."""
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_video(tmp / "clip.mp4", 24, tmp, pause_every=18)
        run_analyze(tmp / "clip.mp4", tmp / "out", threads)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("timeline.png", "timeline.json", "timeline.csv", "summary.md"):
            shutil.copy(tmp / "out" / name, out / name)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--example", metavar="DIR", help="only build a 24 s clip, analyse it and copy the timeline files to DIR")
    parser.add_argument("--clip", metavar="FILE.mp4", help="only build the 24 s example clip into FILE.mp4 (what make demo does)")
    args = parser.parse_args()
    if args.example:
        return example(Path(args.example), args.threads)
    if args.clip:
        if shutil.which("espeak-ng") is None:
            sys.exit("no example clip: its voice is espeak-ng's (apt-get install espeak-ng)")
        Path(args.clip).parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            build_video(Path(tmp) / "clip.mp4", 24, Path(tmp), pause_every=18)
            shutil.move(str(Path(tmp) / "clip.mp4"), args.clip)
        print(f"wrote {args.clip}: a 24 s synthetic clip (a face photo drifting, espeak-ng speaking); try: xmer analyze {args.clip}")
        return

    from xmer.features.asr import get_transcriber
    from test_analyze import speak

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        errors = total = 0
        transcriber = get_transcriber()
        for i, sentence in enumerate(SENTENCES):
            wave, rate = speak(sentence, tmp / f"w{i}.wav")
            from xmer.features.audio import resample

            pad = np.zeros(8000, np.float32)  # half a second of silence either side, as in a recording
            heard = " ".join(u.text for u in transcriber.transcribe(np.concatenate([pad, resample(wave, rate), pad])))
            e, n = wer(sentence, heard)
            errors, total = errors + e, total + n
            if e:
                print(f"  said {sentence!r}, heard {heard!r}")
        sentence_wer = errors / total
        print(f"ASR: Whisper tiny.en int8 on {len(SENTENCES)} espeak-ng sentences ({total} words): WER {100 * sentence_wer:.1f}%")

        clip = tmp / "clip.mp4"
        said = build_video(clip, args.seconds, tmp)
        wall, cpu, rss_short = run_analyze(clip, tmp / "out", args.threads)
        timeline = json.loads((tmp / "out" / "timeline.json").read_text())
        e, n = wer(said, timeline["transcript"])
        speech = sum(s["kind"] == "speech" for s in timeline["segments"])
        print(f"analyze: {args.seconds:.0f} s of 640x480 25 fps video with speech, fresh process, {args.threads} threads: "
              f"{wall:.1f} s wall ({args.seconds / wall:.2f}x real time; {cpu:.1f} CPU s), {len(timeline['segments'])} segments "
              f"({speech} speech), transcript WER {100 * e / n:.1f}% ({n} words), peak RSS {rss_short:.0f} MB")

        if args.long_minutes <= 0:  # speed only
            print(f"analyze_x_realtime={args.seconds / wall:.2f} peak_rss_mb_10min=not-measured")
            return
        long_clip = tmp / "long.mp4"
        build_video(long_clip, args.long_minutes * 60, tmp)
        clip.unlink()
        long_wall, long_cpu, rss_long = run_analyze(long_clip, tmp / "long_out", args.threads)
        print(f"analyze: {args.long_minutes:.0f} min of the same: {long_wall:.0f} s wall "
              f"({args.long_minutes * 60 / long_wall:.2f}x real time; {long_cpu:.0f} CPU s), peak RSS {rss_long:.0f} MB "
              f"(one minute: {rss_short:.0f} MB)")
    print(f"asr_wer_sentences={sentence_wer:.3f} asr_wer_clip={e / n:.3f}")
    print(f"analyze_x_realtime={args.seconds / wall:.2f} peak_rss_mb_10min={rss_long:.0f}")


if __name__ == "__main__":
    main()
