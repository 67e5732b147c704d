"""The recogniser object: load a run folder once, predict emotions from any subset of modalities.

The CLI's ``predict``, ``evaluate`` and the server all go through :class:`Recognizer`, so they agree
on how a checkpoint is loaded and how an input is checked. Example::

    from xmer.inference import Recognizer
    rec = Recognizer.load("runs/demo")
    out = rec.predict({"audio": audio_features, "text": text_features})   # (T, D) arrays
    print(out.prediction, out.probabilities, out.observed, out.imagined)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from xmer.config import Config, from_dict
from xmer.data.contract import Batch, Sample, collate
from xmer.errors import DataError, NothingToRead
from xmer.io import atomic_write_text
from xmer.modalities import MODALITIES
from xmer.schema import SCHEMA_VERSION
from xmer.models.system import build_system
from xmer.training.checkpoint import load_checkpoint, read_json

if TYPE_CHECKING:
    from xmer.timeline import Timeline


DEFAULT_MODEL = Path(__file__).resolve().parent / "assets" / "default_model"
"""xmer's default model: a run folder reduced to what prediction needs (see :func:`export_model`)."""


WEIGHTS_FILE = "model.safetensors"
"""An exported model folder's weights (float16, safetensors; config and bookkeeping in its header)."""
ENSEMBLE_FILE = "ensemble.json"
"""In a model folder made by :func:`export_ensemble`: the member folders under ``members/``."""


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
    from xmer.modelcard import CARD_FILE, render_card
    from xmer.modelfile import save_weights
    from xmer.training.checkpoint import write_json

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    check_not_inside(out_dir, run_dir, "the run folder")
    if (run_dir / ENSEMBLE_FILE).is_file():  # an ensemble folder is already in this format: copied as it is
        import shutil

        Recognizer._load_ensemble(run_dir, "cpu")  # a broken one is refused before anything is written
        with building(out_dir, overwrite=overwrite, kind="export") as tmp:
            for item in run_dir.iterdir():
                if item.name != "onnx":  # graphs are made afresh by --onnx, from these weights
                    (shutil.copytree if item.is_dir() else shutil.copy2)(item, tmp / item.name)
        return out_dir
    payload = _read_model(run_dir, "best")
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
    from xmer.modelcard import CARD_FILE
    from xmer.training.checkpoint import write_json

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
        ensemble = Recognizer._load_ensemble(tmp, "cpu")  # members of one configuration, or a clear error before anything is kept
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
    from xmer.data.dataset import PreparedDataset
    from xmer.data.from_config import open_dataset
    from xmer.evaluation.calibration import calibrate

    if recognizer.multi_label:  # temperature scaling is for a softmax over classes
        return {}
    given = calibration_data is not None
    where = str(calibration_data) if given else _training_data(recognizer.config)
    hint = ("give a prepared dataset with a valid split of the same labels and features with --calibration-data DIR, "
            "run xmer export from the folder the runs were trained in, or skip calibration with --no-calibration")
    try:
        data = PreparedDataset.open(calibration_data) if given else open_dataset(recognizer.config)
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


def _read_model(run_dir: Path, checkpoint: str) -> dict:
    """``{"config", "model", "state"}`` from an exported folder's ``model.safetensors``, else from the
    run's ``checkpoints/<checkpoint>.pt`` (read with ``weights_only=True``)."""
    from xmer.modelfile import load_weights

    if (run_dir / WEIGHTS_FILE).is_file() and checkpoint == "best":
        tensors, meta = load_weights(run_dir / WEIGHTS_FILE)
        if "config" not in meta:
            raise DataError(f"{run_dir / WEIGHTS_FILE}: no 'config' in its header; re-export it with xmer export")
        return {"config": meta["config"], "model": tensors, "state": meta.get("state", {})}
    return load_checkpoint(run_dir / "checkpoints" / f"{checkpoint}.pt")


