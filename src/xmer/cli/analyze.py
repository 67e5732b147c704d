"""``xmer analyze INPUT... --out DIR [--model RUN_DIR] [--faces main|all] [--window 2 --hop 1] [--transcript F.srt] [--no-asr] [--video-out]``

The emotion over time of videos or audio files. One input writes its timeline files into ``DIR``;
several inputs (files, or folders of media files) write each into ``DIR/<file name>/``, under one
progress bar; a file that fails is reported on stderr and skipped, and the exit status is then 1
(a single input that fails is an error: one line, exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_AUDIO", help="media files, or folders of them")
    parser.add_argument("--out", required=True, metavar="DIR", help="where to write timeline.json/.csv/.png and summary.md")
    parser.add_argument("--model", metavar="RUN_DIR", help="a run or model folder (default: xmer's default model)")
    parser.add_argument("--faces", choices=("main", "all"), default="main",
                        help="follow the face seen most (main), or also give every face its own timeline (all)")
    parser.add_argument("--window", type=float, default=2.0, help="seconds of context of a segment where nobody speaks")
    parser.add_argument("--hop", type=float, default=1.0, help="length in seconds of a segment where nobody speaks")
    parser.add_argument("--fps", type=float, default=4.0, help="video frames per second searched for faces")
    parser.add_argument("--transcript", metavar="FILE.srt", help="the words with their times (.srt or .vtt); no transcription")
    parser.add_argument("--no-asr", action="store_true", help="do not transcribe the speech (no words unless --transcript)")
    parser.add_argument("--video-out", action="store_true",
                        help="also write DIR/annotated.mp4: the video with the face box, the emotion and the words burnt in")
    parser.add_argument("--json", action="store_true", help="print each timeline as JSON on stdout")


def media_files(inputs: list[str]) -> list[Path]:
    """The files to analyse: each file given, and the video and audio files of each folder given (sorted)."""
    from xmer.errors import DataError
    from xmer.features.media import SOUNDFILE_SUFFIXES, VIDEO_SUFFIXES

    suffixes = VIDEO_SUFFIXES | SOUNDFILE_SUFFIXES | {".m4a", ".aac", ".opus", ".wma"}
    files = []
    for given in map(Path, inputs):
        if given.is_dir():
            found = sorted(p for p in given.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
            if not found:
                raise DataError(f"{given}: folder holds no video or audio files")
            files += found
        else:
            files.append(given)
    return files


def run(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from xmer.errors import ConfigError, DataError
    from xmer.features.media import probe
    from xmer.inference import Recognizer
    from xmer.timeline_report import write_timeline

    for name, unit in (("window", " of seconds"), ("hop", " of seconds"), ("fps", "")):
        if not getattr(args, name) > 0:
            raise DataError(f"--{name} must be a positive number{unit} (got {getattr(args, name)})")
    files = media_files(args.inputs)
    if args.transcript and len(files) > 1:
        raise DataError("--transcript goes with a single input")
    recognizer = Recognizer.load(args.model)
    out = Path(args.out)
    single = len(files) == 1 and not Path(args.inputs[0]).is_dir()
    folders, taken = {}, set()
    for f in files:  # one subfolder per file, named after it; a clash gets the folder name in front
        name = f.name if f.name not in taken else f"{f.parent.name}_{f.name}"
        taken.add(name)
        folders[f] = out if single else out / name
    failures: list[tuple[Path, str]] = []
    durations = {}
    for f in files:
        try:
            durations[f] = probe(f).duration_s or 0.0
        except DataError as error:
            failures.append((f, str(error)))
    with tqdm(total=sum(durations.values()), unit="s", desc="analyze", file=sys.stderr,
              bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s of media [{elapsed}<{remaining}]") as bar:
        for f in files:
            if f not in durations:
                continue
            start = bar.n
            end = start + durations[f]

            def advance(seconds: float) -> None:  # never past this file's share of the bar
                bar.update(max(0.0, min(seconds, end - bar.n)))

            try:
                timeline = recognizer.analyze(f, transcript=args.transcript, asr=not args.no_asr, window=args.window,
                                              hop=args.hop, faces=args.faces, fps=args.fps, progress=advance)
                write_timeline(timeline, folders[f])
                if args.video_out and probe(f).has_video:
                    from xmer.timeline_video import write_annotated_video

                    write_annotated_video(timeline, folders[f] / "annotated.mp4")
            except ConfigError:
                raise
            except DataError as error:
                failures.append((f, str(error)))
                continue
            finally:
                bar.update(max(0.0, end - bar.n))  # the bar ends where the file does
            if args.json:
                print(json.dumps(timeline.to_json()))
            else:
                tqdm.write(f"{f}: {len(timeline.segments)} segments -> {folders[f]}", file=sys.stdout)
    if single and failures:
        raise DataError(failures[0][1])
    for f, why in failures:
        print(f"xmer analyze: skipped {f}: {why}", file=sys.stderr)
    return 1 if failures else 0
