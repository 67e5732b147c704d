"""``xmer evaluate RUN_DIR [--split test] [--data DIR]``"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run folder written by xmer train")
    parser.add_argument("--split", default="test", choices=["train", "valid", "test"],
                        help="the split to score (default: test, the figures to report; valid for choosing)")
    parser.add_argument("--data", help="evaluate on this prepared dataset instead of the run's own (written as metrics_SPLIT_NAME.json, report_SPLIT_NAME.md: the run's own scores stay)")
    parser.add_argument("--no-subsets", action="store_true", help="skip the per-modality-subset evaluation")


def run(args: argparse.Namespace) -> int:
    from xmer.scoring import evaluate_run
    from xmer.evaluation.report import format_comparison, format_table

    metrics = evaluate_run(args.run_dir, args.split, subsets=not args.no_subsets, dataset=args.data)
    print(format_table(metrics, title=f"{args.split} ({metrics['n']} samples)"))
    if "subsets" in metrics:
        print()
        print(format_comparison(metrics["subsets"]))
    return 0