@dataclass
class Prediction:
    """One prediction. ``imagined`` lists modalities a translator filled in (empty without translators).

    ``prediction`` is always one label, the most probable; a multi-label model also gives
    ``predicted_labels``, every label over 0.5 (possibly none)."""

    labels: list[str]
    probabilities: dict[str, float]
    prediction: str
    observed: list[str]
    imagined: list[str]
    text_source: str | None = None
    """Where the words came from: ``"given"`` (a string), ``"transcript"`` (a file), ``"asr"`` (the
    speech, transcribed); None without words. Only predictions from media say it."""
    text: str | None = None
    """The words the text modality read (media predictions with words only)."""
    by_modality: dict[str, dict] = field(default_factory=dict)
    """Observed modality -> ``{"prediction", "probabilities"}`` of that modality alone (the others
    imagined from it, as for any input that lacks them): the evidence of each, beside the fused answer."""
    notes: dict[str, str] = field(default_factory=dict)
    """Modality -> one line on how its input was read: why it was not used (no face found, words not
    understood), or how (a transcript down-weighted). Empty when everything given was read as given."""
    predicted_labels: list[str] | None = None
    """Multi-label models only: every label whose probability is over 0.5."""
    model: dict = field(default_factory=dict)
    """``{"id", "extractors"}``: the model that made it (:attr:`Recognizer.identity`)."""

    def to_json(self) -> dict:
        """The prediction as the JSON object of docs/output.md (``schema_version`` first)."""
        out = {"schema_version": SCHEMA_VERSION, **asdict(self)}
        if self.text_source is None and self.text is None:
            del out["text_source"], out["text"]
        if self.predicted_labels is None:
            del out["predicted_labels"]
        return out

    def reading(self) -> dict:
        """``{"prediction", "probabilities"}``: what :attr:`by_modality` holds for one modality."""
        return {"prediction": self.prediction, "probabilities": dict(self.probabilities)}


