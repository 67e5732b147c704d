"""Atomic file output: a file is either the complete new version or the old one, never half-written.

Every temporary file or folder xmer writes is named by :func:`temp_name`: hidden, beside its target,
and carrying the writer's host and process id, ``.NAME.HOST-PID-TOKEN.tmp``. A process killed with
SIGKILL cannot remove its temporaries; :func:`sweep_temporaries` finds those whose process is gone on
this host and removes them (the caller names them), so killed runs never leave files for ever.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)-[0-9a-f]{6}(?P<suffix>\.tmp|\.building)$")


def host() -> str:
    """This machine's name as it appears in temporary-file and lock names."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "localhost"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def temp_name(name: str, suffix: str = ".tmp") -> str:
    """A hidden temporary name for ``name`` that says who writes it (host and pid)."""
    return f".{name}.{host()}-{os.getpid()}-{secrets.token_hex(3)}{suffix}"


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary made by :func:`temp_name`."""
    return _TEMP.match(name) is not None


def sweep_temporaries(folder: Path, name: str | None = None) -> list[Path]:
    """Remove the temporaries in ``folder`` (of target ``name``, or any) whose writer is gone.

    A temporary of a live process, or of another host (a shared file system), is left alone.
    Returns the paths removed, for the caller to name.
    """
    removed = []
    if not folder.is_dir():
        return removed
    me = host()
    for path in sorted(folder.iterdir()):
        match = _TEMP.match(path.name)
        if not match or (name is not None and match["name"] != name):
            continue
        if match["host"] != me or pid_alive(int(match["pid"])):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.parent / temp_name(path.name)
    os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the mode a plain open() gives
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    """A JSON file's content (DataError naming the file when it is missing or not JSON)."""
    from xmer.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error.msg})") from None
