"""``xmer prepare SOURCE --raw PATH --out DIR [--label-space NAME|FILE] [--allow-partial] [--json]``

Turns a dataset release into a prepared-dataset folder and prints what it found: samples per split
and class, dropped samples with the reason, and the checks against the release's known counts
(``--json``: exactly one JSON object on stdout).
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from xmer.data.labels import describe
    from xmer.data.sources import SOURCES

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "sources (--raw is):\n"
        + "\n".join(f"  {name:15s} {s.raw_help}; default label space {s.default_help or s.default_space}" for name, s in SOURCES.items())
        + "\n\nlabel spaces:\n"
        + "\n".join("  " + line for line in describe().splitlines())
        + "\n\nPickles (mult-pkl, mmsa-pkl) are loaded only from the file you name, through a loader that refuses "
        "anything but arrays and plain containers."
    )
    parser.add_argument("source", choices=list(SOURCES), metavar="SOURCE", help=f"one of: {', '.join(SOURCES)}")
    parser.add_argument("--raw", "--data-root", dest="raw", required=True,
                        help="the release as its archive unpacks (see below); composite: the data root holding the releases")
    parser.add_argument("--out", help="prepared-dataset folder to create (complete or absent afterwards)")
    parser.add_argument("--label-space", help="target label space: a built-in name or a YAML/JSON file (default: the source's)")
    parser.add_argument(
        "--allow-partial", action="store_true", help="skip bad files and accept counts that differ from the release, and report both"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("--dry-run", action="store_true", help="scan, check and summarise without writing anything")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    parser.add_argument("--fold", type=int, help="iemocap: leave-one-session-out fold 1..5 (session k test, k+1 valid; default 5)")
    parser.add_argument("--folds", help="cmu-mosei/cmu-mosi: standard folds file (JSON or the SDK's *_std_folds.py)")
    parser.add_argument(
        "--csd", action="append", default=[], metavar="MODALITY=FILE", help="cmu-mosei/cmu-mosi: which .csd gives a modality (repeatable)"
    )
    parser.add_argument("--dedupe-against", metavar="DIR", help=f"wassa2017: {SOURCES['wassa2017'].options['dedupe_against']}")
    parser.add_argument("--au", metavar="FILE", help="ravdess-av: the action-unit file ravdess_au.npz when it is not under --raw")
    for name, text in SOURCES["composite"].options.items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="N", help=f"composite: {text}")
    parser.add_argument("--transcribe", action="store_true",
                        help="give every clip with speech the words xmer hears in it (Whisper tiny.en, kept, down-weighted "
                             "or dropped by its confidence) as its text, the release's transcript kept as corpus_text; "
                             "needs xmer[speech], about 0.5 s per clip")
    parser.add_argument("--extract", metavar="M=NAME,...",
                        help="then extract features, as `xmer extract --data OUT --extractors M=NAME,...` would")


def run(args: argparse.Namespace) -> int:
    from xmer.data.sources import SOURCES, prepare
    from xmer.errors import ConfigError

    if not args.out and not args.dry_run:
        raise ConfigError("--out DIR is required (or --dry-run)")
    options = {}
    if args.fold is not None:
        options["fold"] = args.fold
    if args.folds:
        options["folds"] = args.folds
    if args.csd:
        pairs = [item.split("=", 1) for item in args.csd]
        if any(len(p) != 2 for p in pairs):
            raise ConfigError(f"--csd takes MODALITY=FILE, got {args.csd}")
        options["csd"] = dict(pairs)
    if args.dedupe_against:
        options["dedupe_against"] = args.dedupe_against
    if args.au:
        options["au"] = args.au
    for name in SOURCES["composite"].options:
        if getattr(args, name) is not None:
            if args.source != "composite":
                raise ConfigError(f"--{name.replace('_', '-')} applies to the composite source only")
            options[name] = getattr(args, name)
    if args.extract and args.dry_run:
        raise ConfigError("--extract writes features: it cannot go with --dry-run")
    summary = prepare(
        args.source, args.raw, args.out, label_space=args.label_space, allow_partial=args.allow_partial,
        dry_run=args.dry_run, overwrite=args.overwrite, transcribe=args.transcribe, **options,
    )
    if args.json:
        print(json.dumps(summary.to_json(), ensure_ascii=False))
    else:
        print(summary.format())
    if args.extract:
        import contextlib
        import sys

        from xmer.features.extraction import extract

        with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):  # --json: one object on stdout
            return extract(args.out, args.extract)
    return 0
