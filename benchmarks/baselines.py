"""Speed of every registered model (the recogniser and the baselines) on CPU, samples per second.

The setting of ``benchmarks/recognizer.py`` (whose measuring code this reuses): synthetic features of
size 300 for every modality, 50 steps per modality, batch 64, 4 classes, every row full length.
Training is forward + loss + backward + Adam step; inference is a ``torch.inference_mode()`` forward
(float32, or bfloat16 autocast where its predictions agree with float32). ``--long`` adds the
unaligned real-length setting (text 20, audio 400, visual 500 steps, batch 32). One line per model::

    model=<name> train_samples_per_s=<x> infer_samples_per_s=<y> [long_train_samples_per_s=<z>]

Run: ``nice .venv/bin/python benchmarks/baselines.py`` (``--help`` for options).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/recognizer.py

import argparse  # noqa: E402
import dataclasses  # noqa: E402

import torch  # noqa: E402

# Run as a script, this folder is sys.path[0]: reuse the recogniser benchmark's measuring code.
from recognizer import LONG, SHORT, best_inference, measure  # noqa: E402

from xmer.config import ModelConfig  # noqa: E402
from xmer.models import MODELS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=sorted(MODELS), choices=sorted(MODELS), help="models to time")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations before each measurement")
    parser.add_argument("--batch", type=int, default=64, help="batch size (50 steps per modality)")
    parser.add_argument("--long", action="store_true", help="also time the real-length setting (batch 32)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    base = ModelConfig()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, d_model={base.d_model} d_ff={base.d_ff} "
        f"heads={base.heads} encoder_layers={base.encoder_layers} fusion_layers={base.fusion_layers} "
        f"max_encoder_steps={base.max_encoder_steps}; v50/a50/t50, batch {args.batch}",
        flush=True,
    )
    for name in args.models:
        config = dataclasses.replace(base, name=name)
        result = measure(config, SHORT, args.batch, args.warmup, args.seconds)
        infer, precision = best_inference(result)
        line = f"model={name} train_samples_per_s={result['train']:.1f} infer_samples_per_s={infer:.1f}"
        if args.long:
            line += f" long_train_samples_per_s={measure(config, LONG, 32, args.warmup, args.seconds)['train']:.1f}"
        print(f"{line}  (inference {precision}; fp32 {result['infer_fp32']:.1f}/s)", flush=True)


if __name__ == "__main__":
    main()
