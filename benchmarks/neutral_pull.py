"""Does a modality that shows nothing pull the fused answer to "neutral"? Measured on validation data only.

Real recordings often hold one expressive modality beside neutral ones: an angry voice saying
neutral words, a still face over a shaking voice. Two measurements, both on validation splits
(what model choices are made on), for one or more models:

- **composed conflicts**: every non-neutral triple of the composite's validation split with one
  modality swapped for the same modality of a neutral validation triple (a seeded draw), label
  kept: accuracy, and the share called neutral, per swapped modality;
- **real pairs**: RAVDESS validation actors 17-20 with the words xmer hears in each clip (a dataset
  prepared with ``xmer prepare ravdess --transcribe``, features extracted): the voice with its words
  against the voice alone, and the share of emotional clips called neutral by each.

    python benchmarks/neutral_pull.py runs/a runs/b ... [--composite data/default/composite_full] [--pairs data/default/ravdess_heard]

One line per model: ``model=... swap_text=acc/neutral swap_visual=... swap_audio=... pairs_fused=... pairs_voice=...``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def predict(recognizer, items: list[dict], batch: int = 256) -> list[str]:
    out = []
    for start in range(0, len(items), batch):
        out += [p.prediction for p in recognizer.predict_many(items[start : start + batch])]
    return out


def rates(predicted: list[str], truth: list[str]) -> tuple[float, float]:
    """Accuracy, and the share of non-neutral items called neutral."""
    acc = float(np.mean([p == t for p, t in zip(predicted, truth)]))
    emotional = [p for p, t in zip(predicted, truth) if t != "neutral"]
    return acc, float(np.mean([p == "neutral" for p in emotional])) if emotional else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--composite", default="data/default/composite_full")
    parser.add_argument("--pairs", default="data/default/ravdess_heard")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from xmer.data.dataset import PreparedDataset
    from xmer.inference import Recognizer

    composite = PreparedDataset.open(args.composite)
    valid = [(r, composite.read_features(r)) for r in composite.split("valid")]
    neutral = [f for r, f in valid if r["label"] == "neutral"]
    emotional = [(r, f) for r, f in valid if r["label"] != "neutral"]
    rng = np.random.default_rng(0)
    swaps = {m: [{**f, m: neutral[rng.integers(len(neutral))][m]} for _, f in emotional] for m in ("text", "visual", "audio")}
    truth = [r["label"] for r, _ in emotional]
    pairs = []
    if (Path(args.pairs) / "dataset.json").is_file():
        heard = PreparedDataset.open(args.pairs)
        pairs = [(r, heard.read_features(r)) for r in heard.split("valid")]
    for folder in args.models:
        recognizer = Recognizer.load(folder)
        line = [f"model={folder}"]
        for m, items in swaps.items():
            acc, pulled = rates(predict(recognizer, items), truth)
            line.append(f"swap_{m}={100 * acc:.1f}/{100 * pulled:.1f}")
        if pairs:
            labels = [r["label"] for r, _ in pairs]
            fused = rates(predict(recognizer, [f for _, f in pairs]), labels)
            voice = rates(predict(recognizer, [{"audio": f["audio"]} for _, f in pairs]), labels)
            line += [f"pairs_fused={100 * fused[0]:.1f}/{100 * fused[1]:.1f}", f"pairs_voice={100 * voice[0]:.1f}/{100 * voice[1]:.1f}"]
        print(" ".join(line), flush=True)
    print(f"(accuracy/% of emotional items called neutral; {len(emotional)} composed conflicts per modality, {len(pairs)} real pairs)")


if __name__ == "__main__":
    main()