class Recognizer:
    """A trained model with its label space and input sizes, ready to predict."""

    def __init__(self, model: torch.nn.Module, card: dict, config: Config, device: torch.device | str = "cpu"):
        self.model = model.to(device).eval()
        self.card = card
        self.config = config
        self.device = torch.device(device)
        self.labels: list[str] = list(card["labels"])
        self.multi_label: bool = bool(card["multi_label"])
        self.input_dims: dict[str, int] = {m: int(d) for m, d in card["input_dims"].items()}
        self.model_id = "unsaved"
        """``<folder>@<12 hex digits>``: the folder's name and a hash of its model files (:func:`model_id`)."""

    @property
    def identity(self) -> dict:
        """``{"id", "extractors"}``: which model this is and which front-ends its inputs go through,
        as every prediction reports it."""
        return {"id": self.model_id, "extractors": dict(self.card.get("extractors") or {})}

    @classmethod
    def load(cls, run_dir: str | Path | None = None, checkpoint: str = "best", device: str = "cpu") -> "Recognizer":
        """Load a model folder made by ``xmer export`` (``model.safetensors``) or a run folder's
        ``checkpoints/<checkpoint>.pt``, with its ``model.json``; without a folder, xmer's default
        model shipped in the package (see its MODEL_CARD.md). Nothing is unpickled."""
        if run_dir is None:
            run_dir = DEFAULT_MODEL
            if not (run_dir / "model.json").is_file():
                raise DataError("this installation ships no default model; give a run folder (xmer predict RUN_DIR ...)")
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise DataError(f"run folder not found: {run_dir}")
        if (run_dir / ENSEMBLE_FILE).is_file():
            return cls._load_ensemble(run_dir, device)
        card = read_json(run_dir / "model.json")
        payload = _read_model(run_dir, checkpoint)
        config = from_dict(Config, payload["config"])
        model = build_system(config, card["input_dims"], len(card["labels"]), card["multi_label"])
        weights = payload["model"]
        if not any(k.startswith("discriminators.") for k in weights) and model.discriminators is not None:
            model.discriminators = None  # an exported model: prediction never uses the discriminators
        model.load_state_dict(weights)  # float16 weights of an exported model are cast on copy
        model.temperature = float(card.get("temperature", 1.0))  # fitted on validation after training
        recognizer = cls(model, card, config, device)
        recognizer.model_id = model_id(run_dir, checkpoint)
        return recognizer

    @classmethod
    def _load_ensemble(cls, folder: Path, device: str) -> "Recognizer":
        """A folder made by ``export_ensemble``: its members, averaged (:class:`~xmer.models.ensemble.Ensemble`)."""
        from xmer.models.ensemble import Ensemble

        listing = read_json(folder / ENSEMBLE_FILE)
        names = listing.get("members") if isinstance(listing, dict) else None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n and "/" not in n and ".." not in n for n in names):
            raise DataError(f"{folder / ENSEMBLE_FILE}: expected {{\"members\": [folder names under members/]}}")
        members = [cls.load(folder / "members" / name, device=device) for name in names]
        first = members[0]
        for name, member in zip(names[1:], members[1:]):
            for key in ("labels", "input_dims", "extractors", "multi_label"):
                if member.card.get(key) != first.card.get(key):
                    raise DataError(f"{folder}: member {name} has other {key} than member {names[0]}; an ensemble's members "
                                    f"must be models of one configuration")
        card = read_json(folder / "model.json") if (folder / "model.json").is_file() else dict(first.card)
        model = Ensemble([m.model for m in members])
        model.temperature = float(card.get("temperature", 1.0))  # of the average, fitted on validation at export
        recognizer = cls(model, card, first.config, device)
        recognizer.model_id = model_id(folder)
        return recognizer

    # -- predicting ---------------------------------------------------------------------------

    @torch.inference_mode()
    def scores(self, batch: Batch) -> torch.Tensor:
        """Class probabilities (B, K) for a batch (softmax, or per-class sigmoid for multi-label)."""
        batch = batch.to(self.device)
        return self.model.probabilities(self.model(batch)).float().cpu()

    def predict(self, features: dict[str, np.ndarray], sample_id: str = "input", text_weight: float = 1.0) -> Prediction:
        """Predict from modality -> (T, D) feature arrays; any non-empty subset of the model's modalities.
        ``text_weight`` below 1 reads the words with doubt (see :meth:`predict_many`)."""
        return self.predict_many([features], [sample_id], [text_weight])[0]

    def predict_many(self, items: list[dict[str, np.ndarray]], sample_ids: list[str] | None = None,
                     text_weights: list[float] | None = None) -> list[Prediction]:
        """:meth:`predict` for several inputs in one forward pass (padding and masks keep each
        prediction independent of the others in the batch).

        ``text_weights`` (one per item, default 1): an item whose words are read at weight w < 1
        (a transcript Whisper heard with doubt: :func:`xmer.features.asr.judge`) and that has
        other modalities gets w times the prediction with its words plus 1 - w times the one without.
        """
        label = np.zeros(len(self.labels), np.float32) if self.multi_label else 0
        ids = sample_ids or [f"input {i}" for i in range(len(items))]
        weights = list(text_weights) if text_weights is not None else [1.0] * len(items)
        if len(weights) != len(items) or not all(0.0 <= w <= 1.0 for w in weights):
            raise DataError(f"text_weights: expected {len(items)} numbers in [0, 1], got {weights!r}")
        checked = [self.check_features(f, i) for f, i in zip(items, ids)]
        # Each item, then each modality of the items with several alone (its own reading, for
        # ``by_modality``), then the doubted items without their words, in one forward pass.
        alone = [(n, m) for n, f in enumerate(checked) if len(f) > 1 for m in MODALITIES if m in f]
        doubted = [n for n, f in enumerate(checked) if weights[n] < 1.0 and "text" in f and len(f) > 1]
        inputs = checked + [{m: checked[n][m]} for n, m in alone] + [{m: a for m, a in checked[n].items() if m != "text"} for n in doubted]
        row_ids = ids + [ids[n] for n, _ in alone] + [ids[n] for n in doubted]
        samples = [Sample(id=str(i), source="input", features=f, label=label) for i, f in zip(row_ids, inputs)]
        batch = collate(samples, list(self.input_dims), self.input_dims, len(self.labels), self.multi_label)
        probs = self.scores(batch).numpy()
        for k, n in enumerate(doubted):
            probs[n] = weights[n] * probs[n] + (1.0 - weights[n]) * probs[len(checked) + len(alone) + k]
        predictions = [self._prediction(probs[row], batch, row) for row in range(len(checked) + len(alone))]
        for prediction in predictions[: len(checked)]:
            if len(prediction.observed) == 1:
                prediction.by_modality = {prediction.observed[0]: prediction.reading()}
        for (n, m), own in zip(alone, predictions[len(checked):]):
            predictions[n].by_modality[m] = own.reading()
        return predictions[: len(checked)]

    def predict_file(self, path: str | Path) -> Prediction:
        """Predict from an ``.npz`` whose keys are modality names, each a (T, D) array."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"features file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as npz:
                features = {key: np.asarray(npz[key]) for key in npz.files}
        except Exception as error:
            raise DataError(f"cannot read features file {path}: {error}") from None
        return self.predict(features, sample_id=str(path))

    def media_extractors(self) -> dict[str, str]:
        """Modality -> the extractor id the model's features came from (its card's ``extractors``).

        Raises:
            DataError: the model was trained on the synthetic toy set's features, not on media.
        """
        extractors = {m: e for m, e in self.card.get("extractors", {}).items() if e}
        if self.card.get("synthetic") or any(e.startswith("toy") for e in extractors.values()):
            raise DataError("this model was trained on the synthetic toy set's features; it cannot read media files "
                            "(use --features FILE.npz, or a model trained on extracted features)")
        return extractors

    def predict_media(self, video=None, audio=None, image=None, text=None, asr: bool = True) -> Prediction:
        """Predict from media files (any subset), with the extractors the model's features came from.

        Args:
            video: a video file (faces, and its audio track unless ``audio`` is given).
            audio: an audio file. image: a face image. text: a transcript string or a .txt/.srt Path.
            asr: without ``text``, transcribe the speech of ``audio`` or ``video`` for the text modality
                (needs ``xmer[speech]``; without it, a note says so and the text is left out).

        Returns:
            the prediction; its :attr:`~Prediction.notes` say, per modality given but unusable, why
            (e.g. no face), and how a transcript was judged.
        """
        from xmer.features import features_from_media

        extractors = self.media_extractors()
        given = {"visual": image if video is None else video, "audio": audio, "text": text}
        lacking = [m for m, v in given.items() if v is not None and m not in self.input_dims]
        if lacking and (video is None or lacking != ["visual"] or "audio" not in self.input_dims):
            kinds = {"visual": "faces (video or image)", "audio": "audio", "text": "text"}
            raise DataError(f"this model has no {' or '.join(kinds[m] for m in lacking)} input; it reads "
                            f"{', '.join(kinds[m] for m in self.input_dims)}")
        text_source, words, notes, text_weight = None, None, {}, 1.0
        if text is not None:
            from xmer.features.text import read_transcript

            text_source = "transcript" if isinstance(text, Path) else "given"
            words = read_transcript(text) if isinstance(text, Path) else str(text)
        elif asr and "text" in self.input_dims and (audio is not None or video is not None):
            heard, why = transcribe_file(audio if audio is not None else video)
            if heard is not None and heard.weight > 0:
                text, words, text_source, text_weight = heard.text, heard.text, "asr", heard.weight
                if heard.weight < 1:
                    notes["text"] = f"transcript down-weighted: {heard.reason}"
            elif heard is not None and heard.text:
                notes["text"] = f"transcript dropped: {heard.reason}; heard {heard.text[:80]!r}"
            else:
                notes["text"] = why
        features, media_notes = features_from_media(video=video, audio=audio, image=image, text=text, extractors=extractors)
        notes.update(media_notes)
        features = {m: f for m, f in features.items() if m in self.input_dims}
        if not features:
            reasons = "; ".join(f"{m}: {why}" for m, why in notes.items()) or "no input given"
            raise NothingToRead(f"no usable modality in the input ({reasons})")
        prediction = self.predict(features, sample_id=str(video or audio or image or "text"), text_weight=text_weight)
        if text_source is not None and "text" in features:
            prediction.text_source, prediction.text = text_source, words
        prediction.notes = notes
        return prediction

    def load_front_ends(self, asr: bool = True) -> dict[str, str]:
        """Build now every extractor the model's media need, and Whisper for transcripts when
        ``asr`` (the first request would otherwise wait for them). Returns modality -> what was
        loaded, or why not (a front-end whose package is missing is skipped: its requests say so)."""
        from xmer.errors import ConfigError
        from xmer.features import get_extractor
        from xmer.features.media import choose_extractors

        loaded = {}
        try:
            chosen = choose_extractors(self.media_extractors())
        except (DataError, ConfigError) as error:  # a toy model, or front-ends of another version
            return {"all": f"not loaded: {error}"}
        if asr and "text" in self.input_dims:
            chosen["asr"] = "whisper"
        for modality, name in chosen.items():
            try:
                if modality == "asr":
                    from xmer.features.whisper import whisper_model

                    whisper_model()
                else:
                    get_extractor(name)
                loaded[modality] = name
            except ConfigError as error:
                loaded[modality] = f"not loaded: {error}"
        return loaded

    def predict_texts(self, texts: list[str], bf16: bool = False) -> list[Prediction]:
        """``predict_media(text=t)`` for each text, with the text front-end and the recogniser
        each run once over all of them (what the server does with concurrent text requests).
        Every prediction equals the text's own up to float rounding. ``bf16``: the text front-end
        in bfloat16 where the CPU has it and the front-end offers it (faster; see
        :meth:`xmer.features.text.MiniLM.many`).

        Raises:
            DataError: the first text that gives no features (empty of words), as
                :meth:`predict_media` would; callers that must survive it go one text at a time.
        """
        from xmer.features import get_extractor
        from xmer.features.media import choose_extractors

        chosen = choose_extractors(self.media_extractors())
        if "text" not in chosen or "text" not in self.input_dims:
            raise DataError("this model does not read text")
        extractor = get_extractor(chosen["text"])
        try:
            texts = [str(t) for t in texts]
            arrays = extractor.many(texts, bf16=bf16)
        except DataError as error:
            raise NothingToRead(f"no usable modality in the input (text: {error})") from None
        predictions = self.predict_many([{"text": np.asarray(a, np.float32)} for a in arrays], ["text"] * len(texts))
        for prediction, text in zip(predictions, texts):
            prediction.text_source, prediction.text = "given", str(text)
        return predictions

    def analyze(self, path: str | Path, **options) -> "Timeline":
        """The emotion over time of a video or audio file: a :class:`~xmer.timeline.Timeline` of
        segments, each with a fused and per-modality predictions, its words and its face.

        Options (see :func:`xmer.analysis.analyze_media`): ``transcript`` (.srt/.vtt), ``asr``,
        ``window``, ``hop``, ``faces`` ("main" or "all"), ``fps``, ``progress``.
        """
        from xmer.analysis import analyze_media

        return analyze_media(self, path, **options)

    def check_features(self, features: dict[str, np.ndarray], sample_id: str) -> dict[str, np.ndarray]:
        unknown = sorted(set(features) - set(MODALITIES))
        if unknown:
            raise DataError(f"{sample_id}: unknown modality key(s) {', '.join(unknown)}; expected any of {', '.join(MODALITIES)}")
        unusable = sorted(set(features) - set(self.input_dims))
        if unusable:
            raise DataError(f"{sample_id}: this model takes no {', '.join(unusable)} input (it takes {', '.join(self.input_dims)})")
        if not features:
            raise DataError(f"{sample_id}: no modality given; give at least one of {', '.join(self.input_dims)}")
        out = {}
        for m, array in features.items():
            raw = np.asarray(array)
            if raw.dtype.kind not in "biuf":
                raise DataError(f"{sample_id}, modality {m!r}: expected numbers, got an array of {raw.dtype} "
                                f"(e.g. {raw.reshape(-1)[:1].tolist()})")
            array = raw.astype(np.float32)
            if array.ndim == 1:  # (D,) or (T,)? ambiguous: never guessed
                raise DataError(f"{sample_id}, modality {m!r}: a 1-d array of {array.shape[0]} values; expected a "
                                f"(T, {self.input_dims[m]}) array, one row per step (one step: shape (1, {self.input_dims[m]}))")
            if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != self.input_dims[m]:
                raise DataError(
                    f"{sample_id}, modality {m!r}: expected a (T, {self.input_dims[m]}) array, got shape {tuple(array.shape)}"
                )
            if not np.isfinite(array).all():
                raise DataError(f"{sample_id}, modality {m!r}: features contain NaN or Inf")
            out[m] = array
        return out

    def imagined_rows(self, batch: Batch) -> dict[str, torch.Tensor]:
        """modality -> (B,) bool: which rows' modality the translators imagine (empty without them)."""
        return self.model.imagined_modalities(batch)

    def _prediction(self, probs: np.ndarray, batch: Batch, row: int) -> Prediction:
        observed = [m for m in MODALITIES if m in batch.present and bool(batch.present[m][row])]
        imagined_rows = self.imagined_rows(batch)
        imagined = [m for m in MODALITIES if m in imagined_rows and bool(imagined_rows[m][row])]
        over = [l for l, p in zip(self.labels, probs) if p > 0.5] if self.multi_label else None
        return Prediction(
            labels=self.labels,
            probabilities={l: round(float(p), 6) for l, p in zip(self.labels, probs)},
            prediction=self.labels[int(np.argmax(probs))],
            observed=observed,
            imagined=imagined,
            predicted_labels=over,
            model=self.identity,
        )


