"""Calibrated probabilities: temperature scaling (Guo et al., ICML 2017) and the expected calibration error.

Users read ``probabilities``, so a 0.9 should be right about nine times in ten. A network trained
with cross-entropy is usually over-confident; temperature scaling divides its logits by one scalar
T > 0 fitted on the validation split (minimum negative log-likelihood), which leaves every argmax,
and so accuracy and F1, unchanged. The trainer fits T on the best checkpoint after training and
stores it in the run's ``model.json`` (``temperature``); :class:`xmer.inference.Recognizer` and
``xmer evaluate`` apply it. Single-label models only (multi-label sets keep T = 1).

ECE (the definition ``metrics.json`` names): the predictions are put in 15 equal-width bins by their
confidence (the top probability); ECE = sum over bins of (bin size / N) * |accuracy in bin - mean
confidence in bin|, in [0, 1], lower is better.
"""

from __future__ import annotations

import numpy as np
import torch

ECE_BINS = 15
ECE_DEFINITION = (f"expected calibration error: predictions binned by confidence (top probability) into {ECE_BINS} "
                  "equal-width bins; sum over bins of (share of samples) x |accuracy - mean confidence|; lower is better")


def expected_calibration_error(probabilities: np.ndarray, y_true: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of (N, K) probabilities against (N,) class indices (see the module docstring)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(1)
    correct = (probabilities.argmax(1) == np.asarray(y_true)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(ece)


def fit_temperature(logits: np.ndarray, y_true: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """The T > 0 that minimises the mean negative log-likelihood of softmax(logits / T).

    The NLL is convex in 1/T, so a golden-section search on log T over [low, high] finds it to
    1e-4 without a learning rate to choose.

    Args:
        logits: (N, K) validation logits. y_true: (N,) class indices.
    """
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(y_true), dtype=torch.long)

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(z / np.exp(log_t), y))

    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5.0) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(c), nll(d)
    while b - a > 1e-4:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(d)
    return float(np.exp((a + b) / 2))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def calibrate(model: torch.nn.Module, dataset, records, batch_size: int, dims: dict[str, int], device="cpu",
              max_steps: int = 0, method: str = "temperature scaling (Guo et al. 2017)") -> dict:
    """Fit ``model.temperature`` on ``records`` (the validation split) and set it; returns what a
    ``model.json`` records of it: ``{"temperature", "calibration": {split, method, ece_before, ece_after}}``.
    ``model`` is a system (or an ensemble) whose ``probabilities`` apply its ``temperature``."""
    from xmer.evaluation.evaluate import predict_records

    model.temperature = 1.0
    y_true, probs = predict_records(model, dataset, records, batch_size, dims, device, max_steps=max_steps)
    log_probs = np.log(np.clip(probs, 1e-12, None))  # logits up to a per-row constant: same softmax at any T
    temperature = fit_temperature(log_probs, y_true)
    model.temperature = temperature
    return {"temperature": round(temperature, 4), "calibration": {
        "split": "valid", "method": method,
        "ece_before": round(expected_calibration_error(probs, y_true), 4),
        "ece_after": round(expected_calibration_error(softmax(log_probs, temperature), y_true), 4)}}


__all__ = ["ECE_BINS", "ECE_DEFINITION", "calibrate", "expected_calibration_error", "fit_temperature", "softmax"]
