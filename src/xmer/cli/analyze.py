"""``xmer analyze INPUT... [--out DIR] [--model RUN_DIR] [--faces main|all] [--window 2 --hop 1] [--transcript F.srt] [--no-asr] [--video-out] [--resume] [--ray [ADDRESS] --workers N]``

The emotion over time of videos or audio files. One input writes its timeline files into ``DIR``;
several inputs (files, folders of media files, or ``.txt`` lists of files) write each into
``DIR/<file name>/``, under one progress bar; a file that fails is reported on stderr and skipped,
and the exit status is then 1 (a single input that fails is an error: one line, exit status 2).
Without ``--out`` the files go to a new folder in the working folder, ``<file name>.xmer`` for one
input and ``analysis.xmer`` for several (``-2``, ``-3``... appended when the name is taken: nothing is
overwritten; with ``--resume`` the first name is reused).
``--resume`` skips the files whose folder already holds its four timeline files; ``--ray`` runs
:func:`xmer.analysis.run.analyze_file` for each file on a Ray cluster (:mod:`xmer.scaling.ray_jobs`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_AUDIO",
                        help="media files, folders of them, or .txt lists of them (one path or URI a line, "
                             "relative to the list's folder); a URI is read with PyArrow (file://, s3://, gs://, hdfs://)")
    parser.add_argument("--out", metavar="DIR",
                        help="where to write timeline.json/.csv/.png and summary.md (default: a new folder in the working "
                             "folder, <file name>.xmer for one input, analysis.xmer for several; never one that exists)")
    from xmer.cli.options import add_model_arguments

    add_model_arguments(parser)
    parser.add_argument("--faces", choices=("main", "all"), default="main",
                        help="follow the face seen most (main), or also give every face its own timeline (all) (default: %(default)s)")
    parser.add_argument("--window", type=float, default=2.0, help="seconds of context of a segment where nobody speaks (default: %(default)s)")
    parser.add_argument("--hop", type=float, default=1.0, help="length in seconds of a segment where nobody speaks (default: %(default)s)")
    parser.add_argument("--fps", type=float, default=4.0, help="video frames per second searched for faces (default: %(default)s)")
    parser.add_argument("--transcript", metavar="FILE.srt", help="the words with their times (.srt or .vtt); no transcription")
    parser.add_argument("--no-asr", action="store_true", help="do not transcribe the speech (no words unless --transcript)")
    parser.add_argument("--video-out", action="store_true",
                        help="also write DIR/annotated.mp4: the video with the face box, the emotion and the words burnt in")
    parser.add_argument("--json", action="store_true", help="print each timeline as JSON on stdout")
    parser.add_argument("--resume", action="store_true",
                        help="skip the files whose folder in DIR already holds timeline.json/.csv/.png and summary.md")
    from xmer.scaling.ray_jobs import add_ray_arguments

    add_ray_arguments(parser)


def media_files(inputs: list[str]) -> list[Path | str]:
    """The files to analyse: each file given, the video and audio files of each folder given
    (sorted), and the lines of each ``.txt`` list given (paths relative to the list's folder, or
    URIs, which stay strings)."""
    from xmer.uris import is_uri
    from xmer.errors import DataError
    from xmer.features.media import SOUNDFILE_SUFFIXES, VIDEO_SUFFIXES

    suffixes = VIDEO_SUFFIXES | SOUNDFILE_SUFFIXES | {".m4a", ".aac", ".opus", ".wma"}
    files: list[Path | str] = []
    for name in inputs:
        if is_uri(name):
            files.append(name)
            continue
        given = Path(name)
        if given.is_dir():
            found = sorted(p for p in given.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
            if not found:
                raise DataError(f"{given}: folder holds no video or audio files")
            files += found
        elif given.suffix.lower() == ".txt" and given.is_file():
            lines = [line.strip() for line in given.read_text(encoding="utf-8", errors="replace").splitlines()]
            listed = [line if is_uri(line) else given.parent / line for line in lines if line and not line.startswith("#")]
            if not listed:
                raise DataError(f"{given}: the list names no files (one path or URI a line)")
            files += listed
        else:
            files.append(given)
    return files


def output_folders(files: list[Path | str], out: Path, single: bool) -> dict[Path | str, Path]:
    """File -> the folder its timeline goes to: ``out`` for a single input, else ``out/<file name>``
    (a clash gets the name of the file's folder in front)."""
    from pathlib import PurePosixPath
    from urllib.parse import urlparse

    folders, taken = {}, set()
    for f in files:
        where = PurePosixPath(urlparse(f).path) if isinstance(f, str) else f
        name = where.name if where.name not in taken else f"{where.parent.name}_{where.name}"
        taken.add(name)
        folders[f] = out if single else out / name
    return folders


def default_out(files: list[Path | str], single: bool, resume: bool) -> Path:
    """The output folder when ``--out`` is not given: ``<file name>.xmer`` (one input) or
    ``analysis.xmer`` (several) in the working folder, with ``-2``, ``-3``... when taken (``resume``:
    the first name, taken or not)."""
    from pathlib import PurePosixPath
    from urllib.parse import urlparse

    first = files[0]
    name = (PurePosixPath(urlparse(first).path).name if isinstance(first, str) else first.name) if single else "analysis"
    base = Path(f"{name or 'analysis'}.xmer")
    if resume:
        return base
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = Path(f"{base}-{n}")
    return candidate


def analyzed(folder: Path) -> bool:
    """Whether ``folder`` holds the four files of a written timeline (what ``--resume`` skips)."""
    from xmer.analysis.report import FILES

    return all((folder / name).is_file() for name in FILES)


def timeline_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``Recognizer.analyze`` that the command line sets."""
    return {"transcript": args.transcript, "asr": not args.no_asr, "window": args.window, "hop": args.hop,
            "faces": args.faces, "fps": args.fps}


def run(args: argparse.Namespace) -> int:
    from xmer.cli.options import load_model
    from xmer.errors import ConfigError, DataError
    from xmer.scaling.ray_jobs import ray_options

    for name, unit in (("window", " of seconds"), ("hop", " of seconds"), ("fps", "")):
        if not getattr(args, name) > 0:
            raise DataError(f"--{name} must be a positive number{unit} (got {getattr(args, name)})")
    on_ray = ray_options(args)
    files = media_files(args.inputs)
    if args.transcript and len(files) > 1:
        raise DataError("--transcript goes with a single input")
    given = args.inputs[0]
    single = len(files) == 1 and not Path(given).is_dir() and not Path(given).suffix.lower() == ".txt"
    if args.out is None:
        args.out = str(default_out(files, single, args.resume))
        print(f"xmer analyze: writing to {args.out} (--out DIR to choose)", file=sys.stderr)
    folders = output_folders(files, Path(args.out), single)
    if args.resume:
        done = [f for f in files if analyzed(folders[f])]
        files = [f for f in files if f not in set(done)]
        if done:
            print(f"xmer analyze: {len(done)} file(s) already analysed in {args.out}, skipped (--resume)", file=sys.stderr)
    if on_ray is not None:
        from xmer.scaling.ray_jobs import analyze_on_ray

        if args.runtime != "torch" or args.device != "cpu":
            raise ConfigError("--ray runs the torch runtime on each worker's own device: leave out --runtime and --device")

        failures = analyze_on_ray(files, folders, args.model, timeline_options(args), args.video_out, args.json, on_ray)
    else:
        failures = _analyze_here(files, folders, load_model(args), args)
    if single and failures:
        raise DataError(failures[0][1])
    for f, why in failures:
        print(f"xmer analyze: skipped {f}: {why}", file=sys.stderr)
    return 1 if failures else 0


def report(f: Path | str, folder: Path, timeline, as_json: bool, write=print) -> None:
    """The line ``xmer analyze`` prints for a file it analysed: its timeline as JSON, or where it went."""
    import json

    write(json.dumps(timeline.to_json()) if as_json else f"{f}: {len(timeline.segments)} segments -> {folder}")


def _analyze_here(files: list, folders: dict, recognizer, args: argparse.Namespace) -> list[tuple[Path | str, str]]:
    """Analyse ``files`` one after the other in this process, under one progress bar in seconds of media."""
    from tqdm import tqdm

    from xmer.analysis.run import analyze_file
    from xmer.uris import is_uri
    from xmer.errors import ConfigError, DataError
    from xmer.features.media import probe

    failures: list[tuple[Path | str, str]] = []
    durations = {}
    for f in files:
        try:
            durations[f] = 0.0 if is_uri(f) else (probe(f).duration_s or 0.0)  # a URI is read once, when analysed
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
                timeline = analyze_file(recognizer, f, folders[f], args.video_out, progress=advance, **timeline_options(args))
            except ConfigError:
                raise
            except DataError as error:
                failures.append((f, str(error)))
                continue
            finally:
                bar.update(max(0.0, end - bar.n))  # the bar ends where the file does
            report(f, folders[f], timeline, args.json, write=lambda line: tqdm.write(line, file=sys.stdout))
    return failures
