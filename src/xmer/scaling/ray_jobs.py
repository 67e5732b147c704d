"""Batch prediction and analysis on Ray: ``xmer predict --batch ... --ray`` and ``xmer analyze ... --ray``.

The driver (the process that runs the command) reads the list of items, as the local run does, and
hands it to Ray Data as a dataset of small rows (an index and the item, as JSON). ``map_batches``
sends batches of rows to a pool of actors (:class:`_Predict`, :class:`_Analyze`), each of which
loads the model and its front-ends once and calls the very functions of the local run on every
batch: :func:`xmer.batch.predict_rows` and :func:`xmer.analysis.run.analyze_file`. So the answers are
the local run's, and a bad item gives its error line while the others go on. Results come back to
the driver in input order (``preserve_order``; a reorder buffer as a second guard) and are written
there: predictions through :class:`~xmer.batch.BatchOutput` (appended as they come, renamed when
complete, ``--resume`` skips what is there), analyses by the workers themselves into the output
folder, which must be on storage every node reaches.

A worker that dies is restarted and its unfinished batches are retried by Ray (Ray Data restarts
its actors without limit); since only the driver writes lines, a retried batch is never written
twice. A batch is retried at most :data:`BATCH_RETRIES` times: an item that kills every worker that
reads it (a decoder that crashes on it, a file too large for the worker's memory) stops the job
with an error that says from which item, instead of restarting workers for ever; the lines before
it are kept for ``--resume``. Ray is imported inside the functions that
need it: ``pip install 'xmer[ray]'``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from xmer.errors import ConfigError, DataError, XmerError

if TYPE_CHECKING:
    from xmer.batch import BatchCounts

INSTALL_HINT = "pip install 'xmer[ray]'"

BATCH_RETRIES = 3
"""How many times a batch whose worker died is given to a new worker before the job stops."""

BATCHES_PER_WORKER = 4
"""A job is cut into at least this many batches per worker (at most ``TEXT_BATCH`` items each), so
that workers that finish early take more and a retried batch is small."""


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a Ray job runs (``--ray``, ``--workers``, ``--cpus-per-worker``, ``--gpus-per-worker``)."""

    address: str | None = None
    """A cluster to join (``ray://HOST:10001`` or ``auto``); None starts a Ray instance on this machine."""
    workers: int | None = None
    """Actors in the pool, each with its own copy of the model; None: as many as the cluster's CPUs
    (or GPUs, with ``gpus_per_worker``) allow."""
    cpus_per_worker: float = 1.0
    """CPUs Ray reserves for each actor (and the threads PyTorch uses in it)."""
    gpus_per_worker: float = 0.0
    """GPUs Ray reserves for each actor; above 0 the recogniser runs on the GPU."""


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a Ray job, shared by ``xmer predict --batch`` and ``xmer analyze``."""
    group = parser.add_argument_group("running on Ray (pip install 'xmer[ray]')")
    group.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                       help="run on Ray Data, with a pool of workers that each load the model once: without ADDRESS "
                            "on a Ray instance started on this machine; with one, on that cluster (ray://HOST:10001, or "
                            "auto for the cluster this machine belongs to). Files must be readable by every worker")
    group.add_argument("--workers", type=int, metavar="N",
                       help="with --ray: workers in the pool (default: as many as the cluster's CPUs, or GPUs, allow)")
    group.add_argument("--cpus-per-worker", type=float, metavar="C", help="with --ray: CPUs per worker (default 1)")
    group.add_argument("--gpus-per-worker", type=float, metavar="G", help="with --ray: GPUs per worker (default 0)")


def ray_options(args: argparse.Namespace) -> RayOptions | None:
    """The :class:`RayOptions` of the command line, or None without ``--ray``.

    Raises:
        DataError: a worker option without ``--ray``, or a value out of range.
    """
    sizing = {"--workers": args.workers, "--cpus-per-worker": args.cpus_per_worker, "--gpus-per-worker": args.gpus_per_worker}
    if args.ray is None:
        given = [name for name, value in sizing.items() if value is not None]
        if given:
            raise DataError(f"{', '.join(given)} go(es) with --ray")
        return None
    if args.workers is not None and args.workers < 1:
        raise DataError(f"--workers must be at least 1 (got {args.workers})")
    cpus = 1.0 if args.cpus_per_worker is None else args.cpus_per_worker
    gpus = 0.0 if args.gpus_per_worker is None else args.gpus_per_worker
    if cpus < 0 or gpus < 0 or cpus + gpus == 0:
        raise DataError(f"--cpus-per-worker and --gpus-per-worker must not be negative, nor both 0 (got {cpus}, {gpus})")
    return RayOptions(None if args.ray == "local" else args.ray, args.workers, cpus, gpus)


def import_ray():
    """The ``ray`` module with Ray Data, or a ConfigError with the install hint."""
    try:
        import ray
        import ray.data  # noqa: F401  (the Data library is a separate extra of Ray)
    except ImportError as error:
        raise ConfigError(f"--ray needs Ray Data ({error.name} is not installed): {INSTALL_HINT}") from None
    return ray


@contextmanager
def connected(options: RayOptions) -> Iterator:
    """Ray, initialised for ``options``: a Ray instance already initialised in this process is used
    as it is (and left running); otherwise this starts a local one or joins ``options.address``, and
    shuts down afterwards."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        settings = {"logging_level": logging.WARNING, "include_dashboard": False}
        try:
            if options.address is None:
                ray.init(num_cpus=os.cpu_count() or 1, **settings)
            else:
                ray.init(address=options.address, **settings)
        except ConnectionError as error:
            raise DataError(f"--ray {options.address}: cannot join the Ray cluster ({error})") from None
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def pool_size(ray, options: RayOptions) -> int:
    """Workers in the pool: ``options.workers``, or as many as the cluster's resources hold.

    Raises:
        DataError: on a Ray instance of this machine, the pool needs more CPUs or GPUs than it has
            (a cluster may add nodes, so there the pool waits for them).
    """
    total = ray.cluster_resources()
    cpus, gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
    fits = min(math.floor(cpus / options.cpus_per_worker) if options.cpus_per_worker else math.inf,
               math.floor(gpus / options.gpus_per_worker) if options.gpus_per_worker else math.inf)
    workers = options.workers or int(fits)
    if options.address is None and workers > fits:
        raise DataError(f"{workers} worker(s) of {options.cpus_per_worker:g} CPU(s) and {options.gpus_per_worker:g} GPU(s) "
                        f"need more than this machine's Ray instance has ({cpus:g} CPUs, {gpus:g} GPUs): "
                        f"lower --workers or the resources per worker")
    return workers


