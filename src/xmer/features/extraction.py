"""The extraction job of ``xmer extract``: :func:`extract` (``xmer extract --data DIR --extractors
audio=logmel,text=glove [--workers N] [--shard i/n] [--keep-going]`` calls it).

Extracts features for the samples of a prepared dataset from the raw media its manifest names
(``media``: modality -> file path, relative to DIR or absolute; for text, the transcript itself)
into ``DIR/features``, one chunk per modality per ``--chunk-size`` samples (see
:mod:`xmer.data.store`).

- **Resumable**: samples whose features the store already holds are skipped, and so are samples an
  earlier run found to have nothing for a modality (no audio track, silence, empty text, no face)
  unless ``--retry-absent``. A killed run loses at most the chunk it was writing.
- **Shardable**: ``--shard i/n`` takes the i-th (0-based) of n contiguous ranges of the manifest,
  so n processes or machines can share one dataset folder (on a shared file system); chunk names
  carry the shard, time, process id and a random tag, so they never collide.
- **Failures** never stop the run: each is appended to ``DIR/extract_failures.jsonl`` as
  ``{"time", "id", "modality", "extractor", "file", "status", "reason"}`` with status ``failed``
  (unreadable input, extractor error) or ``absent`` (the input holds nothing for the modality).
  The summary counts done / skipped / absent / failed per modality; the exit status is 1 when
  anything failed (absent does not count) unless ``--keep-going``.
- At the end ``dataset.json``'s ``modalities`` records each extracted modality's ``dim`` and
  ``extractor`` (``name@version``), rewritten atomically under a file lock.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

from xmer.errors import ConfigError, DataError

FAILURES = "extract_failures.jsonl"


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/8"`` -> ``(2, 8)``; raises ConfigError unless 0 <= i < n."""
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard: expected i/n such as 2/8, got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {text}: need 0 <= i < n (i is 0-based: the shards of 8 are 0/8 ... 7/8)")
    return i, n


