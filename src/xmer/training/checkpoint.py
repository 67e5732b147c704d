"""Checkpoints and run-folder records, all written atomically.

A checkpoint holds everything needed to continue a run bit for bit: model, optimiser and scheduler
state, the run's bookkeeping, and the RNG states (torch, numpy, python). Files are written to a
temporary name and renamed, so a run killed at any moment leaves its previous checkpoint intact.
Checkpoints are ``.pt`` files holding only tensors and plain Python values, read with
``torch.load(weights_only=True)``: opening someone else's run folder cannot run their code. (Models
made for prediction are safetensors files, see :mod:`xmer.export.weights`.)
"""

from __future__ import annotations

import platform
import random
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xmer.errors import DataError
from xmer.io import atomic_path


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    payload = {**payload, "rng": _rng_state()}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path, restore_rng: bool = False) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"checkpoint not found: {path}")
    try:
        # numpy's RNG state was stored as an array before checkpoints held tensors only: allow the
        # three numpy names that rebuild a plain array, nothing else.
        with torch.serialization.safe_globals(_LEGACY_NUMPY):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file, or one that needs more than weights
        raise DataError(f"cannot read checkpoint {path}: {error}") from None
    if restore_rng and "rng" in payload:
        _set_rng_state(payload["rng"])
    return payload


_reconstruct = getattr(np, "_core", getattr(np, "core", None)).multiarray._reconstruct
_LEGACY_NUMPY = [  # written by numpy 2 and by numpy 1
    (_reconstruct, "numpy._core.multiarray._reconstruct"), (_reconstruct, "numpy.core.multiarray._reconstruct"),
    np.ndarray, np.dtype, type(np.dtype(np.uint32)),
]


def _rng_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss))
    return {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    random.setstate(state["python"])


def environment() -> dict[str, Any]:
    """Package versions, Python, platform and the git commit of the source tree, for the run folder."""
    versions = {}
    for package in ("xmer", "torch", "numpy", "pyyaml", "scikit-learn", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": _git_commit(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "command": " ".join(sys.argv),
    }


def _git_commit() -> str | None:
    source = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=5, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=source, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None

