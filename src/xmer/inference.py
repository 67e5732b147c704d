"""The recogniser object: load a run folder once, predict emotions from any subset of modalities.

The CLI's ``predict``, ``evaluate`` and the server all go through :class:`Recognizer`, so they agree
on how a checkpoint is loaded and how an input is checked. Example::

    from xmer.inference import Recognizer
    rec = Recognizer.load("runs/demo")
    out = rec.predict({"audio": audio_features, "text": text_features})   # (T, D) arrays
    print(out.prediction, out.probabilities, out.observed, out.imagined)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from xmer.config import Config, from_dict
from xmer.data.contract import Batch, Sample, collate
from xmer.data.moments import Moments, source_moments
from xmer.errors import DataError, NothingToRead
from xmer.io import read_json
from xmer.modalities import MODALITIES
from xmer.models.system import build_system
from xmer.schema import SCHEMA_VERSION
from xmer.training.checkpoint import load_checkpoint

if TYPE_CHECKING:
    from xmer.analysis.timeline import Timeline


DEFAULT_MODEL = Path(__file__).resolve().parent / "assets" / "default_model"
"""xmer's default model: a run folder reduced to what prediction needs (see :func:`xmer.export.folders.export_model`)."""


WEIGHTS_FILE = "model.safetensors"
"""An exported model folder's weights (float16, safetensors; config and bookkeeping in its header)."""
ENSEMBLE_FILE = "ensemble.json"
"""In a model folder made by :func:`xmer.export.folders.export_ensemble`: the member folders under ``members/``."""


