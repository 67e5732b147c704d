"""Scoring a model on records of a split: the labels and the model's class scores, batch by batch
(training validates with it; :func:`xmer.scoring.evaluate_run` scores a run folder with it)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from xmer.data.dataset import PreparedDataset
from xmer.errors import DataError


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
