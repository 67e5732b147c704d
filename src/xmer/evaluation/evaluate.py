"""Scoring a model on a split, and evaluating a run folder (the one place the test split is read).

``evaluate_run(RUN, "test")`` loads the best checkpoint, scores the split with every modality the
samples have, and also with each of the 7 modality subsets (the other modalities withheld), writes
``metrics.json`` (the full-input metrics at the top level, the subsets under ``"subsets"``) and
``report.md``, and returns the metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from xmer.data.dataset import PreparedDataset
from xmer.errors import DataError
from xmer.evaluation.metrics import compute_metrics
from xmer.io import atomic_write_json, atomic_write_text
from xmer.modalities import SUBSETS, subset_name


@torch.inference_mode()
def predict_records(
    model: torch.nn.Module,
    dataset: PreparedDataset,
    records: Sequence[dict],
    batch_size: int,
    dims: dict[str, int],
    device: torch.device | str = "cpu",
    keep: Sequence[str] | None = None,
    max_steps: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Targets and class probabilities for ``records``.

    Args:
        keep: if given, only these modalities are shown to the model (the others withheld).

    Returns:
        y_true: (N,) int class indices, or (N, K) 0/1 for multi-label sets.
        scores: (N, K) float probabilities.
    """
    was_training = model.training
    model.eval()
    y_true, scores = [], []
    for batch in dataset.batches(records, batch_size, dims=dims, max_steps=max_steps):
        if keep is not None:
            batch = batch.keep_modalities(keep)
            has_any = torch.stack([batch.present[m] for m in batch.present]).any(0)
            if not has_any.all():
                batch = batch.select(has_any)
                if len(batch) == 0:
                    continue
        batch = batch.to(device)
        scores.append(model.probabilities(model(batch)).float().cpu().numpy())
        y_true.append(batch.labels.cpu().numpy())
    model.train(was_training)
    if not scores:
        raise DataError("no sample has any of the requested modalities")
    return np.concatenate(y_true), np.concatenate(scores)


def evaluate_run(run_dir: str | Path, split: str = "test", subsets: bool = True, dataset: str | None = None) -> dict:
    """Evaluate a run folder's best checkpoint on ``split``; writes metrics.json and report.md."""
    from xmer.evaluation.report import definitions_footer, format_comparison, format_table, plot_confusion
    from xmer.inference import Recognizer
    from xmer.training.trainer import open_dataset

    run_dir = Path(run_dir)
    recognizer = Recognizer.load(run_dir)
    config = recognizer.config
    data = PreparedDataset.open(dataset) if dataset else open_dataset(config)
    if list(data.labels) != recognizer.labels:
        raise DataError(
            f"dataset {data.root} has labels {list(data.labels)}, the model in {run_dir} predicts {recognizer.labels}"
        )
    records = data.split(split)
    if not records:
        raise DataError(f"{data.root}: split {split!r} is empty")
    labels = list(data.labels)
    def run(keep=None, model=recognizer.model):
        y_true, scores = predict_records(model, data, records, config.data.batch_size, recognizer.input_dims,
                                         recognizer.device, keep=keep, max_steps=config.data.max_steps)
        return compute_metrics(y_true, scores, labels, data.multi_label)

    metrics = run()
    metrics["split"] = split
    metrics["dataset"] = str(data.root)
    if subsets:
        usable = [s for s in SUBSETS if set(s) <= set(recognizer.input_dims)]
        metrics["subsets"] = {subset_name(s): run(s) for s in usable}
        if recognizer.model.can_imagine():
            # The same recogniser with the missing modalities left out instead of imagined.
            metrics["subsets_left_out"] = {subset_name(s): run(s, recognizer.model.recognizer) for s in usable}
    if recognizer.model.can_imagine():
        from xmer.evaluation.diagnostics import translation_diagnostics

        # On validation, as a training diagnostic; the test split stays for the headline numbers.
        metrics["translation"] = translation_diagnostics(
            recognizer.model, data, data.split("valid"), config.data.batch_size, recognizer.input_dims, recognizer.device,
            train_records=data.split("train"),
        )
    suffix = "" if split == "test" else f"_{split}"
    atomic_write_json(run_dir / f"metrics{suffix}.json", metrics)
    if not data.multi_label or len(labels) <= 12:
        plot_confusion(metrics, run_dir / f"confusion{suffix}.png")

    lines = [f"# xmer run: {run_dir.name}", ""]
    if data.info.synthetic:
        lines += ["Dataset: **synthetic** (" + data.info.description + ").", ""]
    lines += [f"Model `{config.model.name}`, dataset `{data.info.name}`, split `{split}` ({metrics['n']} samples).", ""]
    lines += [format_table(metrics, title=f"Per-class results on {split}"), ""]
    if subsets:
        imagine = recognizer.model.can_imagine()
        lines += ["## Modality subsets at test time (other modalities withheld"
                  + (", then imagined by the translators)" if imagine else ")"), "",
                  format_comparison(metrics["subsets"]), ""]
        if imagine:
            lines += ["The same model with the withheld modalities left out (not imagined):", "",
                      format_comparison(metrics["subsets_left_out"]), ""]
    if metrics.get("translation"):
        from xmer.evaluation.diagnostics import format_diagnostics

        lines += ["## Translators, on the validation split", "", format_diagnostics(metrics["translation"]), ""]
    lines += [f"![confusion matrix](confusion{suffix}.png)  ![training curves](curves.png)", ""]
    lines += [definitions_footer(metrics), ""]
    atomic_write_text(run_dir / f"report{suffix}.md", "\n".join(lines))
    return metrics
