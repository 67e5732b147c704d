"""The visual front-end: a small VGG-style CNN for 48x48 grey faces, trained on FER2013.

The paper embedded faces with a frame-attention network pretrained elsewhere; nothing pretrained can
be downloaded here, so xmer trains its own (``xmer pretrain visual``) and ships the weights in
``xmer/assets/visual_frontend.safetensors`` (float16 state dict, architecture in its header; no
pickle) with their provenance in ``visual_frontend.json`` and ``docs/visual_frontend.md``. The classifier's penultimate layer
(:attr:`FaceCNN.embed_dim`, 128 by default) is the per-frame visual feature.

Input convention (shared by training and extraction, see :func:`normalise`): grey faces as uint8
(N, 48, 48) -> float (N, 1, 48, 48) in [-1, 1].
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from xmer.errors import DataError

FER2013_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""FER2013 emotion ids 0..6, in order."""

ASSETS = Path(__file__).resolve().parents[1] / "assets"
WEIGHTS_PATH = ASSETS / "visual_frontend.safetensors"
RECORD_PATH = ASSETS / "visual_frontend.json"


def _block(c_in: int, c_out: int) -> nn.Sequential:
    conv = lambda a, b: nn.Conv2d(a, b, 3, padding=1, bias=False)  # noqa: E731 (BN carries the bias)
    return nn.Sequential(
        conv(c_in, c_out), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        conv(c_out, c_out), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class FaceCNN(nn.Module):
    """VGG-style CNN: stages of two 3x3 conv+BN+ReLU, 2x2 max-pool between stages, global pooling.

    Args:
        channels: width of each stage; 48x48 input is pooled to 24, 12, 6 before the last stages.
        embed_dim: size of the penultimate layer, the per-frame visual feature.
        num_classes: classifier outputs (7 FER2013 emotions).
        dropout: dropout before the classifier (training only).
    """

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 256), embed_dim: int = 128,
                 num_classes: int = len(FER2013_CLASSES), dropout: float = 0.3):
        super().__init__()
        self.config = {"channels": list(channels), "embed_dim": embed_dim, "num_classes": num_classes, "dropout": dropout}
        self.embed_dim = embed_dim
        stages, c_in = [], 1
        for i, c in enumerate(channels):
            if i > 0:
                stages.append(nn.MaxPool2d(2))
            stages.append(_block(c_in, c))
            c_in = c
        self.features = nn.Sequential(*stages)
        self.embed = nn.Sequential(nn.Linear(c_in, embed_dim, bias=False), nn.BatchNorm1d(embed_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embed_dim, num_classes)

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 48, 48) normalised faces -> (N, embed_dim) penultimate features (non-negative)."""
        h = self.features(x)  # (N, C, 6, 6)
        h = F.adaptive_avg_pool2d(h, 1)  # (N, C, 1, 1)
        return self.embed(h.flatten(1))  # (N, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 48, 48) -> (N, num_classes) logits."""
        return self.head(self.dropout(self.embedding(x)))


def normalise(faces: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 grey faces (N, 48, 48) -> float32 (N, 1, 48, 48) in [-1, 1], the network's input."""
    t = torch.as_tensor(faces)
    return (t.float().unsqueeze(1) / 127.5) - 1.0


def save_weights(model: FaceCNN, path: str | Path) -> str:
    """Write ``model`` as a float16 safetensors state dict plus its architecture; return the file's sha256."""
    from xmer.export.weights import save_weights as save_tensors

    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    save_tensors(path, state, {"config": model.config})
    return file_sha256(path)


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weights_fingerprint(path: str | Path) -> str:
    """The sha256 that identifies these weights in the ``fer`` extractor's id: the file's own, or,
    for weights converted from the older ``.pt`` format, the ``.pt`` file's (kept in the header by
    :func:`convert_legacy_weights`; the tensors are the same bit for bit, so are the features)."""
    from safetensors import safe_open

    path = Path(path)
    if path.suffix == ".safetensors" and path.is_file():
        try:
            with safe_open(str(path), framework="pt") as f:
                kept = (f.metadata() or {}).get("fingerprint")
            if kept:
                return json.loads(kept)
        except Exception:
            pass  # not readable as safetensors: load_frontend says why
    return file_sha256(path)


def load_frontend(path: str | Path | None = None) -> FaceCNN:
    """The trained front-end in eval mode, float32, from ``path`` (default: the shipped weights): a
    ``.safetensors`` file, or an older ``.pt`` read with ``weights_only=True``.

    Raises:
        DataError: the weights file is missing or unreadable.
    """
    from xmer.export.weights import load_weights

    path = Path(path) if path is not None else WEIGHTS_PATH
    if not path.is_file():
        raise DataError(f"visual front-end weights not found at {path}; train them with `xmer pretrain visual`")
    try:
        if path.suffix == ".pt":
            blob = torch.load(path, map_location="cpu", weights_only=True)
            config, state = blob["config"], blob["state_dict"]
        else:
            state, meta = load_weights(path)
            config = meta["config"]
        model = FaceCNN(**{k: (tuple(v) if k == "channels" else v) for k, v in config.items()})
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except DataError:
        raise
    except Exception as error:  # torch raises many types for a bad file
        raise DataError(f"cannot load visual front-end weights {path}: {error}") from None
    return model.eval()


def convert_legacy_weights(pt: str | Path, out_dir: str | Path) -> list[Path]:
    """Convert an older ``visual_frontend.pt`` to ``OUT_DIR/visual_frontend.safetensors`` (same
    tensors), keeping the ``.pt`` file's sha256 as the fingerprint so the extractor id, and every
    feature store and model made with it, stay valid. A ``visual_frontend.json`` record beside the
    ``.pt`` is copied with its ``weights`` entry describing the new file (and where it came from).

    Returns:
        the files written.
    """
    from xmer.io import atomic_write_json
    from xmer.export.weights import save_weights as save_tensors

    pt, out_dir = Path(pt), Path(out_dir)
    if not pt.is_file():
        raise DataError(f"visual front-end weights not found: {pt}")
    try:
        blob = torch.load(pt, map_location="cpu", weights_only=True)
        config, state = blob["config"], blob["state_dict"]
    except Exception as error:
        raise DataError(f"cannot read {pt} as visual front-end weights: {error}") from None
    target = out_dir / "visual_frontend.safetensors"
    legacy = {"file": pt.name, "sha256": file_sha256(pt), "bytes": pt.stat().st_size}
    save_tensors(target, state, {"config": config, "fingerprint": legacy["sha256"], "converted_from": legacy})
    written = [target]
    record_path = pt.with_suffix(".json")
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        old = record.get("weights", {})
        record["weights"] = {"file": target.name, "sha256": file_sha256(target), "bytes": target.stat().st_size,
                             "dtype": old.get("dtype", "float16"), "fingerprint": legacy["sha256"],
                             "converted_from": legacy}
        atomic_write_json(out_dir / "visual_frontend.json", record)
        written.append(out_dir / "visual_frontend.json")
    return written


def load_record(path: str | Path | None = None) -> dict:
    """The provenance record beside the weights (accuracy, command, data), or ``{}`` if absent."""
    path = Path(path) if path is not None else RECORD_PATH
    return json.loads(path.read_text()) if path.is_file() else {}
