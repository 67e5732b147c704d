"""Loading a model to predict with, in either runtime: PyTorch or onnxruntime.

Every command and the server load their model through :func:`load_recognizer`, so ``--runtime`` and
``--device`` mean the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

from xmer.errors import ConfigError

RUNTIMES = ("torch", "onnx")


def load_recognizer(model_dir: str | Path | None = None, runtime: str = "torch", device: str = "cpu"):
    """The recogniser of ``model_dir`` (None: xmer's default model).

    Args:
        runtime: ``torch`` (:class:`~xmer.inference.Recognizer`) or ``onnx``
            (:class:`~xmer.onnx_runtime.OnnxRecognizer`, the folder's ``onnx/`` graphs from
            ``xmer export --onnx``; CPU only).
        device: a torch device (``cpu``, ``cuda``, ``cuda:1``, ``mps``) for the torch runtime.
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if runtime == "onnx":
        if device != "cpu":
            raise ConfigError(f"the onnx runtime runs on the CPU; --device {device} goes with --runtime torch")
        from xmer.onnx_runtime import OnnxRecognizer

        return OnnxRecognizer.load(model_dir)
    import torch

    from xmer.inference import Recognizer

    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {device!r} is not a torch device; try cpu, cuda, cuda:1 or mps") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(kind, False):
        raise ConfigError(f"--device {device}: this machine's torch has no {kind} device; use --device cpu")
    return Recognizer.load(model_dir, device=device)
