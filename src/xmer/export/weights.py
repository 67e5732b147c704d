"""Portable weight files: tensors in safetensors, everything else as JSON in its header.

A model xmer ships or exports is read without unpickling anything, so opening a model someone sent
you cannot run their code. safetensors stores raw tensors plus a ``str -> str`` metadata map; xmer
keeps there a format tag and JSON values (the config a model is built from, its training
bookkeeping). Training checkpoints, which also carry optimiser and RNG state, stay ``.pt`` files but
are read with ``torch.load(weights_only=True)`` (see :mod:`xmer.training.checkpoint`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from xmer.errors import DataError

FORMAT = "xmer-weights"
"""The ``format`` entry of every safetensors file xmer writes."""

FORMAT_VERSION = "1"


def save_weights(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None) -> Path:
    """Write ``tensors`` to a safetensors file atomically, with ``metadata`` values stored as JSON.

    Args:
        path: the ``.safetensors`` file to write.
        tensors: name -> tensor (made contiguous and moved to the CPU here).
        metadata: JSON-serialisable values, read back by :func:`load_weights`.
    """
    from safetensors.torch import save

    from xmer.io import atomic_path

    header = {"format": FORMAT, "format_version": FORMAT_VERSION}
    header.update({key: json.dumps(value) for key, value in (metadata or {}).items()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        # Serialised here and written into atomic_path's file: safetensors' save_file makes its own
        # file with mode 0600, which a model folder meant to be shared must not have.
        tmp.write_bytes(save(tensors, metadata=header))
    return Path(path)


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_weights`: ``(tensors, metadata)``, no pickle involved.

    Raises:
        DataError: the file is missing, not safetensors, or not written by xmer.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise DataError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as error:  # safetensors raises its own error types for a bad header
        raise DataError(f"cannot read weights file {path}: not a safetensors file ({str(error).splitlines()[0][:200]})") from None
    if header.get("format") != FORMAT:
        raise DataError(f"{path}: a safetensors file, but not one xmer wrote (no 'format: {FORMAT}' in its header)")
    try:
        metadata = {k: json.loads(v) for k, v in header.items() if k not in ("format", "format_version")}
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: corrupt metadata in the header ({error.msg})") from None
    return tensors, metadata
