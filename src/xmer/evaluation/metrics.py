"""Classification metrics for emotion recognition, with their conventions pinned (DESIGN.md section 3).

The field mixes up "WA", "UA" and "weighted F1", so every dict returned here carries a
``definitions`` entry naming the convention of each number. Two kinds of task:

* **Single-label** (IEMOCAP 4-way, RAVDESS, FER2013, Ekman-7): one class per sample, prediction =
  argmax of the scores (ties go to the first class). ``accuracy`` is the fraction correct (the speech
  literature's "WA"), ``unweighted_accuracy`` the mean per-class recall (UA, sklearn
  ``balanced_accuracy_score``), ``macro_f1`` / ``weighted_f1`` the unweighted / support-weighted mean
  of per-class F1, ``wa`` the mean one-vs-rest Tong weighted accuracy.
* **Multi-label, per-emotion binary** (MOSEI, and IEMOCAP as in the Multimodal Transformer paper):
  each emotion is its own binary task (positive = present, prediction = score > threshold); every
  average is the unweighted mean over emotions of that emotion's binary number.

Conventions for the degenerate cases:

* Zero division gives 0, as sklearn's ``zero_division=0``: a class never predicted has precision 0, a
  class with no true samples has recall 0, and F1 is 0 when precision and recall are both 0.
* Single-label averages (UA, macro-F1, mean WA) run over the classes present in ``y_true``
  (listed in ``averaged_over``): a class absent from the evaluation set has no recall, so it is
  reported per class but left out of the averages (as ``balanced_accuracy_score`` does). Predicting an
  absent class is still penalised, through the recall of the true classes. ``weighted_f1`` gives such
  a class weight 0 anyway.
* Multi-label averages run over all emotions (the per-emotion binary tasks stay defined: an emotion
  with no positives still has negatives).
* Tong WA with no positives (P = 0) is the negative recall TN/N; with no negatives (N = 0) it is the
  positive recall TP/P (again as ``balanced_accuracy_score``). Empty input raises ``ValueError``.

Only numpy is needed; tests check every number against scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "compute_metrics",
    "single_label_metrics",
    "multi_label_metrics",
    "weighted_accuracy",
]

# One-line definitions, shared by both task kinds where the meaning is the same.
_WA_FORMULA = "Tong et al. 2017 weighted accuracy (TP*N/P + TN)/(2N) = mean of positive and negative recall"
_PER_CLASS_DEFS = {
    "per_class.precision": "TP/(TP+FP) of the class, one-vs-rest; 0 when the class is never predicted",
    "per_class.recall": "TP/(TP+FN) of the class, one-vs-rest; 0 when the class has no true samples",
    "per_class.f1": "2PR/(P+R) of the class (positive-class F1); 0 when precision and recall are 0",
    "per_class.wa": f"{_WA_FORMULA}, class vs rest; TN/N if P=0, TP/P if N=0",
    "per_class.accuracy": "(TP+TN)/n of the class-vs-rest binary decision",
    "per_class.confusion": "class-vs-rest counts [[TN, FP], [FN, TP]] (sklearn multilabel_confusion_matrix)",
}
_SINGLE_DEFS = {
    "n": "number of samples",
    "accuracy": "fraction of samples whose argmax class is correct (the speech literature's 'WA')",
    "unweighted_accuracy": (
        "unweighted mean of per-class recall (UA) over classes present in y_true "
        "(sklearn balanced_accuracy_score)"
    ),
    "macro_f1": "unweighted mean of per-class F1 over classes present in y_true (sklearn average='macro')",
    "weighted_f1": "support-weighted mean of per-class F1 (sklearn average='weighted')",
    "wa": f"{_WA_FORMULA}, per class one-vs-rest, mean over classes present in y_true",
    "averaged_over": "the classes UA, macro-F1 and mean WA average over: those present in y_true",
    "confusion_matrix": "counts, rows = true class, columns = predicted class, both in `labels` order",
    "prediction": "argmax of the class scores (ties go to the first class)",
    "per_class.support": "number of samples whose true class is this class",
    **_PER_CLASS_DEFS,
}
_MULTI_DEFS = {
    "n": "number of samples",
    "accuracy": "mean over emotions of the binary accuracy (TP+TN)/n of each emotion (1 - Hamming loss)",
    "unweighted_accuracy": f"mean over emotions of {_WA_FORMULA} (same number as `wa`)",
    "macro_f1": (
        "mean over emotions of the positive-class F1 of each emotion "
        "(sklearn f1_score(average='macro') on the indicator matrix)"
    ),
    "weighted_f1": (
        "mean over emotions of the binary weighted F1 of each emotion (sklearn f1_score(average='weighted') "
        "on its 0/1 decision: the MulT / Graph-MFN convention)"
    ),
    "wa": f"{_WA_FORMULA}, per emotion (positive = present), mean over emotions",
    "exact_match": "fraction of samples whose whole label set is predicted exactly (sklearn accuracy_score)",
    "threshold": "an emotion is predicted present when its score > threshold",
    "averaged_over": "the emotions the averages run over: all of them",
    "confusion_matrix": "per emotion [[TN, FP], [FN, TP]]",
    "prediction": "score > threshold, per emotion",
    "per_class.support": "number of samples where the emotion is present (P)",
    "per_class.weighted_f1": "support-weighted mean of the negative- and positive-class F1 of the emotion",
    **_PER_CLASS_DEFS,
}


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


def unweighted_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """UA of single-label class indices: the mean over the classes present in ``y_true`` of each
    class's recall (what :func:`single_label_metrics` reports as ``unweighted_accuracy``)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([(y_pred[y_true == k] == k).mean() for k in np.unique(y_true)]))