def model_id(folder: Path, checkpoint: str = "best") -> str:
    """``<folder name>@<first 12 hex digits of a sha256>`` over the files that make the model's
    predictions (``model.json``, ``ensemble.json``, the weights, the members' and ONNX graphs' own):
    two folders with the same id predict the same. A run folder's checkpoint stands for its weights."""
    import hashlib

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and (
        p.name in ("model.json", ENSEMBLE_FILE, WEIGHTS_FILE) or p.suffix == ".onnx" or p.name == "manifest.json"))
    if not (folder / WEIGHTS_FILE).is_file() and (folder / "checkpoints" / f"{checkpoint}.pt").is_file():
        files.append(folder / "checkpoints" / f"{checkpoint}.pt")
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    name = "default" if folder.resolve() == DEFAULT_MODEL.resolve() else folder.resolve().name
    return f"{name}@{digest.hexdigest()[:12]}"


def transcribe_file(path: str | Path) -> tuple["Heard | None", str]:
    """The words spoken in an audio file or a video's audio track, judged by
    :func:`xmer.features.asr.judge` (keep, down-weight or drop), and, when nothing was heard, why.

    Returns ``(None, reason)`` when the speech extra is missing, the file has no audio track or no
    speech is recognised; raises DataError when the file cannot be read.
    """
    from xmer.errors import ConfigError
    from xmer.features import ModalityAbsent
    from xmer.features.asr import get_transcriber, judge, speech_available
    from xmer.features.stream import audio_blocks

    if not speech_available():
        from xmer.features.asr import SPEECH_HINT

        return None, f"no transcript given and speech transcription is not installed ({SPEECH_HINT})"
    try:
        heard = judge(get_transcriber().transcribe_stream(audio_blocks(path), filtered=False))
    except ModalityAbsent as error:
        return None, f"no transcript given and nothing to transcribe ({error})"
    except ConfigError as error:
        return None, str(error)
    return (heard, "") if heard.text else (None, f"no transcript given and no speech recognised in {path}")
