"""``xmer train --config FILE [--set key=value ...] --out DIR [--resume]``"""

from __future__ import annotations

import argparse

from xmer.config import describe, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file (default: built-in defaults)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.lr=0.0005 (repeatable)")
    parser.add_argument("--out", help="run folder to write")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--help-config", action="store_true", help="list every config key with its default and meaning")


def run(args: argparse.Namespace) -> int:
    if args.help_config:
        for key, default, text in describe():
            print(f"{key:32s} {default:>14s}  {text}")
        return 0
    if not args.out:
        from xmer.errors import ConfigError

        raise ConfigError("--out DIR is required (the run folder to write)")
    from xmer.training.trainer import Trainer

    config = load_config(args.config, args.overrides)
    trainer = Trainer(config, args.out)
    state = trainer.fit(resume=args.resume)
    if not trainer.context.is_main:  # one line per run, not per torchrun rank
        return 0
    print(f"run folder: {args.out}  best epoch {state.best_epoch}  valid {config.train.selection_metric} {state.best_score:.4f}")
    print(f"next: xmer evaluate {args.out} --split test")
    return 0
