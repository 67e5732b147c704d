"""``xmer export RUN_DIR --out DIR``"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run folder written by xmer train (its best checkpoint is exported)")
    parser.add_argument("--out", required=True, help="folder for the exported model (xmer predict OUT ... loads it); not inside the run")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")


def run(args: argparse.Namespace) -> int:
    from xmer.inference import export_model

    out = export_model(args.run_dir, args.out, overwrite=args.overwrite)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"exported {args.run_dir} -> {out} ({size / 1e6:.1f} MB: float16 weights, no optimiser state, "
          "no discriminators)")
    return 0
