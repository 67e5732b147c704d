"""Continuous batching (`xmer.serving.batching.Batcher`): requests that wait while a batch runs are
answered together, one bad item fails only its own request, and a request alone is never held back."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from xmer.serving.batching import Batcher


def run(coroutine):
    return asyncio.run(coroutine)


class Work:
    """``work`` for a Batcher: doubles numbers, fails on negative ones, and holds its first batch
    until released (so that the next requests queue up behind it)."""

    def __init__(self):
        self.batches: list[list[int]] = []
        self.first_started, self.release = threading.Event(), threading.Event()

    def __call__(self, items: list[int]) -> list:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.first_started.set()
            self.release.wait(10)
        return [ValueError(f"negative: {i}") if i < 0 else 2 * i for i in items]


def behind_a_running_batch(max_batch: int, first: int, rest: list[int]) -> tuple[Work, int, list]:
    """Submit ``first``; while its batch runs, submit ``rest``; then let the work go on. Returns
    the work (its batches) and the answers."""
    work = Work()
    with ThreadPoolExecutor(1) as pool:
        batcher = Batcher(work, pool, max_batch=max_batch)

        async def main():
            head = asyncio.ensure_future(batcher.submit(first))
            await asyncio.get_running_loop().run_in_executor(None, work.first_started.wait, 10)
            tail = [asyncio.ensure_future(batcher.submit(i)) for i in rest]
            await asyncio.sleep(0.05)  # all of them are queued while the first batch runs
            work.release.set()
            return await head, await asyncio.gather(*tail)

        head, tail = run(main())
        batcher.close()
    return work, head, tail


def test_requests_waiting_behind_a_batch_are_answered_together_in_order():
    work, first, rest = behind_a_running_batch(32, 1, list(range(2, 12)))
    assert first == 2 and rest == [2 * i for i in range(2, 12)]
    assert work.batches == [[1], list(range(2, 12))]  # alone at once, then the ten that waited in one batch


def test_batches_are_capped_at_max_batch():
    work, _, rest = behind_a_running_batch(4, 0, list(range(1, 11)))
    assert rest == [2 * i for i in range(1, 11)]
    assert [len(b) for b in work.batches] == [1, 4, 4, 2]


def test_one_bad_item_fails_only_its_own_request():
    work = Work()
    work.first_started.set(), work.release.set()
    with ThreadPoolExecutor(1) as pool:
        batcher = Batcher(work, pool)

        async def main():
            return await asyncio.gather(*(batcher.submit(i) for i in (3, -1, 5)), return_exceptions=True)

        good, bad, other = run(main())
        batcher.close()
    assert good == 6 and other == 10
    assert isinstance(bad, ValueError) and "negative: -1" in str(bad)


def test_when_the_work_itself_fails_every_request_of_its_batch_gets_the_error():
    def broken(items):
        raise RuntimeError("model fell over")

    with ThreadPoolExecutor(1) as pool:
        batcher = Batcher(broken, pool)

        async def main():
            return await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)

        results = run(main())
        batcher.close()
    assert all(isinstance(r, RuntimeError) for r in results)


def test_a_request_cancelled_while_waiting_is_left_out_of_the_next_batch():
    work = Work()
    with ThreadPoolExecutor(1) as pool:
        batcher = Batcher(work, pool)

        async def main():
            first = asyncio.ensure_future(batcher.submit(1))
            await asyncio.get_running_loop().run_in_executor(None, work.first_started.wait, 10)
            gone = asyncio.ensure_future(batcher.submit(7))
            kept = asyncio.ensure_future(batcher.submit(8))
            await asyncio.sleep(0.02)
            gone.cancel()  # what the request time-out does
            work.release.set()
            return await first, await kept

        assert run(main()) == (2, 16)
        batcher.close()
    assert work.batches == [[1], [8]]


def test_a_new_event_loop_gets_its_own_consumers():
    with ThreadPoolExecutor(1) as pool:
        batcher = Batcher(lambda items: [i + 1 for i in items], pool)
        assert run(batcher.submit(1)) == 2
        assert run(batcher.submit(2)) == 3  # a second asyncio.run: the old loop's consumers are gone
        batcher.close()


@pytest.mark.parametrize("consumers", [1, 2])
def test_many_concurrent_requests_all_get_their_own_answer(consumers):
    with ThreadPoolExecutor(consumers) as pool:
        batcher = Batcher(lambda items: [i * i for i in items], pool, max_batch=8, consumers=consumers)

        async def main():
            return await asyncio.gather(*(batcher.submit(i) for i in range(200)))

        assert run(main()) == [i * i for i in range(200)]
        assert sum(batcher.sizes) == 200 and max(batcher.sizes) <= 8
        batcher.close()
