"""What xmer may replace: only folders it made itself, never a user's data.

Every folder xmer writes (a prepared dataset, a run, an export, an experiment) holds a marker file,
:data:`MARKER` (``.xmer``: ``{"kind": ..., "format": 1}``). ``--overwrite`` replaces a folder only
when it holds that marker (or, for folders written before the marker existed, the files that make
it xmer's: ``dataset.json`` in the ``xmer-dataset`` format; ``config.yaml`` + ``model.json`` for a
run or an export). It never replaces the current folder or one above it, nor the raw data a command
reads, anything inside it or anything above it. Replacing goes through a temporary sibling that is
renamed into place (:func:`replace_folder`), so the old folder stays whole until the new one is.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from xmer.errors import DataError
from xmer.io import atomic_write_json, sweep_temporaries, temp_name

log = logging.getLogger(__name__)

MARKER = ".xmer"
KINDS = ("dataset", "run", "export", "experiment")


def mark(folder: str | Path, kind: str) -> None:
    """Write the marker that says ``folder`` is an xmer ``kind`` (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    atomic_write_json(Path(folder) / MARKER, {"kind": kind, "format": 1})


def made_by_xmer(folder: str | Path) -> str | None:
    """The kind of xmer folder ``folder`` is, or None when xmer did not make it."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    marker = folder / MARKER
    if marker.is_file():
        try:
            kind = json.loads(marker.read_text()).get("kind")
        except (json.JSONDecodeError, AttributeError, OSError):
            kind = None
        if kind in KINDS:
            return kind
    dataset = folder / "dataset.json"
    if dataset.is_file():
        try:
            if str(json.loads(dataset.read_text()).get("format", "")).startswith("xmer-dataset/"):
                return "dataset"
        except (json.JSONDecodeError, AttributeError, OSError):
            pass
    if (folder / "config.yaml").is_file() and (folder / "model.json").is_file():
        # written before the marker: a run has its last checkpoint, an export only best.pt
        return "run" if (folder / "checkpoints" / "last.pt").exists() else "export"
    return None


def check_output(out: str | Path, option: str = "--out") -> Path:
    """An output path must not be an existing file (a folder or nothing is fine)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{option} {out} is a file, not a folder; choose a folder path")
    return out


def check_replaceable(out: str | Path, kinds: Iterable[str], protect: Iterable[str | Path] = (),
                      option: str = "--out") -> None:
    """Raise unless the existing folder ``out`` may be replaced: xmer made it (a ``kinds`` folder) or
    it is empty, it is not the current folder or above it, and it is not, inside or above a
    ``protect`` path. A path that does not exist passes."""
    out = check_output(out, option)
    if not out.exists():
        return  # nothing to replace (a new folder inside the input is fine: it destroys nothing)
    resolved = out.resolve()
    here = Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        raise DataError(f"{option} {out} is the current folder or holds it; xmer never replaces it (choose another {option})")
    for path in protect:
        path = Path(path).expanduser().resolve()
        if resolved == path or resolved in path.parents or path in resolved.parents:
            raise DataError(f"{option} {out} is, holds or lies inside the input {path}; xmer never replaces its input "
                            f"(choose another {option})")
    if not any(out.iterdir()):
        return  # an empty folder holds nothing to lose
    kinds = tuple(kinds)
    kind = made_by_xmer(out)
    if kind is None:
        raise DataError(f"{option} {out} exists and is not a folder xmer made (no {MARKER} marker); "
                        f"xmer replaces only its own {' or '.join(kinds)} folders: move it away or choose another {option}")
    if kind not in kinds:
        raise DataError(f"{option} {out} holds an xmer {kind}, not a {' or '.join(kinds)}; choose another {option}")


def check_not_inside(out: str | Path, source: str | Path, what: str, option: str = "--out") -> None:
    """Raise if ``out`` is ``source``, inside it or above it (export into its own run, ...)."""
    resolved, source_resolved = Path(out).resolve(), Path(source).resolve()
    if resolved == source_resolved or source_resolved in resolved.parents or resolved in source_resolved.parents:
        raise DataError(f"{option} {out} is, lies inside or holds {what} {source}; write it elsewhere")


def replace_folder(tmp: Path, out: Path) -> None:
    """Move the complete folder ``tmp`` onto ``out``; an existing ``out`` is moved aside first and
    removed only after the new folder is in place."""
    old = None
    if out.exists():
        old = out.parent / temp_name(out.name, ".building")  # found and removed by the next run if killed here
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def building(out_dir: str | Path, overwrite: bool = False, protect: Sequence[str | Path] = (),
             kind: str = "dataset") -> Iterator[Path]:
    """Build an xmer folder (marked ``kind``) in a temporary sibling; move it into place only when complete.

    Yields the temporary folder to write into. If the block raises, the temporary folder is removed
    and ``out_dir`` is untouched: the output is complete or absent. With ``overwrite`` an existing
    ``out_dir`` is replaced only when xmer made it (:func:`xmer.guard.check_replaceable`; never a
    ``protect`` path, anything inside or above one, or the current folder). Temporaries left by
    killed builds of ``out_dir`` are removed first, and named in a warning.
    """
    out_dir = check_output(out_dir)
    if out_dir.exists() and not overwrite:
        raise DataError(f"output folder already exists: {out_dir} (remove it, choose another, or overwrite)")
    check_replaceable(out_dir, (kind,), protect)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        for stale in sweep_temporaries(out_dir.parent, out_dir.name):
            log.warning("removed %s, left by a killed xmer run", stale)
        tmp = out_dir.parent / temp_name(out_dir.name, ".building")
        tmp.mkdir()
    except OSError as error:
        raise DataError(f"cannot create {out_dir}: {error.strerror or error}") from None
    try:
        yield tmp
        mark(tmp, kind)
        replace_folder(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
