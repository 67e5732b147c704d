"""PyTorch vs onnxruntime on the same batches: the default model's scores for one input and for a
batch of 32, per modality subset, one thread each.

    python benchmarks/onnx_speed.py [--model DIR] [--repeats 50]

Exports ``--model`` (default: a copy of xmer's default model) with ``xmer export --onnx`` into a
temporary folder, then times ``Recognizer.scores`` and ``OnnxRecognizer.scores`` on identical
collated batches (features of 40 visual, 300 audio and 12 text steps, the sizes of a 5-second clip
with a short sentence), median of ``--repeats`` after 3 warm-up calls, and checks the probabilities
agree. The last line is machine-readable: ``torch_ms=<x> onnx_ms=<y> speedup=<z> max_abs_diff=<d>``
(medians over subsets, batch of one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from xmer.data.contract import Sample, collate  # noqa: E402
from xmer.inference import DEFAULT_MODEL, Recognizer  # noqa: E402
from xmer.export.onnx import export_onnx, subset_name, subsets  # noqa: E402
from xmer.onnx_runtime import OnnxRecognizer  # noqa: E402

STEPS = {"visual": 40, "audio": 300, "text": 12}


def timed(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        shutil.copytree(args.model, folder, ignore=shutil.ignore_patterns("onnx"))
        export_onnx(folder)
        pt, ort = Recognizer.load(folder), OnnxRecognizer(folder, threads=1)
        dims, rng = pt.input_dims, np.random.default_rng(0)
        rows, worst = [], 0.0
        for subset in subsets(tuple(dims)):
            for size in (1, 32):
                samples = [Sample(id=str(i), source="b", label=0, features={
                    m: rng.normal(size=(max(1, STEPS[m] - 3 * (i % 4)), dims[m])).astype(np.float32) for m in subset})
                    for i in range(size)]
                batch = collate(samples, list(dims), dims, len(pt.labels), pt.multi_label)
                worst = max(worst, float((pt.scores(batch) - ort.scores(batch)).abs().max()))
                a, b = timed(lambda: pt.scores(batch), args.repeats), timed(lambda: ort.scores(batch), args.repeats)
                rows.append((subset_name(subset), size, a, b))
                print(f"{subset_name(subset):18s} batch {size:2d}: torch {a:7.2f} ms  onnx {b:7.2f} ms  ({a / b:.1f}x)", flush=True)
    single = [(a, b) for _, size, a, b in rows if size == 1]
    torch_ms, onnx_ms = statistics.median(a for a, _ in single), statistics.median(b for _, b in single)
    print(f"torch_ms={torch_ms:.2f} onnx_ms={onnx_ms:.2f} speedup={torch_ms / onnx_ms:.1f} max_abs_diff={worst:.1e}")


if __name__ == "__main__":
    main()
