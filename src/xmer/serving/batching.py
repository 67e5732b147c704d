"""Continuous batching: requests that arrive while others are being served are answered together.

A :class:`Batcher` owns a queue and ``consumers`` tasks on the event loop. A consumer takes every
request waiting (up to ``max_batch``), runs them in one call of ``work`` in a worker thread, and
answers each; whatever arrives meanwhile waits for the next call. No request waits for company:
one that arrives alone is served at once. Under load the batches grow by themselves; one call for
many requests saves their hand-offs between the event loop and the worker thread (the work itself
may still go one input at a time, as the server's text predictions do, so an answer never depends
on the company it arrived in).

``work(items) -> results`` answers a list of inputs in order; a result that is an exception is
raised in that request only, so one bad input never fails the others of its batch.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Any, Callable


class Batcher:
    """Requests of one kind, answered in batches by ``work`` on ``pool``'s threads."""

    def __init__(self, work: Callable[[list], list], pool: Executor, max_batch: int = 32, consumers: int = 1):
        self.work, self.pool, self.max_batch, self.consumers = work, pool, max_batch, consumers
        self.sizes: list[int] = []
        """The size of every batch run so far (for tests and diagnostics; the last 1,000)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._tasks: list[asyncio.Task] = []

    async def submit(self, item: Any) -> Any:
        """The answer to ``item``, computed in a batch with the other requests waiting."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or a new event loop (tests): start the consumers on it
            self._start(loop)
        future = loop.create_future()
        self._queue.put_nowait((item, future))
        return await future

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks, self._loop = [], None

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.close()
        self._loop, self._queue = loop, asyncio.Queue()
        self._tasks = [loop.create_task(self._consume()) for _ in range(self.consumers)]

    async def _consume(self) -> None:
        queue = self._queue
        while True:
            waiting = [await queue.get()]
            while len(waiting) < self.max_batch and not queue.empty():
                waiting.append(queue.get_nowait())
            waiting = [(item, future) for item, future in waiting if not future.done()]  # timed out meanwhile
            if not waiting:
                continue
            self.sizes = [*self.sizes[-999:], len(waiting)]
            try:
                results = await asyncio.get_running_loop().run_in_executor(self.pool, self.work, [i for i, _ in waiting])
            except Exception as error:  # work itself failed: every request of the batch gets the error
                results = [error] * len(waiting)
            for (_, future), result in zip(waiting, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
