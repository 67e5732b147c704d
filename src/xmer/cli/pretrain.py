"""``xmer pretrain visual|text``: train a front-end and write its weights with their provenance.

- ``xmer pretrain visual --raw DIR --out DIR [--epochs N]``: the FER2013 face CNN
  (:mod:`xmer.training.frontend`).
- ``xmer pretrain text --data DIR [DIR ...] --out DIR``: the text front-end's emotion adapter, a
  low-rank update of all-MiniLM-L6-v2 (:mod:`xmer.training.text_adapter`), on the training splits of
  prepared datasets that share one label space.

This module parses the command line and calls the training code.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

TARGETS = ("visual", "text")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=TARGETS, help="visual: FER2013 face CNN; text: MiniLM emotion adapter (minilm_emotion)")
    parser.add_argument("--raw", help="visual: FER2013 folder holding fer2013.csv(.gz), or the CSV itself")
    parser.add_argument("--data", nargs="+", metavar="DIR", help="text: prepared datasets (xmer prepare) whose training texts to learn from")
    parser.add_argument("--out", required=True, help="folder for the weights (.safetensors) and their record (.json)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: visual 30, text 1, as shipped)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: visual 128, text 32")
    parser.add_argument("--lr", type=float, default=None, help="peak AdamW learning rate of the one-cycle schedule (default: visual 3e-3, text 1e-3)")
    parser.add_argument("--weight-decay", type=float, default=5e-2, help="visual only")
    parser.add_argument("--per-class", type=int, default=600, help="text: at most this many training texts per class and dataset (default 600)")
    parser.add_argument("--rank", type=int, default=8, help="text: rank of the low-rank update (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu", help="visual: torch device, e.g. cpu or cuda")
    parser.add_argument("--cache", default=None, help="visual: folder for the decoded uint8 array (default: system temp)")
    parser.add_argument("--limit", type=int, default=0, help="visual: use only the first N training images (quick checks)")


def run(args: argparse.Namespace) -> int:
    import torch

    from xmer.errors import ConfigError
    from xmer.guard import check_output

    if args.target == "visual" and not args.raw:
        raise ConfigError("xmer pretrain visual needs --raw (the FER2013 folder or CSV)")
    if args.target == "text" and not args.data:
        raise ConfigError("xmer pretrain text needs --data DIR [DIR ...] (prepared datasets with texts)")
    for option, value, ok, allowed in (("--epochs", args.epochs, args.epochs is None or args.epochs >= 1, ">= 1"),
                                       ("--batch-size", args.batch_size, args.batch_size is None or args.batch_size >= 1, ">= 1"),
                                       ("--lr", args.lr, args.lr is None or args.lr > 0, "> 0"), ("--weight-decay", args.weight_decay, args.weight_decay >= 0, ">= 0"),
                                       ("--per-class", args.per_class, args.per_class >= 1, ">= 1"), ("--rank", args.rank, args.rank >= 1, ">= 1"),
                                       ("--threads", args.threads, args.threads >= 0, ">= 0"), ("--limit", args.limit, args.limit >= 0, ">= 0")):
        if not ok:
            raise ConfigError(f"{option} {value}: expected {allowed}")
    check_output(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    command = "xmer " + shlex.join(sys.argv[1:])
    return (_text if args.target == "text" else _visual)(args, command)


def _visual(args: argparse.Namespace, command: str) -> int:
    from xmer.training.frontend import data_source, load_fer2013, train_frontend

    data = load_fer2013(args.raw, cache_dir=args.cache)
    if args.limit:
        data["Training"] = (data["Training"][0][: args.limit], data["Training"][1][: args.limit])
    record = train_frontend(
        data, Path(args.out), epochs=args.epochs or 30, batch_size=args.batch_size or 128, lr=args.lr or 3e-3,
        weight_decay=args.weight_decay, seed=args.seed, device=args.device, command=command,
        source=data_source(args.raw),
    )
    test = record["private_test"]
    print(f"PrivateTest (read once): accuracy {test['accuracy']:.4f}  UA {test['unweighted_accuracy']:.4f}  "
          f"macro-F1 {test['macro_f1']:.4f}  ({test['n']} images); best PublicTest {record['public_test']['accuracy']:.4f} "
          f"at epoch {record['best_epoch']}; wrote {record['weights']['file']} ({record['weights']['bytes']} bytes)")
    return 0


def _text(args: argparse.Namespace, command: str) -> int:
    from xmer.training.text_adapter import train_text_adapter

    record = train_text_adapter(
        args.data, Path(args.out), per_class=args.per_class, epochs=args.epochs or 1, rank=args.rank,
        lr=args.lr or 1e-3, batch_size=args.batch_size or 32, seed=args.seed, command=command,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(f"validation mean UA {100 * record['valid_mean_ua']:.1f} at epoch {record['best_epoch']} "
          f"(texts it trained on: {100 * record['train_seen_ua']:.1f}); {record['train']['texts']} training texts, "
          f"{record['seconds']:.0f} s; wrote {record['weights']['file']} ({record['weights']['bytes']} bytes)")
    return 0
