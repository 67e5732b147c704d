"""``xmer pretrain visual --raw DIR --out DIR [--epochs N]``: train the visual front-end on FER2013.

The training itself is :mod:`xmer.training.frontend`; this module parses the command line
and calls it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from xmer.training.frontend import data_source, load_fer2013, train_frontend

TARGETS = ("visual",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=TARGETS, help="which front-end to train (visual: FER2013 face CNN)")
    parser.add_argument("--raw", required=True, help="FER2013 folder holding fer2013.csv(.gz), or the CSV itself")
    parser.add_argument("--out", required=True, help="folder for visual_frontend.safetensors and visual_frontend.json")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default 30, as the shipped weights)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate of the one-cycle schedule")
    parser.add_argument("--weight-decay", type=float, default=5e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--cache", default=None, help="folder for the decoded uint8 array (default: system temp)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training images (quick checks)")


def run(args: argparse.Namespace) -> int:
    import torch

    from xmer.errors import ConfigError
    from xmer.guard import check_output

    for option, value, ok, allowed in (("--epochs", args.epochs, args.epochs >= 1, ">= 1"),
                                       ("--batch-size", args.batch_size, args.batch_size >= 1, ">= 1"),
                                       ("--lr", args.lr, args.lr > 0, "> 0"), ("--weight-decay", args.weight_decay, args.weight_decay >= 0, ">= 0"),
                                       ("--threads", args.threads, args.threads >= 0, ">= 0"), ("--limit", args.limit, args.limit >= 0, ">= 0")):
        if not ok:
            raise ConfigError(f"{option} {value}: expected {allowed}")
    check_output(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_fer2013(args.raw, cache_dir=args.cache)
    if args.limit:
        data["Training"] = (data["Training"][0][: args.limit], data["Training"][1][: args.limit])
    command = "xmer " + shlex.join(sys.argv[1:])
    record = train_frontend(
        data, Path(args.out), epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, seed=args.seed, device=args.device, command=command,
        source=data_source(args.raw),
    )
    test = record["private_test"]
    print(f"PrivateTest (read once): accuracy {test['accuracy']:.4f}  UA {test['unweighted_accuracy']:.4f}  "
          f"macro-F1 {test['macro_f1']:.4f}  ({test['n']} images); best PublicTest {record['public_test']['accuracy']:.4f} "
          f"at epoch {record['best_epoch']}; wrote {record['weights']['file']} ({record['weights']['bytes']} bytes)")
    return 0
