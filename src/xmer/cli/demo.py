"""``xmer demo [--out DIR]``: the whole product on the embedded SYNTHETIC toy set, in minutes.

Generates the toy set, trains the recogniser with ``configs/toy.yaml``, evaluates it on the test
split with all modalities and with every modality subset, prints the tables and writes a run folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from importlib import resources
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="run folder to write (default: runs/demo; replaced if it holds an earlier demo)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value (repeatable)")


def run(args: argparse.Namespace) -> int:
    from xmer.config import load_config
    from xmer.errors import DataError
    from xmer.scoring import evaluate_run
    from xmer.evaluation.report import format_comparison, format_table
    from xmer.training.trainer import Trainer

    from xmer.guard import check_replaceable

    out = Path(args.out)
    check_replaceable(out, ("run",))  # an xmer run, not the current folder
    if out.exists() and any(out.iterdir()):
        card = out / "model.json"
        if not card.exists() or json.loads(card.read_text()).get("dataset_name") != "toy":
            raise DataError(f"{out} exists and is not an earlier toy run; choose another --out")
        shutil.rmtree(out)
    config_path = resources.files("xmer") / "configs" / "toy.yaml"
    with resources.as_file(config_path) as path:
        config = load_config(path, args.overrides)
    started = time.perf_counter()
    print("xmer demo: SYNTHETIC toy set (see xmer.data.toy), recogniser at paper size, CPU ok")
    trainer = Trainer(config, out)
    counts = {}
    for r in trainer.train_records:
        counts[len(r["modalities"])] = counts.get(len(r["modalities"]), 0) + 1
    print(f"data: {trainer.dataset.root}\n  train: {counts.get(3, 0)} trimodal, {counts.get(2, 0)} bimodal, "
          f"{counts.get(1, 0)} unimodal samples; valid {len(trainer.valid_records)}")
    trainer.fit()
    metrics = evaluate_run(out, "test")
    print()
    print(format_table(metrics, title=f"Test set ({metrics['n']} trimodal samples), all modalities"))
    print()
    print("Test accuracy by the modalities shown to the model:")
    print(format_comparison(metrics["subsets"]))
    print(f"\nrun folder: {out}  ({time.perf_counter() - started:.0f} s)  report: {out / 'report.md'}")
    return 0