def weighted_accuracy(tp: int, tn: int, p: int, n: int) -> float:
    """Tong et al. (2017) weighted accuracy of one binary decision.

    WA = (TP·N/P + TN) / (2N) = (TP/P + TN/N) / 2, the mean of the positive and negative recall.

    Args:
        tp: true positives.
        tn: true negatives.
        p: number of positive samples (TP + FN).
        n: number of negative samples (TN + FP).

    Returns:
        WA in [0, 1]. With no positives (p = 0) it is TN/N; with no negatives (n = 0) it is TP/P.

    Raises:
        ValueError: a negative count, tp > p, tn > n, or p = n = 0 (no samples).
    """
    for name, value in (("tp", tp), ("tn", tn), ("p", p), ("n", n)):
        if value < 0:
            raise ValueError(f"weighted_accuracy: {name} must be >= 0, got {value}")
    if tp > p or tn > n:
        raise ValueError(f"weighted_accuracy: need tp <= p and tn <= n, got tp={tp}, p={p}, tn={tn}, n={n}")
    if p == 0 and n == 0:
        raise ValueError("weighted_accuracy: no samples (p = n = 0)")
    if p == 0:
        return float(tn / n)
    if n == 0:
        return float(tp / p)
    return float((tp * n / p + tn) / (2 * n))


def _div(num: float, den: float) -> float:
    """num/den, or 0.0 when den is 0 (sklearn zero_division=0)."""
    return float(num / den) if den else 0.0


def _binary_stats(tp: int, fp: int, fn: int, tn: int) -> dict[str, Any]:
    """Per-class numbers of one binary (class-vs-rest) decision from its four counts."""
    precision = _div(tp, tp + fp)
    recall = _div(tp, tp + fn)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _div(2 * tp, 2 * tp + fp + fn),  # = 2PR/(P+R), 0 when tp = 0
        "support": int(tp + fn),
        "wa": weighted_accuracy(tp, tn, tp + fn, tn + fp),
        "accuracy": _div(tp + tn, tp + fp + fn + tn),
        "confusion": [[int(tn), int(fp)], [int(fn), int(tp)]],
    }


def _check_labels(labels: list[str]) -> list[str]:
    labels = list(labels)
    if not labels:
        raise ValueError("labels is empty: need one name per class")
    if not all(isinstance(name, str) for name in labels):
        raise ValueError(f"labels must be strings, got {labels!r}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels contain duplicates: {labels!r}")
    return labels


