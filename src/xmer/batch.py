"""Batch prediction: a JSON Lines file of inputs in, a JSON Lines file of predictions out.

Each input line is an object with ``id`` and any of ``video``, ``audio``, ``image`` (paths; a
relative path is taken from the folder of the items file) and ``text`` (the words)::

    {"id": "a", "video": "clips/a.mp4"}
    {"id": "b", "audio": "b.wav", "text": "I did not expect that"}

Each output line is the object ``xmer predict --json`` prints for that input, plus ``id``, in input
order; an item that cannot be read or predicted gives ``{"id": ..., "error": "..."}`` and the others
go on. The model and its extractors load once, and items with text alone are handed over together
(:data:`TEXT_BATCH`), each predicted on its own: the same answers as ``xmer predict --text``.

The output file is either the whole answer or absent: while the job runs, each line is appended to
``PREDICTIONS.jsonl.partial`` as soon as it is known (:class:`BatchOutput`), and that file is renamed
onto ``PREDICTIONS.jsonl`` when every item has its line. A stopped job keeps its partial file, and
``resume=True`` (``xmer predict --batch ... --resume``) skips the ids already there.

An item may name its ``source`` (a string: the speaker, the recording set-up, the corpus), and
``one_source=True`` (``xmer predict --batch ... --one-source``) says that the items that name none
come from one source. A model that standardises speech per source reads the items of each source with
the moments of that source's own speech (:func:`collection_moments`) instead of those pooled over its
training corpora; see :mod:`xmer.data.moments`::

    {"id": "c1", "audio": "calls/c1.wav", "source": "agent-7"}

A media value may also be a URI that PyArrow's file systems read (``file://``, ``s3://``, ``gs://``,
``hdfs://``): the file is copied to a temporary folder for the time of its prediction. ``xmer predict --batch ... --ray`` runs the same per-item work on a Ray
cluster (:mod:`xmer.scaling.ray_jobs`).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, NamedTuple

from xmer.errors import ConfigError, DataError
from xmer.uris import is_uri, local_copy

if TYPE_CHECKING:
    from xmer.data.moments import Moments
    from xmer.inference import Recognizer

ITEM_KEYS = ("video", "audio", "image", "text")
SOURCE_KEY = "source"
"""The optional item key naming the item's source (kept in the media dict: :func:`item_source`)."""