# ---------------------------------------------------------------------------------------------
# The workers


def _load(model: str | None, asr: bool, cpus: float, gpus: float):
    """The recogniser with its front-ends (and Whisper, with ``asr``), loaded once per worker."""
    import torch

    from xmer.inference import Recognizer

    torch.set_num_threads(max(1, int(cpus)))  # this worker's share, not every core of the node
    device = "cuda" if gpus > 0 and torch.cuda.is_available() else "cpu"
    recognizer = Recognizer.load(model, device=device)
    recognizer.load_front_ends(asr)
    return recognizer


class _Predict:
    """A Ray actor that predicts batches of items: ``{"index", "item"}`` rows in, ``{"index", "line"}`` out."""

    def __init__(self, model: str | None, asr: bool, cpus: float, gpus: float, sources: dict | None = None,
                 one_source: bool = False):
        from xmer.data.moments import Moments

        self.recognizer, self.asr, self.one_source = _load(model, asr, cpus, gpus), asr, one_source
        self.sources = {name: {m: Moments.from_json(raw) for m, raw in moments.items()} for name, moments in (sources or {}).items()}

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        from xmer.batch import predict_rows

        chunk = [_decode_item(payload) for payload in batch["item"]]
        rows = predict_rows(self.recognizer, chunk, self.asr, sources=self.sources, one_source=self.one_source)
        return {"index": batch["index"], "line": np.array([json.dumps(row) for row in rows], dtype=object)}


