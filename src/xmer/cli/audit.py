"""``xmer audit DATASET [DATASET ...]`` and ``xmer audit --config CONFIG.yaml``

Finds items shared between prepared datasets and between the splits of one dataset (the same text,
image or recording; :mod:`xmer.data.overlap` says exactly what is compared) and prints a table: every
pair of dataset/split groups that share items, how many, and three examples. Exit status 1 when an
evaluation split (valid or test) shares an item with a training split, 0 otherwise.

With ``--config`` it audits a training config's mixture as training sees it: the primary dataset's
valid and test splits against the training records every source keeps after its drops.
"""

from __future__ import annotations

import argparse
import sys

from xmer.data.overlap import MIN_WORDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "what is compared: texts lower-cased with punctuation deleted (exact match; --near also ignores links,\n"
        "@mentions, digits and repeated letters), images by their pixels, audio by its decoded samples,\n"
        "feature-only records by their stored features. The words of a recording (a transcript) belong to the\n"
        "recording. exit status: 1 when a valid or test item is in a training split, 0 otherwise."
    )
    parser.add_argument("datasets", nargs="*", metavar="DATASET", help="prepared-dataset folders to compare (all their splits)")
    parser.add_argument("--config", metavar="CONFIG.yaml",
                        help="audit this training config's mixture: the primary's valid/test against every source's training records")
    parser.add_argument("--json", metavar="FILE", help="also write the findings as JSON to FILE")
    parser.add_argument("--min-words", type=int, default=MIN_WORDS,
                        help=f"compare texts of at least this many words (default {MIN_WORDS}; shorter lines recur as ordinary language)")
    parser.add_argument("--near", action="store_true", help="texts also match as near-duplicates (see above)")


def run(args: argparse.Namespace) -> int:
    from xmer.data.overlap import KeyRules, audit, split_groups
    from xmer.errors import ConfigError
    from xmer.io import atomic_write_json

    if bool(args.datasets) == bool(args.config):
        raise ConfigError("give prepared-dataset folders or --config CONFIG.yaml (one of the two)")
    if args.min_words < 1:
        raise ConfigError(f"--min-words {args.min_words}: expected a whole number >= 1")
    rules = KeyRules(args.min_words, args.near)
    if args.config:
        found = _audit_config(args.config, rules)
    else:
        from xmer.data.dataset import PreparedDataset

        found = audit(split_groups([PreparedDataset.open(d) for d in args.datasets]), rules)
    print(found.format())
    if args.json:
        atomic_write_json(args.json, found.to_json())
        print(f"wrote {args.json}", file=sys.stderr)
    return 1 if found.leaks else 0


def _audit_config(path: str, rules):
    """The primary's valid and test splits against each source's training records as the mixture keeps them."""
    from pathlib import Path

    from xmer.config import load_config
    from xmer.data.from_config import open_dataset
    from xmer.data.overlap import EVALUATION_SPLITS, audit

    data = open_dataset(load_config(path))
    groups = {}
    primary_name = Path(data.root).name
    for split in EVALUATION_SPLITS:
        records = data.split(split)
        if records:
            groups[f"{primary_name}/{split}"] = (_part(data, 0), records)
    by_part: dict[int, list[dict]] = {}
    for record in data.split("train"):
        by_part.setdefault(record.get("_part", 0), []).append(record)
    for index, records in sorted(by_part.items()):
        part = _part(data, index)
        name = f"{Path(part.root).name}/train"
        groups[name if name not in groups else f"{Path(part.root).parent.name}/{name}"] = (part, records)
    found = audit(groups, rules)
    found.dropped = dict(getattr(data, "overlaps_dropped", {}))
    return found


def _part(data, index: int):
    """The prepared dataset a mixture's part ``index`` reads from (the dataset itself when not mixed)."""
    return data.parts[index] if hasattr(data, "parts") else data
