"""Human-readable views of a metrics dict (from :mod:`xmer.evaluation.metrics`): Markdown tables.

Every table here is valid Markdown (it goes into ``report.md``) and padded into aligned columns so it
also reads well printed in a terminal. Numbers are percentages with one decimal; counts are integers.
Nothing is computed here: the numbers come from the metrics dict, and :func:`definitions_footer`
quotes the dict's own ``definitions`` so each table names the convention of each number.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "format_table",
    "format_comparison",
    "format_confusion",
    "plot_confusion",
    "definitions_footer",
]

# Display names of metric keys (a key not listed here is shown as itself).
DISPLAY_NAMES: dict[str, str] = {
    "accuracy": "accuracy",
    "unweighted_accuracy": "UA",
    "macro_f1": "macro-F1",
    "weighted_f1": "weighted-F1",
    "wa": "mean WA",
    "exact_match": "exact match",
    "n": "n",
}

# Per-class columns: (header, per_class key). Multi-label tables add the per-emotion weighted F1 and
# binary accuracy, so that every average row is the mean of a column.
_SINGLE_COLUMNS = [("support", "support"), ("precision", "precision"), ("recall", "recall"),
                   ("F1", "f1"), ("WA", "wa")]
_MULTI_COLUMNS = [("support", "support"), ("precision", "precision"), ("recall", "recall"),
                  ("F1", "f1"), ("weighted F1", "weighted_f1"), ("WA", "wa"), ("accuracy", "accuracy")]

# Average rows: (row name, top-level key, header of the column it summarises).
_SINGLE_AVERAGES = [
    ("accuracy (support-weighted recall)", "accuracy", "recall"),
    ("UA (mean recall)", "unweighted_accuracy", "recall"),
    ("macro-F1", "macro_f1", "F1"),
    ("weighted-F1", "weighted_f1", "F1"),
    ("mean WA", "wa", "WA"),
]
_MULTI_AVERAGES = [
    ("accuracy (mean over emotions)", "accuracy", "accuracy"),
    ("UA (mean WA)", "unweighted_accuracy", "WA"),
    ("macro-F1 (mean positive F1)", "macro_f1", "F1"),
    ("weighted-F1 (mean binary weighted F1)", "weighted_f1", "weighted F1"),
    ("mean WA", "wa", "WA"),
]

_MISSING = "–"


def _pct(value: Any) -> str:
    """0.8532 -> '85.3'; None -> '–'."""
    if value is None:
        return _MISSING
    return f"{100.0 * float(value):.1f}"


def _cell(value: Any) -> str:
    """A number as a table cell: ints as counts, floats as percentages, {'mean','std'} as 'm ± s'."""
    if value is None:
        return _MISSING
    if isinstance(value, Mapping) and "mean" in value:
        std = value.get("std")
        return _pct(value["mean"]) if std is None else f"{_pct(value['mean'])} ± {_pct(std)}"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return _pct(value)


def _escape(text: Any) -> str:
    """Make text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: Sequence[str]) -> str:
    """Render an aligned Markdown table; ``align`` holds 'l' or 'r' per column."""
    header = [_escape(h) for h in header]
    rows = [[_escape(c) for c in row] for row in rows]
    widths = [max(3, len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(cells, widths, align)]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(
        (":" + "-" * (w - 1)) if a == "l" else ("-" * (w - 1) + ":") for w, a in zip(widths, align)
    ) + " |"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def _require(metrics: Mapping[str, Any], *keys: str) -> None:
    missing = [k for k in keys if k not in metrics]
    if missing:
        raise ValueError(f"not a metrics dict from xmer.evaluation.metrics: missing {missing}")


def format_table(metrics: Mapping[str, Any], title: str | None = None) -> str:
    """The per-class report as a Markdown table.

    One row per class (support, precision, recall, F1, WA; multi-label adds the per-emotion weighted
    F1 and accuracy), then one row per average (accuracy, UA, macro-F1, weighted-F1, mean WA) with its
    value in the column it summarises. Classes absent from ``y_true`` are marked and left out of the
    averages (see ``metrics["averaged_over"]``).

    Args:
        metrics: a dict from :func:`xmer.evaluation.metrics.compute_metrics`.
        title: optional bold line above the table.

    Returns:
        Markdown text (no trailing newline).
    """
    _require(metrics, "labels", "per_class", "n", "multi_label")
    multi = bool(metrics["multi_label"])
    columns = _MULTI_COLUMNS if multi else _SINGLE_COLUMNS
    averages = _MULTI_AVERAGES if multi else _SINGLE_AVERAGES
    headers = [h for h, _ in columns]
    averaged = set(metrics.get("averaged_over", metrics["labels"]))

    rows = []
    for name in metrics["labels"]:
        stats = metrics["per_class"][name]
        marker = "" if name in averaged else " †"
        rows.append([f"{name}{marker}"] + [_cell(stats.get(key)) for _, key in columns])
    for row_name, key, column in averages:
        if key not in metrics:
            continue
        cells = [""] * len(columns)
        cells[headers.index(column)] = _cell(metrics[key])
        rows.append([f"**{row_name}**"] + cells)

    kind = "multi-label, per-emotion binary" if multi else "single-label"
    caption = f"n = {metrics['n']} samples, {kind}; numbers in %"
    if multi and "threshold" in metrics:
        caption += f"; predicted present when score > {metrics['threshold']:g}"
    parts = [f"**{title}**", ""] if title else []
    parts += [caption, "", _markdown_table(["class"] + headers, rows, ["l"] + ["r"] * len(columns))]
    absent = [name for name in metrics["labels"] if name not in averaged]
    if absent:
        parts += ["", f"† absent from the evaluation set; left out of the averages: {', '.join(absent)}"]
    return "\n".join(parts)


def format_comparison(
    rows: Mapping[str, Mapping[str, Any]],
    keys: Sequence[str] = ("accuracy", "unweighted_accuracy", "macro_f1", "wa"),
) -> str:
    """Several metric dicts side by side, one row each (e.g. modality subset -> metrics).

    Args:
        rows: row name -> metrics dict. A value may be a float (shown as a percentage), an int (shown
            as is), or ``{"mean": m, "std": s}`` (shown as "m ± s" in percent); a missing key is "–".
        keys: the metric keys to show, one column each, in order.

    Returns:
        Markdown text (no trailing newline).
    """
    if not rows:
        raise ValueError("format_comparison needs at least one row")
    header = [""] + [DISPLAY_NAMES.get(k, k) for k in keys]
    body = [[str(name)] + [_cell(metrics.get(k)) for k in keys] for name, metrics in rows.items()]
    return _markdown_table(header, body, ["l"] + ["r"] * len(keys))


def format_confusion(metrics: Mapping[str, Any]) -> str:
    """The confusion matrix as a Markdown table of counts.

    Single-label: rows = true class, columns = predicted class. Multi-label: one row per emotion with
    its binary counts TN, FP, FN, TP.

    Args:
        metrics: a dict from :func:`xmer.evaluation.metrics.compute_metrics`.

    Returns:
        Markdown text (no trailing newline).
    """
    _require(metrics, "labels", "per_class", "multi_label")
    labels = list(metrics["labels"])
    if metrics["multi_label"]:
        body = []
        for name in labels:
            (tn, fp), (fn, tp) = metrics["per_class"][name]["confusion"]
            body.append([name, str(tn), str(fp), str(fn), str(tp)])
        return _markdown_table(["emotion", "TN", "FP", "FN", "TP"], body, ["l", "r", "r", "r", "r"])
    _require(metrics, "confusion_matrix")
    body = [[name] + [str(c) for c in row] for name, row in zip(labels, metrics["confusion_matrix"])]
    return _markdown_table(["true \u2193 / predicted \u2192"] + labels, body, ["l"] + ["r"] * len(labels))


def plot_confusion(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Save the confusion matrix as a PNG (colour = row-normalised rate, text = count).

    Single-label: one K×K matrix. Multi-label: one 2×2 panel (rows true no/yes, columns predicted
    no/yes) per emotion. Uses matplotlib's Agg canvas without pyplot (no global state), and writes
    atomically: a temporary file beside ``path`` is renamed onto it.

    Args:
        metrics: a dict from :func:`xmer.evaluation.metrics.compute_metrics`.
        path: the PNG to write; its folder is created if needed.

    Returns:
        ``path`` as a Path.
    """
    _require(metrics, "labels", "per_class", "multi_label")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - matplotlib is a core dependency
        raise ImportError("plot_confusion needs matplotlib: pip install matplotlib") from err
    import numpy as np

    from xmer.io import atomic_path

    labels = list(metrics["labels"])
    if metrics["multi_label"]:
        panels = [(name, np.asarray(metrics["per_class"][name]["confusion"]), ["no", "yes"])
                  for name in labels]
        fig = Figure(figsize=(2.6 * len(panels), 2.9), layout="constrained")
    else:
        _require(metrics, "confusion_matrix")
        panels = [("", np.asarray(metrics["confusion_matrix"]), labels)]
        side = 1.6 + 0.65 * len(labels)
        fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    FigureCanvasAgg(fig)

    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, counts, ticks) in zip(axes, panels):
        rows = counts.sum(axis=1, keepdims=True)
        rates = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=float), where=rows > 0)
        image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
        for (i, j), count in np.ndenumerate(counts):
            ax.text(j, i, str(int(count)), ha="center", va="center",
                    color="white" if rates[i, j] > 0.5 else "black", fontsize=9)
        tilt = len(ticks) > 2
        ax.set_xticks(range(len(ticks)), ticks, rotation=45 if tilt else 0, ha="right" if tilt else "center")
        ax.set_yticks(range(len(ticks)), ticks)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if name:
            ax.set_title(name)
    if not metrics["multi_label"]:
        fig.colorbar(image, ax=axes[0], label="fraction of the true class")

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return path


def definitions_footer(metrics: Mapping[str, Any], keys: Sequence[str] | None = None) -> str:
    """A Markdown list quoting the definition of each metric shown, from ``metrics["definitions"]``.

    Args:
        metrics: a dict from :func:`xmer.evaluation.metrics.compute_metrics`.
        keys: definition keys to list; by default those of :func:`format_table` (the averages and the
            per-class columns).

    Returns:
        Markdown text (no trailing newline).
    """
    _require(metrics, "definitions")
    definitions = metrics["definitions"]
    if keys is None:
        multi = bool(metrics.get("multi_label"))
        averages = _MULTI_AVERAGES if multi else _SINGLE_AVERAGES
        columns = _MULTI_COLUMNS if multi else _SINGLE_COLUMNS
        keys = [key for _, key, _ in averages] + [f"per_class.{key}" for _, key in columns] + ["prediction"]
    lines = []
    for key in keys:
        if key in definitions:
            if key.startswith("per_class."):
                shown = f"{key.removeprefix('per_class.')} (per class)"
            else:
                shown = DISPLAY_NAMES.get(key, key)
            lines.append(f"- **{shown}**: {definitions[key]}")
    return "\n".join(lines)


def plot_curves(history: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Save training curves as a PNG: every loss in ``history`` (recogniser, translator terms,
    discriminators) in one panel, every ``valid_*`` metric in another, against the epoch.

    Args:
        history: one dict per epoch with an ``epoch`` key (``history.json`` of a run folder).
        path: the PNG to write (atomically).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from xmer.io import atomic_path

    epochs = [row["epoch"] for row in history]
    keys = sorted({k for row in history for k, v in row.items() if isinstance(v, (int, float))})  # not config_changes
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    losses, scores = fig.subplots(1, 2)
    for key in keys:
        values = [row.get(key) for row in history]
        if key.startswith("valid_"):
            scores.plot(epochs, values, marker=".", label=key[len("valid_"):])
        elif key not in ("epoch", "seconds"):  # every named loss: recogniser, translators, discriminators
            losses.plot(epochs, values, marker=".", label=key)
    losses.set(title="training losses", xlabel="epoch", yscale="symlog")
    scores.set(title="validation metrics", xlabel="epoch", ylim=(0, 1))
    for ax in (losses, scores):
        if ax.lines:
            ax.legend(fontsize=8)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path