def shard_range(count: int, index: int, shards: int) -> range:
    """The ``index``-th of ``shards`` contiguous, near-equal ranges over ``count`` items."""
    return range(count * index // shards, count * (index + 1) // shards)


def extract(data: str | Path, extractors: str, workers: int = 1, shard: str = "0/1", keep_going: bool = False,
            retry_absent: bool = False, chunk_size: int = 1000) -> int:
    """Extract the features of the prepared dataset ``data`` (see the module docstring).

    Args:
        extractors: ``"audio=logmel,text=glove"``: modality=extractor pairs.
        workers: worker processes (1: extract in this process).
        shard: ``"i/n"``: the i-th (0-based) of n contiguous ranges of the manifest.
        keep_going: return 0 even when some samples failed.
        retry_absent: retry samples an earlier run found to hold nothing for a modality.
        chunk_size: samples per chunk file.

    Returns:
        the exit status: 1 when a sample failed (unless ``keep_going``), else 0.
    """
    from xmer.data.dataset import DatasetInfo
    from xmer.data.store import FeatureStore, read_manifest
    from xmer.features import get_extractor, parse_extractors

    root = Path(data)
    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if chunk_size < 1:
        raise ConfigError(f"--chunk-size must be >= 1, got {chunk_size}")
    DatasetInfo.read(root / "dataset.json")  # checks the folder is a prepared dataset
    records = read_manifest(root / "manifest.jsonl")
    chosen = parse_extractors(extractors)
    shard_text, shard = shard, parse_shard(shard)
    built = {m: get_extractor(name) for m, name in chosen.items()}  # fails early on a missing library

    lock = extraction_lock(root, shard, shard_range(len(records), *shard))
    try:
        failed = _extract(root, records, chosen, shard, shard_text, built, workers, retry_absent, chunk_size)
        return 1 if failed and not keep_going else 0
    finally:
        lock.release()


def extraction_lock(root: Path, shard: tuple[int, int], rows: range):
    """Lock the manifest rows ``rows`` of the store: a second process whose shard overlaps them gets
    an error naming the first (two writers would store every sample twice); stale locks and the
    temporaries of killed runs are removed, and named."""
    from xmer.io import sweep_temporaries
    from xmer.locks import Lock, describe_holder, overlapping_holders

    lock = Lock(root / f".extract-{shard[0]}of{shard[1]}.lock", f"dataset {root} (shard {shard[0]}/{shard[1]})",
                extra={"range": [rows.start, rows.stop]}).acquire()
    clash = overlapping_holders(root, ".extract-*.lock", rows.start, rows.stop, lock.path)
    if clash:
        lock.release()
        path, holder = clash[0]
        raise DataError(describe_holder(path, f"dataset {root} (manifest rows {rows.start}-{rows.stop - 1})", holder))
    for folder in [root, *(p for p in (root / "features").glob("*") if p.is_dir())]:
        for stale in sweep_temporaries(folder):
            print(f"extract: removed {stale}, left by a killed run", file=sys.stderr)
    return lock


def _extract(root: Path, records: list[dict], chosen: dict, shard: tuple[int, int], shard_text: str, extractors: dict,
             workers: int, retry_absent: bool, chunk_size: int) -> int:
    """The extraction of one shard (under its lock); returns the number of failed samples."""
    from xmer.data.store import FeatureStore

    store = FeatureStore(root / "features")
    for m, extractor in extractors.items():
        if m in store.modalities and store.extractor(m) != extractor.id:
            raise DataError(
                f"{root / 'features' / m} holds {store.extractor(m) or 'unnamed'} features; it cannot take {extractor.id} "
                f"ones (extract into a copy of the dataset, or delete that folder to start over)"
            )

    absent_before = set() if retry_absent else _absent_before(root / FAILURES)
    todo, counts = [], {m: Counter() for m in chosen}
    for record in (records[i] for i in shard_range(len(records), *shard)):
        media = record.get("media") or {}
        for m, extractor in extractors.items():
            if m not in record["modalities"]:
                continue
            if store.has(record["id"], m) or (record["id"], m, extractor.id) in absent_before:
                counts[m]["skipped"] += 1
                continue
            source = media.get(m)
            todo.append((record["id"], m, _resolve(root, m, source) if source is not None else None))

    log = FailureLog(root / FAILURES)
    tag = f"s{shard[0]:03d}of{shard[1]:03d}-{time.strftime('%Y%m%dT%H%M%S')}-p{os.getpid()}-{secrets.token_hex(3)}"
    writers = ChunkRotation(root / "features", extractors, tag, chunk_size)
    progress = _progress(len(todo))
    try:
        for sample_id, m, status, payload, source in _results(todo, chosen, workers):
            progress.update(1)
            if status == "ok":
                try:
                    writers.add(m, sample_id, payload)
                    counts[m]["done"] += 1
                    continue
                except DataError as error:
                    status, payload = "failed", str(error)
            counts[m][status] += 1
            log.write(sample_id, m, extractors[m].id, source, status, payload)
    finally:
        progress.close()
        writers.close()  # keeps every sample written so far, also on Ctrl-C

    in_store = {m: e for m, e in extractors.items() if (root / "features" / m / "meta.json").exists()}
    if in_store:
        _update_dataset_json(root, in_store)
    return _summary(counts, shard, shard_text, root / FAILURES)


def _resolve(root: Path, modality: str, source):
    """Manifest ``media`` value -> extractor input: text stays a string, files become Paths."""
    if modality == "text":
        return str(source)
    path = Path(source)
    return path if path.is_absolute() else root / path


def _absent_before(path: Path) -> set[tuple[str, str, str]]:
    found = set()
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
                if entry.get("status") == "absent":
                    found.add((entry["id"], entry["modality"], entry["extractor"]))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                continue  # a torn line from a killed run
    return found


class FailureLog:
    """Appends one JSON line per failure; each line is one ``write`` to an O_APPEND file, so several
    shards can log to the same file at once."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, sample_id: str, modality: str, extractor: str, source, status: str, reason: str) -> None:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "id": sample_id,
            "modality": modality,
            "extractor": extractor,
            "file": str(source) if isinstance(source, Path) else None,
            "status": status,
            "reason": reason,
        }
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


class ChunkRotation:
    """One open :class:`ChunkWriter` per modality, replaced by a fresh chunk every ``size`` samples.

    Writers open lazily, so a run that extracts nothing for a modality leaves no empty chunk.
    """

    def __init__(self, features_dir: Path, extractors: dict, tag: str, size: int):
        self.features_dir, self.extractors, self.tag, self.size = features_dir, extractors, tag, size
        self._open: dict = {}
        self._serial: Counter = Counter()
        self._count: Counter = Counter()

    def add(self, modality: str, sample_id: str, array) -> None:
        from xmer.data.store import ChunkWriter

        writer = self._open.get(modality)
        if writer is None:
            extractor = self.extractors[modality]
            name = f"{extractor.name}-{self.tag}-{self._serial[modality]:04d}"
            writer = self._open[modality] = ChunkWriter(self.features_dir, modality, extractor.dim, chunk=name, extractor=extractor.id)
            self._serial[modality] += 1
            self._count[modality] = 0
        writer.add(sample_id, array)
        self._count[modality] += 1
        if self._count[modality] >= self.size:
            self._open.pop(modality).close()

    def close(self) -> None:
        while self._open:
            _, writer = self._open.popitem()
            writer.close()


# ---------------------------------------------------------------------------------------------------
# Running the extractors (in this process or in a pool of workers)


def _extract_one(item, chosen: dict[str, str]):
    """(id, modality, source) -> (id, modality, status, features or reason, source)."""
    from xmer.features import ModalityAbsent, get_extractor

    sample_id, modality, source = item
    if source is None:
        return sample_id, modality, "failed", f"manifest gives no media for {modality}", source
    try:
        features = get_extractor(chosen[modality])(source)
        return sample_id, modality, "ok", features, source
    except ModalityAbsent as error:
        return sample_id, modality, "absent", str(error), source
    except DataError as error:
        return sample_id, modality, "failed", str(error), source
    except ConfigError:
        raise  # a missing library stops the run: every other sample would fail the same way
    except Exception as error:  # an extractor's own bug or a library failing on odd input: log, go on
        return sample_id, modality, "failed", f"{source}: {type(error).__name__}: {error}", source


def _init_worker(chosen: dict[str, str]) -> None:
    # N workers on N cores: intra-op threads would oversubscribe them. A spawned child has not loaded
    # torch yet, so the variable is read when (and only if) an extractor imports it.
    os.environ["OMP_NUM_THREADS"] = "1"
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    from xmer.features import get_extractor

    for name in chosen.values():
        get_extractor(name)


def _work(args):
    item, chosen = args
    return _extract_one(item, chosen)


def _results(todo: list, chosen: dict[str, str], workers: int):
    if workers == 1 or len(todo) <= 1:
        for item in todo:
            yield _extract_one(item, chosen)
        return
    import multiprocessing

    # spawn, not fork: a forked child of a process whose torch/OpenMP thread pool has started can hang.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(chosen,)) as pool:
        yield from pool.imap_unordered(_work, ((item, chosen) for item in todo), chunksize=4)


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="item", desc="extract", disable=None, file=sys.stderr, dynamic_ncols=True)


# ---------------------------------------------------------------------------------------------------
# Finishing


def _update_dataset_json(root: Path, extractors: dict) -> None:
    """Record each extracted modality's dim and extractor in dataset.json, atomically, under a lock
    (several shards may finish at the same moment)."""
    import fcntl

    from xmer.io import atomic_write_json

    with open(root / ".dataset.json.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        raw = json.loads((root / "dataset.json").read_text())
        modalities = raw.get("modalities")
        if not isinstance(modalities, dict):
            modalities = {}
        for m, extractor in extractors.items():
            entry = modalities.get(m) if isinstance(modalities.get(m), dict) else {}
            modalities[m] = {**entry, "dim": extractor.dim, "extractor": extractor.id}
        raw["modalities"] = modalities
        atomic_write_json(root / "dataset.json", raw)


def _summary(counts: dict, shard: tuple[int, int], shard_text: str, failures: Path) -> int:
    where = f" (shard {shard_text})" if shard[1] > 1 else ""
    print(f"extract{where}: {'modality':10s} {'done':>8s} {'skipped':>8s} {'absent':>8s} {'failed':>8s}")
    for m, c in counts.items():
        print(f"extract{where}: {m:10s} {c['done']:8d} {c['skipped']:8d} {c['absent']:8d} {c['failed']:8d}")
    failed = sum(c["failed"] for c in counts.values())
    absent = sum(c["absent"] for c in counts.values())
    if failed or absent:
        print(f"extract: {failed} failed, {absent} absent; reasons in {failures}")
    return failed
