"""Options shared by the commands that run a model: ``--model``, ``--runtime``, ``--device``."""

from __future__ import annotations

import argparse


def add_model_arguments(parser: argparse.ArgumentParser, positional: bool = False) -> None:
    """``--model DIR``, ``--runtime`` and ``--device``; ``positional``: also ``[MODEL_DIR]`` first,
    the same as ``--model`` (``xmer predict runs/a ...``)."""
    if positional:
        parser.add_argument("run_dir", nargs="?", metavar="MODEL_DIR", help="the same as --model DIR")
    parser.add_argument("--model", metavar="DIR",
                        help="a model folder (xmer export) or run folder (xmer train) (default: xmer's default model)")
    parser.add_argument("--runtime", choices=("torch", "onnx"), default="torch",
                        help="run the model with PyTorch, or with onnxruntime from the folder's onnx/ graphs "
                             "(xmer export --onnx) (default: torch)")
    parser.add_argument("--device", default="cpu",
                        help="where the torch runtime runs the model: cpu, cuda, cuda:1, mps (default: cpu)")


def model_dir(args: argparse.Namespace) -> str | None:
    """The model folder the command line names (None: the default model)."""
    from xmer.errors import ConfigError

    given = getattr(args, "run_dir", None)
    if given and args.model and given != args.model:
        raise ConfigError(f"two models given: {given} and --model {args.model}; give one")
    return args.model or given


def load_model(args: argparse.Namespace):
    """The recogniser the command line names, in its runtime and on its device."""
    from xmer.runtime import load_recognizer

    return load_recognizer(model_dir(args), args.runtime, args.device)
