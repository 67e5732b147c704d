"""Uploads are decoded, read by the front-ends and predicted in processes of their own, at a lower
CPU priority, apart from the worker that answers the texts.

Why processes: FFmpeg, OpenCV and Whisper parse what strangers upload; a crash or a runaway
allocation in one of them ends a media process, not the worker with every request it holds (the
request gets a 500 saying so, the next one starts a new process). A media process shares no
interpreter lock with the worker's threads, and its priority (``media_nice``) covers every thread
a library starts in it. The cost: each process loads the model and its media front-ends again
(``xmer serve --workers 2``: 2.6 GB resident in all, against 1.7 GB with ``--media-processes 0``,
which runs the same jobs in the worker's media threads at the same lower priority; the text
latency of ``benchmarks/serve.py`` is the same either way).

:class:`MediaWorkers` owns a ``spawn`` process pool (a fresh interpreter: forking a process that
runs threads is unsafe). Each process loads the model and its front-ends once, at start; a job is a
top-level function ``job(recognizer, *args) -> dict`` (picklable) run there. A media process ends
by itself when its worker is gone, however the worker ended.
"""

from __future__ import annotations

import base64
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("xmer.serving")

_RECOGNIZER = None
"""The recogniser of this media process (set by :func:`_start`)."""


class MediaWorkers:
    """``processes`` media processes of the model in ``model_dir``, at ``nice`` lower priority."""

    def __init__(self, model_dir: str | Path | None, runtime: str, processes: int, nice: int):
        self.model_dir, self.runtime, self.processes, self.nice = model_dir, runtime, processes, nice
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # several media threads may ask for the pool at once: start one

    def run(self, job: Callable[..., Any], *args) -> Any:
        """``job(recognizer, *args)`` in a media process; blocks the calling thread until it is done."""
        with self._lock:
            pool = self._pool or self._start()
        try:
            return pool.submit(_call, job, *args).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None  # the next request starts a new pool
            pool.shutdown(wait=False, cancel_futures=True)
            raise RuntimeError("the media process stopped unexpectedly (out of memory, or a media library crashed); "
                               "the server's log may say more") from None

    def warm_up(self) -> dict[str, str]:
        """Start the processes and load the model's front-ends in them; modality -> what was loaded."""
        return self.run(_load_front_ends)

    def close(self) -> None:
        """Stop the media processes: queued work is cancelled, running work is ended (the server is
        going away: nobody waits for its answer), and the pool is joined, so that its processes,
        queues and semaphores are all released before the server exits."""
        with self._lock:
            if self._pool is not None:
                pool, self._pool = self._pool, None
                for process in list(getattr(pool, "_processes", {}).values()):  # running media work ends now
                    process.terminate()
                pool.shutdown(wait=True, cancel_futures=True)

    def _start(self) -> ProcessPoolExecutor:
        self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start, initargs=(self.model_dir, self.runtime, self.nice))
        return self._pool


def _start(model_dir, runtime: str, nice: int) -> None:
    """A media process's start: lower its priority (threads it starts inherit it), one torch thread,
    load the model."""
    global _RECOGNIZER
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True, name="xmer-parent-watch").start()
    if nice and hasattr(os, "nice"):
        try:
            os.nice(nice)
        except OSError as error:
            log.warning("cannot lower the priority of the media process (%s)", error)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(1)
    from xmer.runtime import load_recognizer

    _RECOGNIZER = load_recognizer(model_dir, runtime)


def _exit_with(parent: int) -> None:
    """End this process when its parent is gone: a worker killed without the chance to stop its
    pool (SIGKILL, a crash) must not leave media processes behind."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _call(job: Callable[..., Any], *args) -> Any:
    return job(_RECOGNIZER, *args)


def _load_front_ends(recognizer) -> dict[str, str]:
    return recognizer.load_front_ends()


# -- the jobs: run in a media process, or in a worker's thread when there is none --------------------


def predict_media_job(recognizer, media: dict[str, Path], text: str | None) -> dict:
    """The answer of ``POST /predict`` for checked uploads ``media`` (input -> path) and ``text``."""
    return recognizer.predict_media(**media, text=text).to_json()


def analyze_job(recognizer, role: str, path: Path, folder: Path, options: dict | None = None) -> dict:
    """The answer of ``POST /analyze`` for one checked upload: its timeline (``Recognizer.analyze``
    with ``options``) and its picture."""
    timeline = recognizer.analyze(path, **(options or {}))
    return {"kind": "timeline", **timeline.to_json(), "picture": timeline_picture(timeline, folder)}


def timeline_picture(timeline, folder: Path) -> str | None:
    """The timeline drawn as a PNG data URL (None when this xmer cannot draw one)."""
    try:
        from xmer.analysis.report import write_timeline
    except ImportError:
        return None
    write_timeline(timeline, folder / "report")
    picture = folder / "report" / "timeline.png"
    return "data:image/png;base64," + base64.b64encode(picture.read_bytes()).decode() if picture.is_file() else None