class _Analyze:
    """A Ray actor that analyses batches of files, each into its folder: rows in, result lines out."""

    def __init__(self, model: str | None, options: dict, video_out: bool, as_json: bool, cpus: float, gpus: float):
        self.recognizer = _load(model, options.get("asr", True), cpus, gpus)
        self.options, self.video_out, self.as_json = options, video_out, as_json

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        from xmer.uris import is_uri
        from xmer.analysis.run import analyze_file
        from xmer.features.media import probe

        lines = []
        for payload in batch["item"]:
            job = json.loads(payload)
            path = job["file"] if is_uri(job["file"]) else Path(job["file"])
            try:
                if not is_uri(path):
                    probe(path)  # the local run's first check, with its message
                timeline = analyze_file(self.recognizer, path, Path(job["folder"]), self.video_out, **self.options)
                result = {"segments": len(timeline.segments), "timeline": timeline.to_json() if self.as_json else None}
            except DataError as error:
                result = {"error": str(error)}
            lines.append(json.dumps(result))
        return {"index": batch["index"], "line": np.array(lines, dtype=object)}


def _encode_item(row: tuple) -> str:
    item_id, media, error = row
    return json.dumps([item_id, None if media is None else {k: str(v) for k, v in media.items()}, error])


def _decode_item(payload: str) -> tuple:
    """The ``(id, media, error)`` of :func:`xmer.batch.read_items` back from :func:`_encode_item`:
    file paths as Paths again, URIs and words as strings."""
    from xmer.batch import SOURCE_KEY
    from xmer.uris import is_uri

    item_id, media, error = json.loads(payload)
    if media is not None:
        media = {k: v if k in ("text", SOURCE_KEY) or is_uri(v) else Path(v) for k, v in media.items()}
    return item_id, media, error


# ---------------------------------------------------------------------------------------------
# The driver


def predict_on_ray(items: str | Path, out: str | Path, model: str | None, options: RayOptions, asr: bool = True,
                   resume: bool = False, progress: bool = True, one_source: bool = False) -> "BatchCounts":
    """:func:`xmer.batch.predict_batch` on Ray: the same output file, line for line. The sources'
    moments (items that name their source; with ``one_source``, the others as one) are computed here
    first and handed to every worker.

    Raises:
        DataError: the items file is missing, ``out`` is taken, the cluster cannot be joined, or the
            job stopped (the lines written so far are kept for ``resume``).
        ConfigError: Ray, or a library every item needs, is missing.
    """
    from xmer.batch import TEXT_BATCH, BatchCounts, BatchOutput, check_batch_paths, collection_moments, read_items
    from xmer.inference import Recognizer

    items, out = Path(items), Path(out)
    check_batch_paths(items, out)
    recognizer = Recognizer.load(model)  # a wrong model folder fails here, before a cluster starts
    import_ray()
    rows = list(read_items(items))
    written = failed = 0
    with BatchOutput(out, resume) as output:
        todo = output.remaining(rows)
        sources, clips = collection_moments(recognizer, rows, one_source, progress) if todo else ({}, 0)
        if todo:
            with connected(options) as ray:
                constructor = {"model": model, "asr": asr, "cpus": options.cpus_per_worker, "gpus": options.gpus_per_worker,
                               "sources": {name: {m: v.to_json() for m, v in moments.items()} for name, moments in sources.items()},
                               "one_source": one_source}
                results = _in_order(ray, [_encode_item(row) for row in todo], _Predict, constructor, options,
                                    TEXT_BATCH, "predict", "item", progress)
                for line in results:
                    output.write(line)
                    failed += "error" in json.loads(line)
                    written += 1
        output.finish()
    return BatchCounts(written, failed, len(rows) - len(todo), clips, len(sources))


