"""How long a one-off text prediction takes from the shell, against importing torch alone.

``xmer predict --text "..."`` starts Python, imports xmer and torch, loads the default model and the
text front-end (MiniLM with its emotion adapter), reads one sentence and prints the answer. Its floor
is ``python -c "import torch"``; everything above it is xmer's own start-up. Both are run as fresh
processes, alternately, ``--repeats`` times each (the first run of each is a warm-up for the disk
cache and not counted); the medians are printed:

    python benchmarks/startup.py [--repeats 5]

Ends with ``predict_text_s=<s> import_torch_s=<s> ratio=<x>``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

XMER = [sys.executable, "-m", "xmer"]


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--text", default="I can't believe they cancelled it again")
    args = parser.parse_args()
    predict = XMER + ["predict", "--text", args.text]
    torch_only = [sys.executable, "-c", "import torch"]
    timed(predict), timed(torch_only)  # warm the disk cache
    runs: dict[str, list[float]] = {"predict": [], "torch": []}
    for _ in range(args.repeats):
        runs["predict"].append(timed(predict))
        runs["torch"].append(timed(torch_only))
    p, t = statistics.median(runs["predict"]), statistics.median(runs["torch"])
    print(f"xmer predict --text: {', '.join(f'{x:.2f}' for x in runs['predict'])} s")
    print(f"python -c 'import torch': {', '.join(f'{x:.2f}' for x in runs['torch'])} s")
    print(f"({Path(sys.executable).name}, {os.cpu_count()} CPUs)")
    print(f"predict_text_s={p:.2f} import_torch_s={t:.2f} ratio={p / t:.2f}")


if __name__ == "__main__":
    main()
