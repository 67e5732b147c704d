"""Model folders: a run reduced to what prediction needs (``xmer export``), and ensembles of runs.

A model folder holds ``model.json``, ``model.safetensors`` (float16 weights, the config in its header:
:mod:`xmer.export.weights`), ``MODEL_CARD.md`` (:mod:`xmer.export.card`) and, when evaluated,
``metrics.json``; an ensemble folder holds its members under ``members/`` and ``ensemble.json``.
:class:`~xmer.inference.Recognizer` loads either. ONNX graphs: :mod:`xmer.export.onnx`.
"""

from __future__ import annotations

import json
from pathlib import Path

from xmer.errors import DataError
from xmer.inference import ENSEMBLE_FILE, WEIGHTS_FILE, Recognizer, read_model
from xmer.io import read_json


def export_model(run_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write the parts of a run folder that prediction needs, small and pickle-free: ``model.json``,
    ``config.yaml``, ``metrics.json`` (when the run was evaluated), a ``MODEL_CARD.md`` in the Hugging
    Face layout and ``model.safetensors`` holding the weights in float16 with the resolved config and
    the run's bookkeeping as JSON in its header (no optimiser state; the discriminators, which only
    training uses, are dropped). ``run_dir`` may also be an exported model folder, of this format or
    the older ``checkpoints/best.pt`` one, which converts it, or an ensemble folder, which is copied as
    it is (without ``onnx/``). Returns ``out_dir``.

    The export is built in a temporary sibling and renamed into place; ``out_dir`` may not be the run
    or lie inside or above it, and an existing ``out_dir`` is replaced only with ``overwrite`` and
    only when it is an earlier export. A model card written by hand (one in ``run_dir``, or in the
    export being replaced) is kept; otherwise one is rendered from ``model.json`` and the metrics.
    """
    from xmer.guard import building, check_not_inside
    from xmer.export.card import CARD_FILE, render_card
    from xmer.export.weights import save_weights
    from xmer.io import atomic_write_json as write_json

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    check_not_inside(out_dir, run_dir, "the run folder")
    if (run_dir / ENSEMBLE_FILE).is_file():  # an ensemble folder is already in this format: copied as it is
        import shutil

        Recognizer.load(run_dir)  # an ensemble folder: a broken one is refused before anything is written
        with building(out_dir, overwrite=overwrite, kind="export") as tmp:
            for item in run_dir.iterdir():
                if item.name != "onnx":  # graphs are made afresh by --onnx, from these weights
                    (shutil.copytree if item.is_dir() else shutil.copy2)(item, tmp / item.name)
        return out_dir
    payload = read_model(run_dir, "best")
    weights = {k: (v.half() if v.is_floating_point() else v) for k, v in payload["model"].items()
               if not k.startswith("discriminators.")}
    card = read_json(run_dir / "model.json")
    texts = {name: (run_dir / name).read_text() for name in ("config.yaml", "metrics.json", CARD_FILE) if (run_dir / name).is_file()}
    if CARD_FILE not in texts and (out_dir / CARD_FILE).is_file():
        texts[CARD_FILE] = (out_dir / CARD_FILE).read_text()  # a card written by hand is never replaced
    with building(out_dir, overwrite=overwrite, kind="export") as tmp:
        save_weights(tmp / WEIGHTS_FILE, weights, {"config": payload["config"], "state": payload.get("state", {})})
        write_json(tmp / "model.json", card)
        for name, text in texts.items():  # the metrics of its evaluation travel with the model
            (tmp / name).write_text(text)
        if CARD_FILE not in texts:
            metrics = json.loads(texts["metrics.json"]) if "metrics.json" in texts else None
            (tmp / CARD_FILE).write_text(render_card(card, metrics, out_dir.resolve().name))
    return out_dir


def export_ensemble(run_dirs: list[str | Path], out_dir: str | Path, overwrite: bool = False,
                    calibration_data: str | Path | None = None, calibrate: bool = True) -> Path:
    """One model folder of several runs (or exported models) of one configuration, predicting with
    their calibrated probabilities averaged: each exported as :func:`export_model` does into
    ``members/<i>/``, ``ensemble.json`` listing them, and ``model.json`` and ``MODEL_CARD.md`` of the
    first with the members named. A temperature for the average is fitted on the validation split
    of the dataset the runs were trained on (their config's paths, as given: relative ones are read
    from the working folder), or of ``calibration_data`` (``model.json``: ``temperature``,
    ``calibration``); multi-label models are not calibrated, and ``calibrate=False`` skips it. Built
    in a temporary sibling and renamed into place.

    Raises:
        DataError: fewer than two runs, a run that is not one, members whose labels, inputs or
            extractors differ, or validation data that cannot be found (it says where it looked).
    """
    from xmer.guard import building
    from xmer.export.card import CARD_FILE
    from xmer.io import atomic_write_json as write_json

    run_dirs, out_dir = [Path(r) for r in run_dirs], Path(out_dir)
    if len(run_dirs) < 2:
        raise DataError("an ensemble needs at least two runs")
    with building(out_dir, overwrite=overwrite, kind="export") as tmp:
        names = []
        for i, run_dir in enumerate(run_dirs):
            export_model(run_dir, tmp / "members" / str(i))
            names.append(str(i))
        write_json(tmp / ENSEMBLE_FILE, {"members": names, "runs": [r.resolve().name for r in run_dirs]})
        first = {k: v for k, v in read_json(tmp / "members" / "0" / "model.json").items() if k not in ("temperature", "calibration")}
        card = {**first, "ensemble": {"members": len(names), "runs": [r.resolve().name for r in run_dirs]}}  # the first member's own temperature is not the average's
        write_json(tmp / "model.json", card)
        first_card = (tmp / "members" / "0" / CARD_FILE).read_text()
        (tmp / CARD_FILE).write_text(first_card + f"\n\n## Ensemble\n\nThis model averages the calibrated probabilities of "
                                     f"{len(names)} members (`members/`), runs {', '.join(card['ensemble']['runs'])}; "
                                     f"the card above is the first member's.\n")
        ensemble = Recognizer.load(tmp)  # an ensemble folder now: members of one configuration, or a clear error before anything is kept
        calibration = _calibrate(ensemble, calibration_data) if calibrate else {}
        if calibration:
            write_json(tmp / "model.json", {**card, **calibration})
    return out_dir


def _calibrate(recognizer: "Recognizer", calibration_data: str | Path | None = None) -> dict:
    """``{"temperature", "calibration"}`` fitted on a validation split (as training does for a run:
    averaging calibrated members leaves the mean underconfident): ``calibration_data``'s, else that of
    the dataset the model was trained on; empty for a multi-label model.

    Raises:
        DataError: the validation data is not found or does not fit the model; the message names the
            path tried and how to give another.
    """
    from xmer.data.from_config import open_dataset
    from xmer.evaluation.calibration import calibrate

    if recognizer.multi_label:  # temperature scaling is for a softmax over classes
        return {}
    given = calibration_data is not None
    where = str(calibration_data) if given else _training_data(recognizer.config)
    hint = ("give a prepared dataset with a valid split of the same labels and features with --calibration-data DIR, "
            "run xmer export from the folder the runs were trained in, or skip calibration with --no-calibration")
    try:
        data = open_dataset(recognizer.config, calibration_data if given else None)
        records = data.split("valid")
    except DataError as error:
        raise DataError(f"cannot calibrate the ensemble on {where} (from {Path.cwd()}): {error}; {hint}") from None
    if data.multi_label:
        return {}
    if not records or list(data.labels) != recognizer.labels:
        found = f"labels {list(data.labels)}" if records else "no valid split"
        raise DataError(f"cannot calibrate the ensemble on {where}: it has {found}, the model predicts {recognizer.labels}; {hint}")
    return calibrate(recognizer.model, data, records, recognizer.config.data.batch_size, recognizer.input_dims,
                     recognizer.device, max_steps=recognizer.config.data.max_steps,
                     method="temperature scaling (Guo et al. 2017), of the averaged probabilities")


def _training_data(config) -> str:
    """The dataset folder(s) a config trains on, as written in it (for messages)."""
    if config.data.sources:
        return ", ".join(str(s["dataset"]) for s in config.data.sources if s.get("role") == "primary") or "data.sources"
    return str(config.data.dataset)