def _as_class_indices(values: Any, name: str, num_classes: int, n: int | None = None) -> np.ndarray:
    """Validate a (N,) vector of class indices in [0, num_classes)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: metrics need at least one sample")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} samples, expected {n}")
    numeric = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    if arr.dtype == bool or not numeric:
        raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer class indices, got non-integer values")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= num_classes)
    if bad.any():
        raise ValueError(
            f"{name} has class index {int(arr[bad][0])} outside [0, {num_classes}) "
            f"(labels has {num_classes} names)"
        )
    return arr


def _as_indicator(values: Any, name: str, num_classes: int, n: int | None = None) -> np.ndarray:
    """Validate an (N, K) 0/1 indicator matrix."""
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape[1] != num_classes:
        raise ValueError(f"{name} must have shape (N, {num_classes}) (one column per label), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: metrics need at least one sample")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} samples, expected {n}")
    if arr.dtype != bool:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"{name} must be a 0/1 matrix, got dtype {arr.dtype}")
        if not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"{name} must hold only 0 and 1 (multi-label targets), got other values")
    return arr.astype(bool)


def _as_scores(scores: Any, num_classes: int) -> np.ndarray:
    """Validate an (N, K) finite score matrix."""
    arr = np.asarray(scores)
    if arr.ndim != 2 or arr.shape[1] != num_classes:
        raise ValueError(f"scores must have shape (N, {num_classes}) (one column per label), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("scores is empty: metrics need at least one sample")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"scores must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if np.isnan(arr).any():
        rows = np.flatnonzero(np.isnan(arr).any(axis=1))
        raise ValueError(f"scores contain NaN ({rows.size} samples, first at row {int(rows[0])})")
    if np.isinf(arr).any():
        raise ValueError("scores contain inf")
    return arr


# ---------------------------------------------------------------------------------------------
# The two kinds of task
# ---------------------------------------------------------------------------------------------


def single_label_metrics(y_true: Any, y_pred: Any, labels: list[str]) -> dict[str, Any]:
    """Metrics of a single-label multi-class decision.

    Args:
        y_true: (N,) int true class indices in [0, K).
        y_pred: (N,) int predicted class indices in [0, K).
        labels: K class names; index k of y_true/y_pred is ``labels[k]``.

    Returns:
        A JSON-serialisable dict: ``multi_label`` (False), ``n``, ``labels``, ``accuracy``,
        ``unweighted_accuracy``, ``macro_f1``, ``weighted_f1``, ``wa``, ``averaged_over`` (classes
        present in y_true, the ones averaged), ``confusion_matrix`` (K×K, rows true, columns
        predicted), ``per_class`` (name -> precision, recall, f1, support, wa, accuracy, confusion)
        and ``definitions`` (name -> one-line definition). See the module docstring for conventions.

    Raises:
        ValueError: wrong shapes, empty input, or an index outside [0, K).
    """
    labels = _check_labels(labels)
    k = len(labels)
    y_true = _as_class_indices(y_true, "y_true", k)
    y_pred = _as_class_indices(y_pred, "y_pred", k, n=y_true.shape[0])
    n = int(y_true.shape[0])

    cm = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)  # (K, K) rows true, cols pred
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = n - tp - fp - fn

    per_class = {
        name: _binary_stats(int(tp[i]), int(fp[i]), int(fn[i]), int(tn[i])) for i, name in enumerate(labels)
    }
    support = cm.sum(axis=1)
    present = [i for i in range(k) if support[i] > 0]
    f1 = np.array([per_class[name]["f1"] for name in labels])
    recall = np.array([per_class[name]["recall"] for name in labels])
    wa = np.array([per_class[name]["wa"] for name in labels])

    return {
        "multi_label": False,
        "n": n,
        "labels": labels,
        "accuracy": float(tp.sum() / n),
        "unweighted_accuracy": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "weighted_f1": float((f1 * support).sum() / n),
        "wa": float(wa[present].mean()),
        "averaged_over": [labels[i] for i in present],
        "confusion_matrix": cm.astype(int).tolist(),
        "per_class": per_class,
        "definitions": dict(_SINGLE_DEFS),
    }


def multi_label_metrics(y_true: Any, y_pred: Any, labels: list[str]) -> dict[str, Any]:
    """Metrics of a multi-label decision, each label scored as its own binary task (MOSEI convention).

    Args:
        y_true: (N, K) 0/1 (or bool) targets, 1 = emotion present.
        y_pred: (N, K) 0/1 (or bool) decisions.
        labels: K emotion names, one per column.

    Returns:
        A JSON-serialisable dict: ``multi_label`` (True), ``n``, ``labels``, ``accuracy``,
        ``unweighted_accuracy``, ``macro_f1``, ``weighted_f1``, ``wa``, ``exact_match``,
        ``averaged_over`` (all labels), ``confusion_matrix`` (name -> [[TN, FP], [FN, TP]]),
        ``per_class`` (name -> precision, recall, f1, weighted_f1, support, wa, accuracy, confusion)
        and ``definitions``. Averages are unweighted means over emotions.

    Raises:
        ValueError: wrong shapes, empty input, or values other than 0/1.
    """
    labels = _check_labels(labels)
    k = len(labels)
    y_true = _as_indicator(y_true, "y_true", k)
    y_pred = _as_indicator(y_pred, "y_pred", k, n=y_true.shape[0])
    n = int(y_true.shape[0])

    tp = (y_true & y_pred).sum(axis=0)  # (K,)
    fp = (~y_true & y_pred).sum(axis=0)
    fn = (y_true & ~y_pred).sum(axis=0)
    tn = n - tp - fp - fn

    per_class = {}
    for i, name in enumerate(labels):
        stats = _binary_stats(int(tp[i]), int(fp[i]), int(fn[i]), int(tn[i]))
        # Negative class seen as the positive one: its TP is TN, its FP is FN and its FN is FP.
        f1_negative = _div(2 * tn[i], 2 * tn[i] + fn[i] + fp[i])
        positives, negatives = int(tp[i] + fn[i]), int(tn[i] + fp[i])
        stats["weighted_f1"] = float((negatives * f1_negative + positives * stats["f1"]) / n)
        per_class[name] = stats

    def mean_of(key: str) -> float:
        return float(np.mean([per_class[name][key] for name in labels]))

    wa = mean_of("wa")
    return {
        "multi_label": True,
        "n": n,
        "labels": labels,
        "accuracy": mean_of("accuracy"),
        "unweighted_accuracy": wa,
        "macro_f1": mean_of("f1"),
        "weighted_f1": mean_of("weighted_f1"),
        "wa": wa,
        "exact_match": float(np.all(y_true == y_pred, axis=1).mean()),
        "averaged_over": list(labels),
        "confusion_matrix": {name: per_class[name]["confusion"] for name in labels},
        "per_class": per_class,
        "definitions": dict(_MULTI_DEFS),
    }


def compute_metrics(
    y_true: Any,
    scores: Any,
    labels: list[str],
    multi_label: bool,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """All metrics of one evaluation, from the model's scores.

    Args:
        y_true: single-label: (N,) int class indices; multi-label: (N, K) 0/1 targets.
        scores: (N, K) class scores: softmax probabilities (single-label; any monotone scores work,
            the prediction is their argmax) or per-class sigmoid probabilities (multi-label).
        labels: K class names, in column order.
        multi_label: True for per-emotion binary tasks (prediction = scores > threshold), False for
            one class per sample (prediction = argmax).
        threshold: multi-label decision threshold on the scores (ignored for single-label).

    Returns:
        The dict of :func:`single_label_metrics` or :func:`multi_label_metrics`; for multi-label it
        also holds ``threshold``. Every top-level number is defined in ``definitions``.

    Raises:
        ValueError: wrong shapes, empty input, labels out of range, NaN or inf in scores, or a
            non-finite threshold.
    """
    if not isinstance(multi_label, (bool, np.bool_)):
        raise ValueError(f"multi_label must be True or False, got {multi_label!r}")
    labels = _check_labels(labels)
    scores = _as_scores(scores, len(labels))
    if multi_label:
        if not isinstance(threshold, (int, float, np.number)) or not np.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")
        y_true = _as_indicator(y_true, "y_true", len(labels), n=scores.shape[0])
        out = multi_label_metrics(y_true, scores > threshold, labels)
        out["threshold"] = float(threshold)
        out["definitions"]["prediction"] = f"score > {float(threshold):g}, per emotion"
        return out
    y_true = _as_class_indices(y_true, "y_true", len(labels), n=scores.shape[0])
    out = single_label_metrics(y_true, scores.argmax(axis=1), labels)
    if scores.min() >= 0 and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3):  # probabilities, not just scores
        from xmer.evaluation.calibration import ECE_DEFINITION, expected_calibration_error

        out["ece"] = expected_calibration_error(scores, y_true)
        out["definitions"]["ece"] = ECE_DEFINITION
    return out
