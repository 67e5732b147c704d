"""The paper's experiments as named lists of conditions, run over seeds into one report.

An experiment is a list of conditions, each a set of config overrides on a base config. ``run``
trains every condition with every seed (each a normal run folder), evaluates it on the test split
once, and writes ``report.md`` (mean ± std over seeds, the metric definitions named), ``results.json``
and per-condition confusion matrices and training curves. Conditions, the CLI's choices and the
report all read :data:`EXPERIMENTS`.

Several experiments share conditions (the full method with auxiliary data is in all five). Given a
``runs`` folder, a run is stored there under a hash of its resolved config and the experiment's
folder links to it, so ``run_all`` trains each distinct config once.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from xmer.config import Config, load_config
from xmer.errors import ConfigError, DataError
from xmer.guard import check_output, made_by_xmer, mark
from xmer.evaluation.report import definitions_footer, format_comparison
from xmer.io import atomic_write_json, atomic_write_text
from xmer.scoring import evaluate_run
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
        "Tables 5/6: 70/80/90/100% of the trimodal training part, without augmentation, with "
        "augmentation (translators with SeqDis on the trimodal part: the paper's setting, whose 100% row "
        "is its '+ SeqDis'), and with augmentation and the auxiliary data (the full method).",
        tuple(
            (f"{pct}% {label}", overrides + (f"data.usage={pct / 100}",))
            for pct in (70, 80, 90, 100)
            for label, overrides in (
                ("without augmentation", ALONE + TRIMODAL),
                ("with augmentation", METHOD + TRIMODAL),
                ("with augmentation and auxiliary data", METHOD + ALL),
            )
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

def _missing_rate_conditions() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """For each p: the six conditions on the same fixed removal (xmer.data.missing)."""
    conditions = []
    for p in (1.0, 0.5, 0.2):
        rate = (f"data.complete_fraction={p}",)
        # at p = 1 the complete part is all of it: the same config (and, with --runs, the same run) as left out
        complete_only = ALONE + (ALL if p == 1.0 else TRIMODAL) + rate
        conditions += [
            (f"p={p}: recogniser, complete part only", complete_only),
            (f"p={p}: missing modalities left out", ALONE + ALL + rate),
            (f"p={p}: translators + SeqDis (end to end)", METHOD + ALL + rate),
            (f"p={p}: translators, no SeqDis", NO_SEQDIS + ALL + rate),
            (f"p={p}: late fusion", ALONE + ALL + rate + ("model.name=late_fusion",)),
            (f"p={p}: MulT-style", ALONE + ALL + rate + ("model.name=mult",)),
        ]
    return tuple(conditions)


EXPERIMENTS["missing_rate"] = Experiment(
    "The missing-modality protocol of MMIN (Zhao et al. 2021): a fraction p of the trimodal training "
    "samples stays complete and each other one loses one or two modalities at random (a fixed seeded "
    "draw, the same for every condition and seed; xmer.data.missing), p = 1.0, 0.5, 0.2. Conditions: "
    "the recogniser on the complete part only; all samples with missing modalities left out of the "
    "fusion; the paper's translators with SeqDis, end to end 1:n; the translators without SeqDis; "
    "late fusion; a MulT-style model. Tested with all modalities and with each subset (missing ones "
    "imagined, and for the translator conditions also left out).",
    _missing_rate_conditions(),
    subsets=True,
)

QUICK = (
    "train.epochs=2", "data.toy.trimodal=48", "data.toy.bimodal=12", "data.toy.unimodal=12",
    "data.toy.valid=24", "data.toy.test=24", "data.batch_size=16", "model.d_model=32", "model.d_ff=32",
    "translator.hidden=32", "translator.latent=16", "method.pipeline_translator_epochs=1",
)


def base_config_path(data: str) -> Path:
    """configs/experiment_toy.yaml for the toy set, configs/experiment.yaml for a prepared dataset."""
    name = "experiment_toy.yaml" if data == "toy" else "experiment.yaml"
    return Path(str(resources.files("xmer") / "configs" / name))


def run(
    name: str, data: str, out: str | Path, seeds=(1, 2, 3), quick: bool = False, overrides=(), log=print,
    runs: str | Path | None = None,
) -> dict:
    """Run experiment ``name`` on ``data`` ('toy' or a prepared dataset folder) into ``out``.

    With ``runs``, run folders live there keyed by their config and are reused by any experiment
    that trains the same config; ``out/<condition>/seed<N>`` is then a link to the shared folder.
    """
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    experiment = EXPERIMENTS[name]
    check_data(data)
    out = start_folder(out, seeds)
    common = [f"data.dataset={data}", "train.progress=false", *(QUICK if quick else ()), *overrides]
    results: dict[str, dict] = {}
    for condition, condition_overrides in experiment.conditions:
        started = time.perf_counter()
        evaluated = []
        for seed in seeds:
            config = load_config(base_config_path(data), [*condition_overrides, *common, f"train.seed={seed}"])
            run_dir = _run_folder(out / _slug(condition) / f"seed{seed}", config, runs)
            resume = (run_dir / "checkpoints" / "last.pt").exists()
            Trainer(config, run_dir).fit(resume=resume)
            evaluated.append(evaluate_run(run_dir, "test", subsets=experiment.subsets))
            scores = evaluated[-1]
            log(f"{name}: {condition}, seed {seed}: accuracy {scores['accuracy']:.3f}, macro-F1 {scores['macro_f1']:.3f}")
        results[condition] = {
            "runs": evaluated, "overrides": list(condition_overrides),
            "seconds": round(time.perf_counter() - started, 1),
            "train_seconds": round(sum(_training_seconds(out / _slug(condition) / f"seed{s}") for s in seeds), 1),
        }
    report = _report(name, experiment, data, seeds, quick, results)
    atomic_write_text(out / "report.md", report)
    atomic_write_json(out / "results.json", {
        "experiment": name, "data": data, "seeds": list(seeds), "quick": quick,
        "conditions": {c: {"seconds": r["seconds"], "train_seconds": r["train_seconds"], "overrides": r["overrides"],
                           "summary": summarise(r["runs"]), **({"instance": s} if (s := _instance_summary(r["runs"])) else {})}
                       for c, r in results.items()},
    })
    return results


def run_all(data: str, out: str | Path, seeds=(1, 2, 3), quick: bool = False, overrides=(), log=print) -> dict:
    """Every experiment into ``out/<name>/``, sharing identical runs through ``out/runs/``; an index report."""
    check_data(data)
    out = start_folder(out, seeds)
    started = time.perf_counter()
    results = {}
    for name in EXPERIMENTS:
        begun = time.perf_counter()
        results[name] = run(name, data, out / name, seeds, quick, overrides, log, runs=out / "runs")
        log(f"{name}: done in {time.perf_counter() - begun:.0f} s")
    lines = [f"# All experiments on `{data}`", "", f"Seeds: {', '.join(map(str, seeds))}."
             + (" Quick mode." if quick else ""), "",
             "| experiment | conditions | training time, all seeds (s) | report |", "| :-- | --: | --: | :-- |"]
    for name, conditions in results.items():
        train = sum(r["train_seconds"] for r in conditions.values())
        lines.append(f"| {name} | {len(conditions)} | {train:.0f} | [{name}/report.md]({name}/report.md) |")
    lines += ["", f"Wall time of this invocation: {time.perf_counter() - started:.0f} s (a run shared by several "
              "experiments is trained once and counted in each; a resumed suite counts only what it ran).", ""]
    atomic_write_text(out / "report.md", "\n".join(lines))
    return results


def check_data(data: str) -> None:
    """'toy', or a prepared dataset folder: checked before anything is written."""
    if data != "toy":
        from xmer.data.dataset import PreparedDataset

        PreparedDataset.open(data)  # a DataError naming the folder and what it lacks


def start_folder(out: str | Path, seeds) -> Path:
    """Check the seeds and the experiment folder (new, empty, or an earlier experiment: it resumes)
    and mark it as an experiment's."""
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("--seeds: give at least one seed")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"--seeds {' '.join(map(str, seeds))}: seed(s) {', '.join(map(str, repeated))} given twice; "
                          "each seed is one run, and a repeated one would count the same run twice in mean ± std")
    out = check_output(out)
    kind = made_by_xmer(out)
    if out.exists() and any(out.iterdir()) and kind != "experiment" and not (out / "results.json").is_file():
        raise DataError(f"--out {out} holds files that are not an xmer experiment's; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    mark(out, "experiment")
    return out


def config_key(config: Config) -> str:
    """A short hash of the resolved config: equal configs train equal runs (training is deterministic)."""
    text = json.dumps(config.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _run_folder(place: Path, config: Config, runs: str | Path | None) -> Path:
    """``place`` itself, or with ``runs`` a link at ``place`` to ``runs/<config key>``."""
    if runs is None:
        return place
    shared = Path(runs) / config_key(config)
    shared.mkdir(parents=True, exist_ok=True)
    if place.is_symlink() and place.resolve() != shared.resolve():
        place.unlink()  # the condition's config changed since this link was made: link the new run
    if not place.is_symlink():
        if place.exists():
            raise ConfigError(f"{place} is a run folder of its own; give this experiment a new --out to share runs")
        place.parent.mkdir(parents=True, exist_ok=True)
        place.symlink_to(os.path.relpath(shared, place.parent), target_is_directory=True)
    return place


def _training_seconds(run_dir: Path) -> float:
    """Training time recorded in a run's histories (survives resumption, unlike a wall clock),
    the pipeline strategy's translator-only epochs included."""
    total = 0.0
    for name in ("history.json", "translator_history.json"):
        if (run_dir / name).exists():
            total += sum(epoch.get("seconds", 0.0) for epoch in json.loads((run_dir / name).read_text()))
    return total


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
    lines += ["", "Time per condition, all seeds: training (from the runs' histories, so a resumed or shared run "
              "counts its full training) and the wall time of this invocation (training still to do + evaluation):", ""]
    lines += [f"- {c}: training {r['train_seconds']:.0f} s; this invocation {r['seconds']:.0f} s" for c, r in results.items()]
    if experiment.subsets:
        lines += ["", "## Test-time modality subsets, accuracy (%)", "",
                  "Mean ± std over seeds; a condition with translators gives the accuracy with the missing "
                  "modalities imagined, then (`/`) left out, for the same models.", "",
                  _subset_grid(results, "accuracy")]
        for condition, r in results.items():
            lines += ["", f"## {condition}: test-time modality subsets", "", "Missing modalities imagined:", "",
                      format_comparison({s: _subset_summary(r["runs"], "subsets", s) for s in first["subsets"]})]
            if "subsets_left_out" in first:
                lines += ["", "Missing modalities left out:", "",
                          format_comparison({s: _subset_summary(r["runs"], "subsets_left_out", s) for s in first["subsets"]})]
    instance = {c: s for c, r in results.items() if (s := _instance_summary(r["runs"]))}
    if instance:
        lines += ["", "## Does a translator learn the instance or only the class?", "",
                  "On the validation split: squared error per dimension of a translation's time mean against the "
                  "sample's own target and against a same-label, same-speaker partner's; `lower by` = "
                  "1 - own / partner (above 0: the translation carries something of its own sample), and the "
                  "same for a ridge map from the same training data. Mean ± std over seeds "
                  "(xmer.evaluation.diagnostics).", "",
                  "| condition | direction | own | partner | lower by (%) | ridge lower by (%) |",
                  "| :-- | :-- | --: | --: | --: | --: |"]
        for condition, directions in instance.items():
            for key, v in directions.items():
                ridge = f"{100 * v['ridge_lower_by']['mean']:.1f} ± {100 * v['ridge_lower_by']['std']:.1f}" if "ridge_lower_by" in v else "-"
                lines.append(f"| {condition} | {key.replace('_to_', ' -> ')} | {v['own']['mean']:.3f} | {v['partner']['mean']:.3f} | "
                             f"{100 * v['lower_by']['mean']:.1f} ± {100 * v['lower_by']['std']:.1f} | {ridge} |")
    lines += ["", "Run folders (config, curves, confusion matrices): " + ", ".join(f"`{_slug(c)}/`" for c in results), ""]
    lines += [definitions_footer(first), ""]
    return "\n".join(lines)


def _instance_summary(runs: list[dict]) -> dict:
    """direction -> each instance diagnostic's mean and std over the runs that have it ({} if none)."""
    found = [r["translation"]["instance"] for r in runs if r.get("translation", {}).get("instance", {}).get("n")]
    if not found:
        return {}
    keys = [k for k, v in found[0].items() if isinstance(v, dict)]
    return {k: {stat: _mean_std([f[k][stat] for f in found]) for stat in found[0][k]} for k in keys}


def _subset_grid(results: dict, metric: str) -> str:
    """One row per condition, one column per test-time modality subset: ``metric`` mean ± std, and
    for runs with translators ``imagined / left out``."""
    subsets = list(next(iter(results.values()))["runs"][0]["subsets"])
    lines = ["| condition | " + " | ".join(subsets) + " |", "| :-- | " + " | ".join("--:" for _ in subsets) + " |"]
    for condition, r in results.items():
        cells = []
        for subset in subsets:
            cell = _pm(_subset_summary(r["runs"], "subsets", subset)[metric])
            if "subsets_left_out" in r["runs"][0]:
                cell += " / " + _pm(_subset_summary(r["runs"], "subsets_left_out", subset)[metric])
            cells.append(cell)
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pm(stat: dict) -> str:
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}"


def _subset_summary(runs, key, subset) -> dict:
    return {k: _mean_std([r[key][subset][k] for r in runs]) for k in ("accuracy", "unweighted_accuracy", "macro_f1", "wa")}


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-").replace("--", "-")
