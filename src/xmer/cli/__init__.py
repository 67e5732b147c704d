"""The ``xmer`` command line: one module per command, registered in :data:`COMMANDS`.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their command runs, so ``xmer --help`` stays fast and a command's
heavy dependencies never load for another command. An :class:`~xmer.errors.XmerError` is printed as
one line (no traceback) and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from xmer.errors import XmerError

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("xmer.cli.demo", "generate the synthetic toy set, train, evaluate and write a run folder"),
    "train": ("xmer.cli.train", "train a model from a config file"),
    "evaluate": ("xmer.cli.evaluate", "evaluate a run folder's best checkpoint on a split"),
    "predict": ("xmer.cli.predict", "predict emotions for one input (features file or media files), or a batch"),
    "analyze": ("xmer.cli.analyze", "the emotion over time of videos or audio files: timeline.json/.csv/.png, summary.md"),
    "prepare": ("xmer.cli.prepare", "turn a dataset release (FER2013, RAVDESS, IEMOCAP, .csd, ...) into a prepared dataset"),
    "pretrain": ("xmer.cli.pretrain", "train a front-end: the face CNN on FER2013 (visual) or the MiniLM emotion adapter (text)"),
    "experiment": ("xmer.cli.experiment", "run one of the paper's experiments over seeds and write its report"),
    "serve": ("xmer.cli.serve", "serve a model over HTTP: a web page, POST /predict with uploads, text or JSON, OpenAPI at /docs"),
    "export": ("xmer.cli.export", "reduce a run folder to a small model for prediction (float16 weights)"),
    "audit": ("xmer.cli.audit", "find items shared between prepared datasets or splits (texts, images, audio); exit 1 if a test item is trained on"),
    "extract": ("xmer.cli.extract", "extract features for a prepared dataset from its raw media (resumable, shardable)"),
}
"""Command name -> (module, one-line help). The parser, ``--help`` and the CLI tests all read this."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xmer", description="Multimodal emotion recognition with cross-modal translation.")
    parser.add_argument("--version", action="version", version=f"xmer {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    argv = sys.argv[1:]
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # Only the chosen command's module is imported, so one command's heavy imports never slow
        # another's start-up.
        if name in argv:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def _version() -> str:
    from xmer import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    # Before torch loads (commands import it when they run): OpenMP threads that sleep instead of
    # spin while waiting. With the default (spinning) policy, training on a 2-core machine that
    # anything else also uses ran 4-20x slower (benchmarks/recognizer.py); set OMP_WAIT_POLICY=ACTIVE
    # to get the spinning policy back. Process-wide state is set here, never at import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    parser = build_parser()
    args = parser.parse_args()
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args._run(args) or 0)
    except XmerError as error:
        print(f"xmer {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"xmer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
