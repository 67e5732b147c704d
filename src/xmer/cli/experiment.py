"""``xmer experiment NAME|all --data toy|DIR [--seeds 1 2 3] [--quick] [--runs DIR] --out DIR``"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from xmer.experiments import EXPERIMENTS

    summary = "; ".join(f"{k}: {v.description.rstrip('.')}" for k, v in EXPERIMENTS.items())
    summary += "; all: every experiment into OUT/<name>/, each distinct run trained once (shared in OUT/runs/)"
    parser.add_argument("name", choices=[*EXPERIMENTS, "all"], help=summary.replace("%", "%%"))  # argparse formats %
    parser.add_argument("--data", required=True, help="'toy' (the synthetic set) or a prepared dataset folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--quick", action="store_true", help="2 epochs on a tiny model and set: checks that it runs")
    parser.add_argument("--out", required=True, help="folder for the runs and report.md (an interrupted experiment resumes)")
    parser.add_argument("--runs", default=None, metavar="DIR",
                        help="share run folders with other experiments through DIR: a run whose config is already "
                             "there is reused, not retrained (`all` uses OUT/runs)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value for every condition (repeatable)")


def run(args: argparse.Namespace) -> int:
    from xmer.experiments import run as run_experiment
    from xmer.experiments import run_all

    common = dict(seeds=tuple(args.seeds), quick=args.quick, overrides=args.overrides)
    if args.name == "all":
        run_all(args.data, args.out, **common)
    else:
        run_experiment(args.name, args.data, args.out, runs=args.runs, **common)
    print(f"report: {args.out}/report.md")
    return 0