def analyze_on_ray(files: list[Path | str], folders: dict, model: str | None, timeline_options: dict, video_out: bool,
                   as_json: bool, options: RayOptions) -> list[tuple[Path | str, str]]:
    """``xmer analyze`` of ``files`` on Ray: each worker writes a file's timeline into ``folders[file]``
    (storage every node reaches) and the driver prints what the local run prints, in input order.

    Returns:
        ``(file, why)`` of each file that failed.
    """
    from tqdm import tqdm

    from xmer.inference import Recognizer

    Recognizer.load(model)
    import_ray()
    if not files:
        return []
    payloads = [json.dumps({"file": str(f), "folder": str(folders[f])}) for f in files]
    constructor = {"model": model, "options": timeline_options, "video_out": video_out, "as_json": as_json,
                   "cpus": options.cpus_per_worker, "gpus": options.gpus_per_worker}
    failures = []
    with connected(options) as ray:
        for f, line in zip(files, _in_order(ray, payloads, _Analyze, constructor, options, 1, "analyze", "file", True)):
            result = json.loads(line)
            if "error" in result:
                failures.append((f, result["error"]))
            elif as_json:
                tqdm.write(json.dumps(result["timeline"]), file=sys.stdout)
            else:  # the line of xmer.cli.analyze.report
                tqdm.write(f"{f}: {result['segments']} segments -> {folders[f]}", file=sys.stdout)
    return failures


def _in_order(ray, payloads: list[str], worker: type, constructor: dict, options: RayOptions, largest_batch: int,
              desc: str, unit: str, progress: bool) -> Iterator[str]:
    """Each payload through ``worker``'s ``__call__`` on a pool of actors; the result lines, in input order."""
    from tqdm import tqdm

    workers = pool_size(ray, options)
    size = max(1, min(largest_batch, math.ceil(len(payloads) / (BATCHES_PER_WORKER * workers))))
    batches = math.ceil(len(payloads) / size)
    workers = min(workers, batches)  # a short job starts no worker it cannot give a batch
    dataset = ray.data.from_items([{"index": i, "item": p} for i, p in enumerate(payloads)], override_num_blocks=batches)
    dataset.context.execution_options.preserve_order = True
    dataset.context.enable_progress_bars = False  # the bar below counts items
    dataset = dataset.map_batches(worker, batch_size=size, batch_format="numpy", fn_constructor_kwargs=constructor,
                                  compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=options.cpus_per_worker,
                                  num_gpus=options.gpus_per_worker or None, max_task_retries=BATCH_RETRIES)
    waiting: dict[int, str] = {}
    following = 0
    with tqdm(total=len(payloads), desc=f"{desc} (ray, {workers} workers)", unit=unit, file=sys.stderr,
              disable=not progress) as bar:
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                for index, line in zip(batch["index"], batch["line"]):
                    waiting[int(index)] = str(line)
                while following in waiting:
                    yield waiting.pop(following)
                    following += 1
                    bar.update()
        except Exception as error:  # Ray wraps what went wrong in a worker
            raise _explained(error, following, len(payloads)) from None
    if following != len(payloads):
        raise DataError(f"the Ray job returned {following} of {len(payloads)} results")


def _explained(error: BaseException, done: int, total: int) -> XmerError:
    """An XmerError raised in a worker (a missing library: ConfigError) as it is, else a DataError
    saying that the job stopped and how to go on."""
    seen, cause, kinds = set(), error, set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, XmerError):
            return cause
        seen.add(id(cause))
        kinds.update(c.__name__ for c in type(cause).__mro__)
        cause = getattr(cause, "cause", None) or cause.__cause__
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    died = bool(kinds & {"RayActorError", "ActorDiedError", "ActorUnavailableError"})
    hint = (f"; workers kept dying on a batch at or after item {done + 1} (each batch is retried {BATCH_RETRIES} times): "
            "an item there may crash the worker that reads it (a decoder fault, too little memory), try those items alone"
            if died else "")
    return DataError(f"the Ray job stopped after {done} of {total} items ({type(error).__name__}: {first}){hint}; "
                     f"what was written is kept: run the same command with --resume to go on")
