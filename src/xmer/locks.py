"""One writer at a time: a lock file holding its owner's host, pid and command.

``xmer train`` locks its run folder and ``xmer extract`` its dataset's feature store (each shard its
range of the manifest), so a second process on the same output gets an error naming the first
instead of doubling or corrupting what it writes. The lock file is created whole by a hard link
(atomic, also on NFS), so a reader never sees half a lock. A lock whose process is gone on this host
(killed with SIGKILL) is stale: the next process removes it and says so. A lock held by another
host cannot be checked from here: the error says how to remove it once that process is gone.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from xmer.errors import DataError
from xmer.io import host, pid_alive, temp_name

log = logging.getLogger(__name__)


class Lock:
    """A lock file at ``path`` guarding ``what`` (a phrase for messages, e.g. "run folder runs/a").

    Usage::

        with Lock(run_dir / ".lock", f"run folder {run_dir}"):
            ...  # this process is the only writer
    """

    def __init__(self, path: str | Path, what: str, extra: dict | None = None):
        self.path, self.what, self.extra = Path(path), what, extra or {}
        self.held = False

    def acquire(self) -> "Lock":
        """Take the lock, removing a stale one; a DataError naming the holder if it is held."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if self._create():
                self.held = True
                return self
            holder = read_lock(self.path)
            if holder is None:
                continue  # removed in the meantime: try again
            if is_stale(holder):
                log.warning("removed the stale lock %s of process %s on %s (that process is gone)",
                            self.path, holder.get("pid"), holder.get("host"))
                self.path.unlink(missing_ok=True)
                continue
            raise DataError(describe_holder(self.path, self.what, holder))
        raise DataError(f"{self.what}: could not take the lock {self.path}")

    def release(self) -> None:
        if self.held:
            holder = read_lock(self.path)
            if holder and holder.get("pid") == os.getpid() and holder.get("host") == host():
                self.path.unlink(missing_ok=True)
            self.held = False

    def _create(self) -> bool:
        tmp = self.path.parent / temp_name(self.path.name)
        record = {"host": host(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  "command": " ".join(sys.argv), **self.extra}
        text = json.dumps(record) + "\n"
        tmp.write_text(text)
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: exclusive create (a reader may see it empty)
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                f.write(text)
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> "Lock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def overlapping_holders(folder: Path, pattern: str, start: int, stop: int, mine: Path) -> list[tuple[Path, dict]]:
    """Live locks in ``folder`` matching ``pattern`` (other than ``mine``) whose ``range`` overlaps
    ``[start, stop)``; stale ones are removed on the way, with a warning."""
    found = []
    for path in sorted(folder.glob(pattern)):
        if path == mine:
            continue
        holder = read_lock(path)
        if holder is None:
            continue
        if is_stale(holder):
            log.warning("removed the stale lock %s of process %s on %s (that process is gone)",
                        path, holder.get("pid"), holder.get("host"))
            path.unlink(missing_ok=True)
            continue
        low, high = (holder.get("range") or [0, 0])[:2]
        if low < stop and start < high:
            found.append((path, holder))
    return found


def read_lock(path: Path) -> dict | None:
    """The holder a lock file names, or None when the file is gone; ``{}`` when unreadable."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, OSError):
        return {}
    return record if isinstance(record, dict) else {}


def is_stale(holder: dict) -> bool:
    """A lock of a process that no longer exists on this host (or an unreadable lock file)."""
    if not holder:
        return True
    pid = holder.get("pid")
    return holder.get("host") == host() and isinstance(pid, int) and not pid_alive(pid)


def describe_holder(path: Path, what: str, holder: dict) -> str:
    where = "this machine" if holder.get("host") == host() else f"host {holder.get('host')}"
    return (f"{what} is in use by process {holder.get('pid')} on {where} since {holder.get('since')} "
            f"({holder.get('command', '')!s}); wait for it to finish, or, if that process is gone, delete {path}")