def read_items(path: str | Path) -> Iterator[tuple[object, dict | None, str | None]]:
    """``(id, media, error)`` per line of ``path`` (blank lines skipped): media holds the keys of
    :data:`ITEM_KEYS` given, files resolved against the folder of ``path``, and the item's
    :data:`SOURCE_KEY` when it names one; error says why a line cannot be used (and media is None)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"items file not found: {path}")
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                yield None, None, f"{path}, line {number}: not valid JSON ({error.msg})"
                continue
            if not isinstance(item, dict) or "id" not in item:
                yield None, None, f"{path}, line {number}: expected an object with an \"id\""
                continue
            unknown = sorted(set(item) - {"id", SOURCE_KEY, *ITEM_KEYS})
            if unknown:
                yield item["id"], None, (f"unknown key(s) {', '.join(unknown)}; expected id, any of {', '.join(ITEM_KEYS)} "
                                         f"and an optional {SOURCE_KEY}")
                continue
            if SOURCE_KEY in item and not isinstance(item[SOURCE_KEY], str):
                yield item["id"], None, f"{SOURCE_KEY!r} must be a string (the name of the item's source)"
                continue
            media = {}
            for key in ITEM_KEYS:
                value = item.get(key)
                if value is None:
                    continue
                if not isinstance(value, str):
                    yield item["id"], None, f"{key!r} must be a string"
                    break
                media[key] = value if key == "text" or is_uri(value) else path.parent / value
            else:
                if not media:
                    yield item["id"], None, f"no input: give any of {', '.join(ITEM_KEYS)}"
                else:
                    yield item["id"], {**media, **({SOURCE_KEY: item[SOURCE_KEY]} if SOURCE_KEY in item else {})}, None


def item_source(media: dict | None, one_source: bool) -> str | None:
    """The source an item's media dict names; else ``""`` (the collection's own source) with
    ``one_source``, else None (no source: read on the model's pooled moments)."""
    if media is not None and SOURCE_KEY in media:
        return media[SOURCE_KEY]
    return "" if one_source else None


class BatchCounts(NamedTuple):
    """What a batch job did."""

    written: int
    """Lines written by this run."""
    failed: int
    """Of those, lines with an error."""
    kept: int
    """Lines already in the output from a stopped or earlier run (``resume``), not predicted again."""
    source_clips: int = 0
    """The clips whose speech gave sources' moments (0: every item was read on the pooled ones)."""
    sources: int = 0
    """The sources read on their own moments."""


def predict_batch(recognizer: "Recognizer", items: str | Path, out: str | Path, asr: bool = True,
                  progress: bool = True, resume: bool = False, one_source: bool = False) -> BatchCounts:
    """Predict every line of ``items`` into ``out`` (see the module docstring).

    Args:
        resume: skip the items whose id already has a line in ``out`` or in the partial output of a
            stopped job, and add the others' lines after them.
        one_source: read the items that name no source as coming from one source (:func:`collection_moments`);
            items that name theirs are read with their source's moments either way.

    Raises:
        DataError: the items file is missing, or ``out`` is taken (see :class:`BatchOutput`).
        ConfigError: a library every item needs is missing.
    """
    from tqdm import tqdm

    items, out = Path(items), Path(out)
    check_batch_paths(items, out)
    rows = list(read_items(items))  # ids and paths only: small even for a long list
    written = failed = 0
    with BatchOutput(out, resume) as output:
        todo = output.remaining(rows)
        sources, clips = collection_moments(recognizer, rows, one_source, progress) if todo else ({}, 0)
        with tqdm(total=len(rows), desc="predict", unit="item", disable=not progress) as bar:
            bar.update(len(rows) - len(todo))
            for start in range(0, len(todo), TEXT_BATCH):
                for row in predict_rows(recognizer, todo[start : start + TEXT_BATCH], asr, done=bar.update,
                                        sources=sources, one_source=one_source):
                    output.write(json.dumps(row))
                    failed += "error" in row
                    written += 1
        output.finish()
    return BatchCounts(written, failed, len(rows) - len(todo), clips, len(sources))


SOURCE_SAMPLE = 500
"""The most items of one source whose speech gives its moments (:func:`collection_moments`)."""


def collection_moments(recognizer: "Recognizer", rows: list[tuple], one_source: bool = False,
                       progress: bool = False) -> tuple[dict[str, dict[str, "Moments"]], int]:
    """Source name -> the moments its items are predicted with, and how many clips gave them all.

    The sources are those the items name (:func:`item_source`; with ``one_source``, the items that
    name none form the source ``""``). A source's moments are those of the speech of up to
    :data:`SOURCE_SAMPLE` of its items with audio or video (a draw fixed by the items, so a resumed
    job reads its items as the first run did), extracted with the model's audio front-end. An item
    whose audio cannot be read is left out here (its own line says why). A source with fewer clips
    than :data:`~xmer.data.moments.MIN_SOURCE_STEPS` is left out, and so is every source of a model
    that does not standardise speech per source: their items are read with the pooled moments.

    Raises:
        ConfigError: a library the audio front-end needs is missing.
    """
    import numpy as np
    from tqdm import tqdm

    from xmer.data.moments import MIN_SOURCE_STEPS
    from xmer.features import features_from_media

    if "audio" not in recognizer.moments:
        return {}, 0
    spoken: dict[str, list] = {}
    for _, media, _ in rows:
        name = item_source(media, one_source)
        if name is not None and media is not None and (media.get("audio") or media.get("video")):
            spoken.setdefault(name, []).append(media.get("audio") or media.get("video"))
    extractor = {"audio": recognizer.media_extractors()["audio"]}
    out, used = {}, 0
    for name, files in spoken.items():
        if len(files) < MIN_SOURCE_STEPS:
            continue
        chosen = sorted(np.random.default_rng(len(files)).permutation(len(files))[:SOURCE_SAMPLE])
        clips = []
        for i in tqdm(chosen, desc=f"the speech of source {name!r}" if name else "the collection's speech", unit="clip",
                      disable=not progress):
            try:
                with local_copy(files[i]) as path:
                    features, _ = features_from_media(audio=path, extractors=extractor)
            except ConfigError:
                raise
            except Exception:  # an unreadable file: its prediction line reports it
                continue
            if "audio" in features:
                clips.append({"audio": features["audio"]})
        moments = recognizer.source_moments(clips)
        if moments:
            out[name], used = moments, used + len(clips)
    return out, used


def check_batch_paths(items: Path, out: Path) -> None:
    """DataError when ``out`` would overwrite the items file."""
    if out.resolve() == items.resolve():
        raise DataError(f"--out {out} would overwrite the items file")


def predict_rows(recognizer: "Recognizer", chunk: list[tuple[object, dict | None, str | None]], asr: bool = True,
                 done: Callable[[], object] | None = None, sources: dict[str, dict[str, "Moments"]] | None = None,
                 one_source: bool = False) -> list[dict]:
    """The output line (an object) of each ``(id, media, error)`` of ``chunk``, in order: items with
    text alone predicted together, the others one at a time, unusable ones their error. The whole
    per-item work of a batch job, locally and on a Ray worker alike; ``done`` is called per item;
    ``sources``: source name -> its moments (:func:`collection_moments`), each item read with those
    of its source (:func:`item_source`), or with the pooled ones.

    Raises:
        ConfigError: a library every item needs is missing.
    """
    texts = _texts_at_once(recognizer, chunk)
    rows = []
    for index, (item_id, media, error) in enumerate(chunk):
        if index in texts:
            rows.append({"id": item_id, **texts[index]})
        elif media is not None:
            source = (sources or {}).get(item_source(media, one_source))
            rows.append(_predict_one(recognizer, item_id, {k: v for k, v in media.items() if k != SOURCE_KEY}, asr, source))
        else:
            rows.append({"id": item_id, "error": error})
        if done is not None:
            done()
    return rows


TEXT_BATCH = 256
"""Items read at a time: those with text alone are predicted together (``Recognizer.predict_texts``,
float32: the same answers as one at a time). The text front-end sorts them by length into forward
passes of 32, so the more it sees at once, the less padding: on 1,000 real test texts of four
corpora, 6.3 ms per text in groups of 256, 11.6 ms in groups of 32, 12.0 ms one at a time."""


def _texts_at_once(recognizer: "Recognizer", chunk: list) -> dict[int, dict]:
    """Index in ``chunk`` -> answer, for the items that give text alone, predicted together; empty
    when there are fewer than two or one of them fails (each then goes alone and reports its error)."""
    positions = [i for i, (_, media, _) in enumerate(chunk) if media is not None and set(media) - {SOURCE_KEY} == {"text"}]
    if len(positions) < 2:
        return {}
    try:
        predictions = recognizer.predict_texts([chunk[i][1]["text"] for i in positions])
    except ConfigError:
        raise
    except DataError:
        return {}
    return {i: p.to_json() for i, p in zip(positions, predictions)}


def _predict_one(recognizer: "Recognizer", item_id, media: dict, asr: bool, source: dict | None = None) -> dict:
    copies: dict[str, str] = {}  # local copy -> URI, to name the URI in messages
    try:
        with ExitStack() as stack:
            local = {}
            for key, value in media.items():
                local[key] = value if key == "text" else stack.enter_context(local_copy(value))
                if key != "text" and is_uri(value):
                    copies[str(local[key])] = value
            prediction = recognizer.predict_media(**local, asr=asr, source=source)
        return {"id": item_id, **prediction.to_json()}
    except ConfigError:
        raise
    except DataError as problem:
        return {"id": item_id, "error": _named(str(problem), copies)}
    except Exception as problem:  # a library failing on odd input: this item only
        return {"id": item_id, "error": _named(f"{type(problem).__name__}: {problem}", copies)}


def _named(message: str, copies: dict[str, str]) -> str:
    for copy, uri in copies.items():
        message = message.replace(copy, uri)
    return message


# ---------------------------------------------------------------------------------------------
# Files named by URI

# ---------------------------------------------------------------------------------------------
# The output file: appended as lines come, renamed when complete, resumable


def id_key(item_id: object) -> str:
    """A hashable key for an item id (ids are any JSON value)."""
    return json.dumps(item_id, sort_keys=True)


class BatchOutput:
    """The output of a batch job (local or on Ray): complete lines appended to ``OUT.partial`` as
    they come, flushed, so a stopped job keeps them; renamed onto ``OUT`` by :meth:`finish` when every
    item has its line, so ``OUT`` is always a whole answer. One writer at a time (``.OUT.lock``).

    Without ``resume``, an existing partial file is an error (a stopped job's work is never thrown
    away unasked) and an existing ``OUT`` is replaced at the end, as before. With ``resume``, the
    lines of the partial file (else of ``OUT``) are kept, a last line cut short by a kill is dropped,
    and :meth:`remaining` leaves out the items they answer.

    Usage::

        with BatchOutput(out, resume) as output:
            for row in ...: output.write(json.dumps(row))
            output.finish()
    """

    def __init__(self, out: str | Path, resume: bool = False):
        from xmer.locks import Lock

        self.out = Path(out)
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.resume = resume
        self.lock = Lock(self.out.with_name(f".{self.out.name}.lock"), f"predictions {self.out}")
        self.done: Counter[str] = Counter()
        self.kept = 0
        self._file = None

    def __enter__(self) -> "BatchOutput":
        self.lock.acquire()
        try:
            self._open()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._file is not None:
                self._file.close()
                if self.partial.stat().st_size == 0:
                    self.partial.unlink()  # stopped before its first line: leaves nothing behind
        finally:
            self.lock.release()

    def _open(self) -> None:
        if self.partial.exists() and self.partial.stat().st_size == 0:
            self.partial.unlink()  # a job stopped before its first line: nothing to keep
        if self.partial.exists() and not self.resume:
            raise DataError(f"{self.partial} holds the lines of a stopped job: continue it with --resume, "
                            f"or delete it to start again")
        if self.resume and (self.partial.exists() or self.out.exists()):
            source = self.partial if self.partial.exists() else self.out
            lines, length = _read_lines(source)
            if source == self.partial:
                os.truncate(self.partial, length)  # drops a line cut short by a kill
            else:
                self.partial.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            self.done = Counter(id_key(json.loads(line)["id"]) for line in lines)
            self.kept = len(lines)
        self._file = open(self.partial, "a" if self.kept else "w", encoding="utf-8")

    def remaining(self, rows: list[tuple]) -> list[tuple]:
        """The rows (tuples whose first element is the id) that have no line yet, in order; an id
        given twice is skipped as often as it has lines."""
        left = Counter(self.done)
        todo = []
        for row in rows:
            key = id_key(row[0])
            if left[key] > 0:
                left[key] -= 1
            else:
                todo.append(row)
        return todo

    def write(self, line: str) -> None:
        """Append one output line (a JSON object, without the newline)."""
        self._file.write(line + "\n")
        self._file.flush()

    def finish(self) -> None:
        """Every item has its line: make the partial file the output."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self.partial, self.out)


def _read_lines(path: Path) -> tuple[list[str], int]:
    """The prediction lines of ``path`` and the byte length they take; a last line without its
    newline (a write cut short) is left out. DataError on any other line that is not an object with
    an id: resume continues only a file a batch job wrote."""
    lines, length = [], 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                break
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                row = None
            if not isinstance(row, dict) or "id" not in row:
                raise DataError(f"{path}, line {number}: not a prediction line (an object with an \"id\"); "
                                f"--resume continues only the output of xmer predict --batch")
            lines.append(raw.decode("utf-8").rstrip("\n"))
            length += len(raw)
    return lines, length
