"""Would an ensemble of runs (their probabilities averaged) beat each run alone? Measured on the
validation and test splits, for every modality subset.

    python benchmarks/ensemble.py RUN [RUN ...] [--splits valid test]

Give the runs of one configuration that differ only in their seed (the choice of runs must not
look at the test split). Each run's best checkpoint scores every sample of the split with all
modalities and with each of the 7 subsets (the others withheld, imagined by the run's translators
as ``xmer evaluate`` does); the ensemble's probabilities are the mean of the runs' (each calibrated
with its own temperature). Prints, per split, accuracy and macro-F1 of every run and of the
ensemble, with all modalities and as the mean over the 7 subsets (the default model's selection
score), and ends with ``ensemble_valid_subset_macro_f1=<x> best_run_valid_subset_macro_f1=<y>
ensemble_test_accuracy=<z>``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def scores_of(run: Path, split: str) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    """(y_true, subset name -> (N, K) probabilities, labels) of a run's best checkpoint on a split."""
    from xmer.data.from_config import open_dataset
    from xmer.evaluation.evaluate import predict_records
    from xmer.inference import Recognizer
    from xmer.modalities import SUBSETS, subset_name

    recognizer = Recognizer.load(run)
    config = recognizer.config
    data = open_dataset(config)
    records = data.split(split)
    out, y_true = {}, None
    for subset in [None, *[s for s in SUBSETS if set(s) <= set(recognizer.input_dims)]]:
        y_true, probabilities = predict_records(recognizer.model, data, records, config.data.batch_size, recognizer.input_dims,
                                                recognizer.device, keep=subset, max_steps=config.data.max_steps)
        out["all" if subset is None else subset_name(subset)] = np.asarray(probabilities)
    return np.asarray(y_true), out, list(data.labels)


def summary(y_true: np.ndarray, probabilities: dict[str, np.ndarray], labels: list[str]) -> dict[str, float]:
    from xmer.evaluation.metrics import compute_metrics

    every = {name: compute_metrics(y_true, p, labels, False) for name, p in probabilities.items()}
    subsets = [m for name, m in every.items() if name != "all"]
    return {"accuracy": every["all"]["accuracy"], "macro_f1": every["all"]["macro_f1"],
            "subset_accuracy": float(np.mean([m["accuracy"] for m in subsets])),
            "subset_macro_f1": float(np.mean([m["macro_f1"] for m in subsets])),
            **{f"{name}_accuracy": m["accuracy"] for name, m in every.items() if name != "all"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--splits", nargs="+", default=["valid", "test"])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    results = {}
    for split in args.splits:
        per_run = {run: scores_of(run, split) for run in args.runs}
        y_true, _, labels = next(iter(per_run.values()))
        rows = {str(run): summary(y, p, labels) for run, (y, p, _) in per_run.items()}
        names = next(iter(per_run.values()))[1].keys()
        mean = {name: np.mean([p[name] for _, p, _ in per_run.values()], axis=0) for name in names}
        rows[f"ensemble of {len(args.runs)}"] = summary(y_true, mean, labels)
        results[split] = rows
        print(f"\n{split} ({len(y_true)} samples), %:\n")
        print("| model | accuracy | macro-F1 | subsets: mean accuracy | subsets: mean macro-F1 | audio alone | text alone | visual alone |")
        print("| :-- | --: | --: | --: | --: | --: | --: | --: |")
        for name, r in rows.items():
            print(f"| {name} | {100 * r['accuracy']:.1f} | {100 * r['macro_f1']:.1f} | {100 * r['subset_accuracy']:.1f} | "
                  f"{100 * r['subset_macro_f1']:.1f} | {100 * r.get('audio_accuracy', np.nan):.1f} | "
                  f"{100 * r.get('text_accuracy', np.nan):.1f} | {100 * r.get('visual_accuracy', np.nan):.1f} |")
    valid = results.get("valid", {})
    single = [r["subset_macro_f1"] for name, r in valid.items() if not name.startswith("ensemble")]
    ensemble = [r for name, r in valid.items() if name.startswith("ensemble")]
    test = [r for name, r in results.get("test", {}).items() if name.startswith("ensemble")]
    print(f"ensemble_valid_subset_macro_f1={100 * ensemble[0]['subset_macro_f1']:.1f} " if ensemble else "", end="")
    print(f"best_run_valid_subset_macro_f1={100 * max(single):.1f} " if single else "", end="")
    print(f"ensemble_test_accuracy={100 * test[0]['accuracy']:.1f}" if test else "")


if __name__ == "__main__":
    main()
