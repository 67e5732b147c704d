"""``xmer extract --data DIR --extractors audio=logmel,text=glove [--workers N] [--shard i/n] [--keep-going]``

The extraction job itself (resumable, shardable, one writer per manifest range) is
:mod:`xmer.features.extraction`; this module parses the command line and calls it.
"""

from __future__ import annotations

import argparse

from xmer.features.extraction import FAILURES, parse_shard, shard_range  # noqa: F401  (re-exported)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from xmer.features import EXTRACTORS

    names = ", ".join(f"{n} ({e.modality})" for n, e in EXTRACTORS.items())
    parser.add_argument("--data", required=True, metavar="DIR", help="prepared dataset folder (dataset.json, manifest.jsonl)")
    parser.add_argument("--extractors", required=True, metavar="M=NAME,...",
                        help=f"modality=extractor pairs, e.g. audio=logmel,text=glove; extractors: {names}")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes (default 1: extract in this process)")
    parser.add_argument("--shard", default="0/1", metavar="i/n", help="take the i-th (0-based) of n contiguous manifest ranges (default 0/1: all)")
    parser.add_argument("--keep-going", action="store_true", help="exit 0 even when some samples failed")
    parser.add_argument("--retry-absent", action="store_true",
                        help="retry samples an earlier run found to have nothing for a modality (no face, silence, ...)")
    parser.add_argument("--chunk-size", type=int, default=1000, metavar="K",
                        help="samples per chunk file; a killed run loses at most the chunk in progress (default 1000)")


def run(args: argparse.Namespace) -> int:
    from xmer.features.extraction import extract

    return extract(args.data, args.extractors, workers=args.workers, shard=args.shard, keep_going=args.keep_going,
                   retry_absent=args.retry_absent, chunk_size=args.chunk_size)
