"""The recogniser object: load a run folder once, predict emotions from any subset of modalities.

The CLI's ``predict``, ``evaluate`` and the server all go through :class:`Recognizer`, so they agree
on how a checkpoint is loaded and how an input is checked. Example::

    from xmer.inference import Recognizer
    rec = Recognizer.load("runs/demo")
    out = rec.predict({"audio": audio_features, "text": text_features})   # (T, D) arrays
    print(out.prediction, out.probabilities, out.observed, out.imagined)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from xmer.config import Config, from_dict
from xmer.data.contract import Batch, Sample, collate
from xmer.errors import DataError
from xmer.io import atomic_write_text
from xmer.modalities import MODALITIES
from xmer.models.system import build_system
from xmer.training.checkpoint import load_checkpoint, read_json


DEFAULT_MODEL = Path(__file__).resolve().parent / "assets" / "default_model"
"""xmer's default model: a run folder reduced to what prediction needs (see :func:`export_model`)."""


WEIGHTS_FILE = "model.safetensors"
"""An exported model folder's weights (float16, safetensors; config and bookkeeping in its header)."""


def export_model(run_dir: str | Path, out_dir: str | Path) -> Path:
    """Write the parts of a run folder that prediction needs, small and pickle-free: ``model.json``,
    ``config.yaml``, ``metrics.json`` (when the run was evaluated), a ``MODEL_CARD.md`` in the Hugging
    Face layout (unless the folder has one) and ``model.safetensors`` holding
    the weights in float16 with the resolved config and the run's bookkeeping as JSON in its header
    (no optimiser state; the discriminators, which only training uses, are dropped). ``run_dir`` may
    also be an exported model folder, of this format or the older ``checkpoints/best.pt`` one, which
    converts it (in place too: ``--out`` the same folder; the old ``checkpoints/best.pt`` is then no
    longer read, and is left for its owner to delete). Returns ``out_dir``.
    """
    from xmer.modelcard import CARD_FILE, render_card
    from xmer.modelfile import save_weights
    from xmer.training.checkpoint import write_json

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    payload = _read_model(run_dir, "best")
    weights = {k: (v.half() if v.is_floating_point() else v) for k, v in payload["model"].items()
               if not k.startswith("discriminators.")}
    card = read_json(run_dir / "model.json")
    texts = {name: (run_dir / name).read_text() for name in ("config.yaml", "metrics.json") if (run_dir / name).is_file()}
    out_dir.mkdir(parents=True, exist_ok=True)
    save_weights(out_dir / WEIGHTS_FILE, weights, {"config": payload["config"], "state": payload.get("state", {})})
    write_json(out_dir / "model.json", card)
    for name, text in texts.items():  # the metrics of its evaluation travel with the model
        if (out_dir / name).resolve() != (run_dir / name).resolve():
            atomic_write_text(out_dir / name, text)
    if not (out_dir / CARD_FILE).exists():  # a card written by hand is never replaced
        metrics = read_json(out_dir / "metrics.json") if (out_dir / "metrics.json").is_file() else None
        atomic_write_text(out_dir / CARD_FILE, render_card(card, metrics, out_dir.resolve().name))
    return out_dir


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
    """One prediction. ``imagined`` lists modalities a translator filled in (empty without translators)."""

    labels: list[str]
    probabilities: dict[str, float]
    prediction: str | list[str]
    observed: list[str]
    imagined: list[str]

    def to_json(self) -> dict:
        return asdict(self)


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
        card = read_json(run_dir / "model.json")
        payload = _read_model(run_dir, checkpoint)
        config = from_dict(Config, payload["config"])
        model = build_system(config, card["input_dims"], len(card["labels"]), card["multi_label"])
        weights = payload["model"]
        if not any(k.startswith("discriminators.") for k in weights) and model.discriminators is not None:
            model.discriminators = None  # an exported model: prediction never uses the discriminators
        model.load_state_dict(weights)  # float16 weights of an exported model are cast on copy
        return cls(model, card, config, device)

    # -- predicting ---------------------------------------------------------------------------

    @torch.inference_mode()
    def scores(self, batch: Batch) -> torch.Tensor:
        """Class probabilities (B, K) for a batch (softmax, or per-class sigmoid for multi-label)."""
        batch = batch.to(self.device)
        return self.model.probabilities(self.model(batch)).float().cpu()

    def predict(self, features: dict[str, np.ndarray], sample_id: str = "input") -> Prediction:
        """Predict from modality -> (T, D) feature arrays; any non-empty subset of the model's modalities."""
        features = self.check_features(features, sample_id)
        label = np.zeros(len(self.labels), np.float32) if self.multi_label else 0
        sample = Sample(id=sample_id, source="input", features=features, label=label)
        batch = collate([sample], list(self.input_dims), self.input_dims, len(self.labels), self.multi_label)
        probs = self.scores(batch)[0].numpy()
        return self._prediction(probs, batch, 0)

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

    def predict_media(self, video=None, audio=None, image=None, text=None) -> tuple[Prediction, dict[str, str]]:
        """Predict from media files (any subset), with the extractors the model's features came from.

        Args:
            video: a video file (faces, and its audio track unless ``audio`` is given).
            audio: an audio file. image: a face image. text: a transcript string or a .txt/.srt Path.

        Returns:
            the prediction and, per modality given but unusable, one line saying why (e.g. no face).
        """
        from xmer.features import features_from_media

        extractors = {m: e for m, e in self.card.get("extractors", {}).items() if e}
        if self.card.get("synthetic") or any(e.startswith("toy") for e in extractors.values()):
            raise DataError("this model was trained on the synthetic toy set's features; it cannot read media files "
                            "(use --features FILE.npz, or a model trained on extracted features)")
        features, notes = features_from_media(video=video, audio=audio, image=image, text=text, extractors=extractors)
        features = {m: f for m, f in features.items() if m in self.input_dims}
        if not features:
            reasons = "; ".join(f"{m}: {why}" for m, why in notes.items()) or "no input given"
            raise DataError(f"no usable modality in the input ({reasons})")
        return self.predict(features, sample_id=str(video or audio or image or "text")), notes

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
            array = np.asarray(array, dtype=np.float32)
            if array.ndim == 1:
                array = array[None, :]
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
        if self.multi_label:
            decision: str | list[str] = [l for l, p in zip(self.labels, probs) if p > 0.5]
        else:
            decision = self.labels[int(np.argmax(probs))]
        return Prediction(
            labels=self.labels,
            probabilities={l: round(float(p), 6) for l, p in zip(self.labels, probs)},
            prediction=decision,
            observed=observed,
            imagined=imagined,
        )
