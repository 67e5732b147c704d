"""Time per training sample of the full method (end to end, 1:1, k=1) vs the recogniser alone.

Both are timed in this one run, on the same synthetic batches (batch 64, 50 steps per modality,
feature size 300 for all three, 4 classes), with the default model and translator configs:

- recogniser: one optimiser step of the recogniser on the batch;
- end to end: Algorithm 1 with k=1 sampled combination per sample (the candidates are translated
  with gradients), one recogniser step, and a translator-only update plus a discriminator update
  on every step (``recognizer_steps_per_translator_step=1``, the most expensive setting).

Prints both times per sample and ends with ``e2e_to_recognizer_time_ratio=<x>`` (target <= 2.0).
Usage: python benchmarks/translators.py [--threads N] [--repeats R]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from xmer.config import load_config
from xmer.data.contract import Sample, collate
from xmer.modalities import MODALITIES, SUBSETS
from xmer.training.trainer import Trainer


def make_batch(batch: int, steps: int, dim: int, classes: int, mixed: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(batch):
        subset = SUBSETS[i % len(SUBSETS)] if mixed else MODALITIES
        features = {m: rng.normal(size=(steps, dim)).astype(np.float32) for m in subset}
        samples.append(Sample(id=str(i), source="bench", features=features, label=int(rng.integers(classes))))
    return collate(samples, MODALITIES, {m: dim for m in MODALITIES}, classes, False)


class _Harness(Trainer):
    """The Trainer's model, optimisers and step functions, without a dataset."""

    def __init__(self, config, dims, classes):  # noqa: D107 - deliberately skips Trainer.__init__'s data
        from xmer.training.trainer import RunState

        self.config, self.device, self.input_dims = config, torch.device("cpu"), dims
        self._build(classes, False, steps_per_epoch=1)
        self.state = RunState()


def seconds_per_step(harness: _Harness, batch, iterations: int) -> float:
    harness.model.train()
    for _ in range(2):
        harness.train_step(batch)
    start = time.perf_counter()
    for _ in range(iterations):
        harness.train_step(batch)
    return (time.perf_counter() - start) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], help="extra config overrides for the end-to-end model")
    parser.add_argument("--mixed", action="store_true", help="batches mix the 7 modality subsets (default: trimodal)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dims = {m: 300 for m in MODALITIES}
    batch = make_batch(64, 50, 300, 4, args.mixed)
    base = load_config(None, ["translator.enabled=false"])
    e2e = load_config(None, [*args.set, "translator.enabled=true", "method.strategy=end_to_end",
                             "method.recognizer_steps_per_translator_step=1", "method.combinations=sampled",
                             "method.k=1", "method.include_observed=false"])
    recognizer, full = _Harness(base, dims, 4), _Harness(e2e, dims, 4)
    ratios, rec_times, e2e_times = [], [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        r = seconds_per_step(recognizer, batch, args.iterations)
        e = seconds_per_step(full, batch, args.iterations)
        rec_times.append(r)
        e2e_times.append(e)
        ratios.append(e / r)
    print(f"torch threads: {torch.get_num_threads()}, batch 64 x 50 steps x 300 features, "
          f"{'mixed subsets' if args.mixed else 'trimodal'}")
    print(f"recogniser alone:         {1e3 * min(rec_times) / 64:.2f} ms/sample ({64 / min(rec_times):.0f} samples/s)")
    print(f"end to end, k=1, 1:1:     {1e3 * min(e2e_times) / 64:.2f} ms/sample ({64 / min(e2e_times):.0f} samples/s)")
    print(f"ratios per repeat: {', '.join(f'{x:.2f}' for x in ratios)}")
    print(f"e2e_to_recognizer_time_ratio={statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
