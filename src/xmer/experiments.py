"""The paper's experiments as named lists of conditions, run over seeds into one report.

An experiment is a list of conditions, each a set of config overrides on a base config. ``run``
trains every condition with every seed (each a normal run folder), evaluates it on the test split
once, and writes ``report.md`` (mean ± std over seeds, the metric definitions named), ``results.json``
and per-condition confusion matrices and training curves. Conditions, the CLI's choices and the
report all read :data:`EXPERIMENTS`.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from xmer.config import load_config
from xmer.errors import ConfigError
from xmer.evaluation.evaluate import evaluate_run
from xmer.evaluation.report import definitions_footer, format_comparison
from xmer.io import atomic_write_json, atomic_write_text
from xmer.training.trainer import Trainer

TRIMODAL = ("data.train_subsets=trimodal",)
ALL = ("data.train_subsets=all",)
ALONE = ("translator.enabled=false",)
METHOD = ("translator.enabled=true",)
NO_SEQDIS = ("translator.enabled=true", "method.losses.seqdis=0")


@dataclass(frozen=True)
class Experiment:
    description: str
    conditions: tuple[tuple[str, tuple[str, ...]], ...]  # (name, overrides)
    subsets: bool = False  # also report the 7 test-time modality subsets


EXPERIMENTS: dict[str, Experiment] = {
    "main": Experiment(
        "Tables 3/4: recogniser alone; + cross-modal translation; + SeqDis; + auxiliary datasets; "
        "the auxiliary data without translation as a control; a late-fusion and a Multimodal-Transformer-style "
        "baseline trained on the same data (missing modalities left out).",
        (
            ("recogniser alone (trimodal part)", ALONE + TRIMODAL),
            ("+ cross-modal translation", NO_SEQDIS + TRIMODAL),
            ("+ SeqDis", METHOD + TRIMODAL),
            ("+ auxiliary datasets", METHOD + ALL),
            ("control: auxiliary data, no translation", ALONE + ALL),
            ("baseline: late fusion, auxiliary data", ALONE + ALL + ("model.name=late_fusion",)),
            ("baseline: MulT-style cross-modal attention, auxiliary data", ALONE + ALL + ("model.name=mult",)),
        ),
    ),
    "data_usage": Experiment(
        "Tables 5/6: 70/80/90/100% of the trimodal training part, without and with augmentation "
        "(the full method with auxiliary data).",
        tuple(
            (f"{pct}% {label}", overrides + (f"data.usage={pct / 100}",))
            for pct in (70, 80, 90, 100)
            for label, overrides in (("without augmentation", ALONE + TRIMODAL), ("with augmentation", METHOD + ALL))
        ),
    ),
    "modalities": Experiment(
        "Tables 7/8: augmentation (imagining by the translators in training) applied to T+A+V, T+A, T+V, "
        "A+V, T, A, V only; the other modalities stay real or absent. Full method with auxiliary data.",
        tuple(
            (f"augment {name}", METHOD + ALL + (f"method.augment_modalities={modalities}",))
            for name, modalities in (
                ("T+A+V", "visual+audio+text"), ("T+A", "audio+text"), ("T+V", "visual+text"), ("A+V", "visual+audio"),
                ("T", "text"), ("A", "audio"), ("V", "visual"),
            )
        ),
    ),
    "strategy": Experiment(
        "Table 9: pipeline vs end to end with 1:3, 1:5, 1:7, 1:9 recogniser steps per translator step.",
        (("pipeline", METHOD + ALL + ("method.strategy=pipeline",)),)
        + tuple(
            (f"end to end 1:{n}", METHOD + ALL + ("method.strategy=end_to_end", f"method.recognizer_steps_per_translator_step={n}"))
            for n in (3, 5, 7, 9)
        ),
    ),
    "missing": Experiment(
        "Not in the paper: test-time accuracy for each of the 7 modality subsets, with the missing "
        "modalities imagined by the translators vs left out.",
        (("full method", METHOD + ALL),),
        subsets=True,
    ),
}

QUICK = (
    "train.epochs=2", "data.toy.trimodal=48", "data.toy.bimodal=12", "data.toy.unimodal=12",
    "data.toy.valid=24", "data.toy.test=24", "data.batch_size=16", "model.d_model=32", "model.d_ff=32",
    "translator.hidden=32", "translator.latent=16", "method.pipeline_translator_epochs=1",
)


def base_config_path(data: str) -> Path:
    """configs/experiment_toy.yaml for the toy set, configs/experiment.yaml for a prepared dataset."""
    name = "experiment_toy.yaml" if data == "toy" else "experiment.yaml"
    return Path(str(resources.files("xmer") / "configs" / name))


def run(name: str, data: str, out: str | Path, seeds=(1, 2, 3), quick: bool = False, overrides=(), log=print) -> dict:
    """Run experiment ``name`` on ``data`` ('toy' or a prepared dataset folder) into ``out``."""
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    experiment = EXPERIMENTS[name]
    out = Path(out)
    common = [f"data.dataset={data}", "train.progress=false", *(QUICK if quick else ()), *overrides]
    results: dict[str, dict] = {}
    for condition, condition_overrides in experiment.conditions:
        started = time.perf_counter()
        runs = []
        for seed in seeds:
            config = load_config(base_config_path(data), [*condition_overrides, *common, f"train.seed={seed}"])
            run_dir = out / _slug(condition) / f"seed{seed}"
            resume = (run_dir / "checkpoints" / "last.pt").exists()
            Trainer(config, run_dir).fit(resume=resume)
            runs.append(evaluate_run(run_dir, "test", subsets=experiment.subsets))
            log(f"{name}: {condition}, seed {seed}: accuracy {runs[-1]['accuracy']:.3f}, macro-F1 {runs[-1]['macro_f1']:.3f}")
        results[condition] = {"runs": runs, "seconds": round(time.perf_counter() - started, 1), "overrides": list(condition_overrides)}
    report = _report(name, experiment, data, seeds, quick, results)
    atomic_write_text(out / "report.md", report)
    atomic_write_json(out / "results.json", {
        "experiment": name, "data": data, "seeds": list(seeds), "quick": quick,
        "conditions": {c: {"seconds": r["seconds"], "overrides": r["overrides"], "summary": summarise(r["runs"])}
                       for c, r in results.items()},
    })
    return results


def summarise(runs: list[dict]) -> dict:
    """Mean and std over seeds of every scalar metric and every per-class WA and F1."""
    keys = ("accuracy", "unweighted_accuracy", "macro_f1", "weighted_f1", "wa")
    out = {k: _mean_std([r[k] for r in runs]) for k in keys}
    out["per_class"] = {
        c: {k: _mean_std([r["per_class"][c][k] for r in runs]) for k in ("wa", "f1")} for c in runs[0]["per_class"]
    }
    return out


def _mean_std(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def _report(name, experiment, data, seeds, quick, results) -> str:
    lines = [f"# Experiment `{name}`", "", experiment.description, "",
             f"Data: `{data}`{' (SYNTHETIC toy set)' if data == 'toy' else ''}. Seeds: {', '.join(map(str, seeds))}."
             + (" **Quick mode** (2 epochs, tiny model and set): checks the machinery, not the claim." if quick else ""),
             "", "Test split, mean ± std over seeds (%):", ""]
    summaries = {c: summarise(r["runs"]) for c, r in results.items()}
    lines += [format_comparison(summaries), ""]
    first = next(iter(results.values()))["runs"][0]
    classes = list(first["per_class"])
    lines += ["Per-emotion WA (Tong et al., one-vs-rest) and F1, mean over seeds (%):", "",
              "| condition | " + " | ".join(f"{c} WA | {c} F1" for c in classes) + " |",
              "| :-- | " + " | ".join("--: | --:" for _ in classes) + " |"]
    for condition, summary in summaries.items():
        cells = [f"{100 * summary['per_class'][c]['wa']['mean']:.1f} | {100 * summary['per_class'][c]['f1']['mean']:.1f}" for c in classes]
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    lines += ["", "Time per condition (all seeds, training and evaluation):", ""]
    lines += [f"- {c}: {r['seconds']:.0f} s" for c, r in results.items()]
    if experiment.subsets:
        for condition, r in results.items():
            lines += ["", f"## {condition}: test-time modality subsets", "", "Missing modalities imagined:", "",
                      format_comparison({s: _subset_summary(r["runs"], "subsets", s) for s in first["subsets"]})]
            if "subsets_left_out" in first:
                lines += ["", "Missing modalities left out:", "",
                          format_comparison({s: _subset_summary(r["runs"], "subsets_left_out", s) for s in first["subsets"]})]
    lines += ["", "Run folders (config, curves, confusion matrices): " + ", ".join(f"`{_slug(c)}/`" for c in results), ""]
    lines += [definitions_footer(first), ""]
    return "\n".join(lines)


def _subset_summary(runs, key, subset) -> dict:
    return {k: _mean_std([r[key][subset][k] for r in runs]) for k in ("accuracy", "unweighted_accuracy", "macro_f1", "wa")}


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-").replace("--", "-")
