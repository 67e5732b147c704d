"""Scoring a run folder's model on one split: ``metrics.json``, ``report.md`` and confusion matrices.

``evaluate_run(RUN, "test")`` loads the best checkpoint, scores the split with every modality the
samples have, and also with each of the 7 modality subsets (the other modalities withheld), writes
``metrics.json`` (the full-input metrics at the top level, the subsets under ``"subsets"``) and
``report.md``, and returns the metrics. The test split is read here, once, never by training. It sits above inference (it loads the run's
model as a :class:`~xmer.inference.Recognizer`) and below the commands and experiments that call it.
"""

from __future__ import annotations

from pathlib import Path

from xmer.errors import DataError
from xmer.evaluation.evaluate import predict_records
from xmer.evaluation.metrics import compute_metrics
from xmer.io import atomic_write_json, atomic_write_text
from xmer.modalities import SUBSETS, subset_name


def evaluate_run(run_dir: str | Path, split: str = "test", subsets: bool = True, dataset: str | None = None) -> dict:
    """Evaluate a run folder's best checkpoint on ``split``; writes metrics.json and report.md.

    The files are named by what was scored, so one evaluation never replaces another's: the run's own
    test split writes ``metrics.json``, its valid split ``metrics_valid.json``, and another dataset
    (``dataset``) ``metrics_<split>_<dataset folder name>.json`` (``report`` and ``confusion`` alike)."""
    from xmer.evaluation.report import definitions_footer, format_comparison, format_table, plot_confusion
    from xmer.inference import Recognizer
    from xmer.data.from_config import open_dataset

    run_dir = Path(run_dir)
    recognizer = Recognizer.load(run_dir)
    config = recognizer.config
    data = open_dataset(config, dataset or None)
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
    single = not recognizer.model.is_ensemble  # an ensemble scores as a whole: no left-out or translator diagnostics
    if recognizer.model.temperature != 1.0:  # the same model before calibration, for the ECE it had
        temperature, recognizer.model.temperature = recognizer.model.temperature, 1.0
        metrics["ece_uncalibrated"] = run().get("ece")
        recognizer.model.temperature = temperature
        metrics["temperature"] = temperature
    metrics["split"] = split
    metrics["dataset"] = str(data.root)
    if hasattr(data, "report"):  # a mixture: what it kept out of training, checked again now
        metrics.update(data.report())
    if subsets:
        held = {m for r in records for m in r["modalities"]}  # a subset the data never hold is not scored
        usable = [s for s in SUBSETS if set(s) <= set(recognizer.input_dims) & held]
        metrics["subsets"] = {subset_name(s): run(s) for s in usable}
        if single and recognizer.model.can_imagine():
            # The same recogniser with the missing modalities left out instead of imagined.
            metrics["subsets_left_out"] = {subset_name(s): run(s, recognizer.model.recognizer) for s in usable}
    if single and recognizer.model.can_imagine():
        from xmer.evaluation.diagnostics import translation_diagnostics

        # On validation, as a training diagnostic; the test split stays for the headline numbers.
        metrics["translation"] = translation_diagnostics(
            recognizer.model, data, data.split("valid"), config.data.batch_size, recognizer.input_dims, recognizer.device,
            train_records=data.split("train"),
        )
    suffix = f"_{split}_{Path(dataset).name}" if dataset else ("" if split == "test" else f"_{split}")
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
        if "subsets_left_out" in metrics:
            lines += ["The same model with the withheld modalities left out (not imagined):", "",
                      format_comparison(metrics["subsets_left_out"]), ""]
    if metrics.get("translation"):
        from xmer.evaluation.diagnostics import format_diagnostics

        lines += ["## Translators, on the validation split", "", format_diagnostics(metrics["translation"]), ""]
    lines += [f"![confusion matrix](confusion{suffix}.png)  ![training curves](curves.png)", ""]
    lines += [definitions_footer(metrics), ""]
    atomic_write_text(run_dir / f"report{suffix}.md", "\n".join(lines))
    return metrics