def read_model(run_dir: Path, checkpoint: str) -> dict:
    """``{"config", "model", "state"}`` from an exported folder's ``model.safetensors``, else from the
    run's ``checkpoints/<checkpoint>.pt`` (read with ``weights_only=True``)."""
    from xmer.export.weights import load_weights

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
        self.config = config
        self.device = torch.device(device)
        self.use_card(card)
        self.source: tuple[Path, str] | None = None
        """The folder (and checkpoint) it was loaded from; None for a model built in memory."""
        self._model_id: str | None = None

    def use_card(self, card: dict) -> None:
        """Read what predicting needs from a model card (``model.json``)."""
        self.card = card
        self.labels: list[str] = list(card["labels"])
        self.multi_label: bool = bool(card["multi_label"])
        self.input_dims: dict[str, int] = {m: int(d) for m, d in card["input_dims"].items()}
        self.moments: dict[str, Moments] = {m: Moments.from_json(raw, f"model card, standardise.{m}")
                                            for m, raw in (card.get("standardise") or {}).items()}
        """Modality -> the pooled moments an input of unknown source is standardised with (:mod:`xmer.data.moments`)."""

    @property
    def model_id(self) -> str:
        """``<folder>@<12 hex digits>``: the folder's name and a hash of its model files
        (:func:`model_folder_id`), computed on first use (an ensemble's members never need theirs);
        ``unsaved`` for a model built in memory."""
        if self._model_id is None:
            self._model_id = model_folder_id(*self.source) if self.source is not None else "unsaved"
        return self._model_id

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
        payload = read_model(run_dir, checkpoint)
        config = from_dict(Config, payload["config"])
        model = build_system(config, card["input_dims"], len(card["labels"]), card["multi_label"])
        weights = payload["model"]
        if not any(k.startswith("discriminators.") for k in weights) and model.discriminators is not None:
            model.discriminators = None  # an exported model: prediction never uses the discriminators
        model.load_state_dict(weights)  # float16 weights of an exported model are cast on copy
        model.temperature = float(card.get("temperature", 1.0))  # fitted on validation after training
        recognizer = cls(model, card, config, device)
        recognizer.source = (run_dir, checkpoint)
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
        recognizer.source = (folder, "best")
        return recognizer

    # -- predicting ---------------------------------------------------------------------------

    @torch.inference_mode()
    def scores(self, batch: Batch) -> torch.Tensor:
        """Class probabilities (B, K) for a batch (softmax, or per-class sigmoid for multi-label)."""
        batch = batch.to(self.device)
        return self.model.probabilities(self.model(batch)).float().cpu()

    def predict(self, features: dict[str, np.ndarray], sample_id: str = "input", text_weight: float = 1.0,
                source: dict[str, Moments] | None = None) -> Prediction:
        """Predict from modality -> (T, D) feature arrays; any non-empty subset of the model's modalities.
        ``text_weight`` below 1 reads the words with doubt, ``source`` gives the moments of the
        input's source (see :meth:`predict_many`)."""
        return self.predict_many([features], [sample_id], [text_weight], source)[0]

    def predict_many(self, items: list[dict[str, np.ndarray]], sample_ids: list[str] | None = None,
                     text_weights: list[float] | None = None, source: dict[str, Moments] | None = None) -> list[Prediction]:
        """:meth:`predict` for several inputs. Each input has a forward pass of its own (with its
        modalities alone beside it, for ``by_modality``): an input's probabilities are the same to
        the last bit whatever else is predicted with it, which a shared padded batch cannot promise.

        ``text_weights`` (one per item, default 1): an item whose words are read at weight w < 1
        (a transcript Whisper heard with doubt: :func:`xmer.features.asr.judge`) and that has
        other modalities gets w times the prediction with its words plus 1 - w times the one without.

        ``source``: for a model that standardises a modality per source (its card's ``standardise``),
        the moments of the source these inputs come from (:meth:`source_moments`); without them, or
        for a modality they leave out, the model's pooled moments are used.
        """
        ids = sample_ids or [f"input {i}" for i in range(len(items))]
        weights = list(text_weights) if text_weights is not None else [1.0] * len(items)
        if len(weights) != len(items) or not all(0.0 <= w <= 1.0 for w in weights):
            raise DataError(f"text_weights: expected {len(items)} numbers in [0, 1], got {weights!r}")
        checked = [self.check_features(f, i) for f, i in zip(items, ids)]  # every input checked before any is predicted
        moments = {**self.moments, **{m: v for m, v in (source or {}).items() if m in self.moments}}
        for features in checked:
            for m in features.keys() & moments.keys():
                features[m] = moments[m].apply(features[m])
        return [self._predict_one(features, str(i), w) for features, i, w in zip(checked, ids, weights)]

    def source_moments(self, items: list[dict[str, np.ndarray]]) -> dict[str, Moments]:
        """The moments of the modalities this model standardises, over ``items`` taken as inputs
        from one source (the clips of one corpus, of one speaker, of one call centre): what
        ``predict_many(..., source=...)`` reads them with. A modality with too few steps among
        them (:data:`~xmer.data.moments.MIN_SOURCE_STEPS`) is left out: the pooled moments serve."""
        return source_moments([self.check_features(f, f"input {i}") for i, f in enumerate(items)], self.moments)

    def _predict_one(self, features: dict[str, np.ndarray], sample_id: str, text_weight: float) -> Prediction:
        """One checked input in one forward pass: the input, then each of its modalities alone when it
        has several, then (words read with doubt) the input without its words."""
        alone = [m for m in MODALITIES if m in features] if len(features) > 1 else []
        doubted = text_weight < 1.0 and "text" in features and len(features) > 1
        inputs = [features] + [{m: features[m]} for m in alone]
        if doubted:
            inputs.append({m: a for m, a in features.items() if m != "text"})
        label = np.zeros(len(self.labels), np.float32) if self.multi_label else 0
        samples = [Sample(id=sample_id, source="input", features=f, label=label) for f in inputs]
        batch = collate(samples, list(self.input_dims), self.input_dims, len(self.labels), self.multi_label)
        probs = self.scores(batch).numpy()
        if doubted:
            probs[0] = text_weight * probs[0] + (1.0 - text_weight) * probs[-1]
        prediction = self._prediction(probs[0], batch, 0)
        if alone:
            prediction.by_modality = {m: self._prediction(probs[row], batch, row).reading() for row, m in enumerate(alone, start=1)}
        else:
            prediction.by_modality = {prediction.observed[0]: prediction.reading()} if prediction.observed else {}
        return prediction

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

    def predict_media(self, video=None, audio=None, image=None, text=None, asr: bool = True,
                      source: dict[str, Moments] | None = None) -> Prediction:
        """Predict from media files (any subset), with the extractors the model's features came from.

        Args:
            video: a video file (faces, and its audio track unless ``audio`` is given).
            audio: an audio file. image: a face image. text: a transcript string or a .txt/.srt Path.
            asr: without ``text``, transcribe the speech of ``audio`` or ``video`` for the text modality
                (needs ``xmer[speech]``; without it, a note says so and the text is left out).
            source: the moments of the source the input comes from (:meth:`source_moments`), for a
                model that standardises per source; None: the model's pooled moments.

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
        prediction = self.predict(features, sample_id=str(video or audio or image or "text"), text_weight=text_weight,
                                  source=source)
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
        """``predict_media(text=t)`` for each text, with the front-ends loaded once (what the server
        does with the text requests that arrive together). Every prediction is the text's own to
        the last bit: batching groups the work, it never changes a number. ``bf16``: the text
        front-end under bfloat16 autocast where the CPU computes it natively (faster; a few labels
        in a thousand change: docs/serving.md), for one text or many alike.

        Raises:
            DataError: the first text that gives no features (empty of words), as
                :meth:`predict_media` would; callers that must survive it go one text at a time.
        """
        from xmer.features import get_extractor
        from xmer.features.media import choose_extractors
        from xmer.features.text import text_precision

        chosen = choose_extractors(self.media_extractors())
        if "text" not in chosen or "text" not in self.input_dims:
            raise DataError("this model does not read text")
        extractor = get_extractor(chosen["text"])
        try:
            texts = [str(t) for t in texts]
            with text_precision(bf16):  # one text at a time, as predict_media reads it: the same numbers
                arrays = [extractor(t) for t in texts]
        except DataError as error:
            raise NothingToRead(f"no usable modality in the input (text: {error})") from None
        predictions = self.predict_many([{"text": np.asarray(a, np.float32)} for a in arrays], ["text"] * len(texts))
        for prediction, text in zip(predictions, texts):
            prediction.text_source, prediction.text = "given", str(text)
        return predictions

    def analyze(self, path: str | Path, **options) -> "Timeline":
        """The emotion over time of a video or audio file: a :class:`~xmer.analysis.timeline.Timeline` of
        segments, each with a fused and per-modality predictions, its words and its face.

        Options (see :func:`xmer.analysis.run.analyze_media`): ``transcript`` (.srt/.vtt), ``asr``,
        ``window``, ``hop``, ``faces`` ("main" or "all"), ``fps``, ``progress``.
        """
        from xmer.analysis.run import analyze_media

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


def model_folder_id(folder: Path, checkpoint: str = "best") -> str:
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


def transcribe_file(path: str | Path) -> tuple[object | None, str]:
    """The words spoken in an audio file or a video's audio track as a :class:`~xmer.features.asr.Heard`,
    judged by :func:`xmer.features.asr.judge` (keep, down-weight or drop), and, when nothing was heard, why.

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
