"""MicroBatcher: exactly-once FIFO answers, size-or-deadline flush, failure isolation, OOM halving, draining."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamguard.inference.batcher import (
    BatcherClosedError,
    BatchSizeMismatchError,
    MicroBatcher,
    is_out_of_memory,
)

PROPERTY_SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Item = tuple[int, int]  # (stream, sequence number within the stream)


class PoisonError(Exception):
    pass


class FakeCudaOutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError; the batcher must recognise it by name."""


class Recorder:
    """A batch function that records every call (batch contents and thread) and can sleep or fail."""

    def __init__(self, work_s: float = 0.0, poison: frozenset[Item] = frozenset()) -> None:
        self.batches: list[list[Item]] = []
        self.threads: set[int] = set()
        self.work_s = work_s
        self.poison = poison

    def __call__(self, items: Sequence[Item]) -> list[tuple[str, Item]]:
        self.batches.append(list(items))
        self.threads.add(threading.get_ident())
        if self.work_s:
            time.sleep(self.work_s)
        if self.poison.intersection(items):
            raise PoisonError(f"poisoned batch {list(items)}")
        return [("done", item) for item in items]


async def wait_until(cond: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)


async def submit_streams(
    batcher: MicroBatcher[Item, tuple[str, Item]], gaps_ms: list[list[int]]
) -> tuple[dict[Item, object], dict[int, list[int]]]:
    """Each stream submits its items as separate tasks (so several are in flight), with small gaps between.

    Returns each item's outcome (result or exception) and, per stream, the order in which answers arrived.
    """
    outcomes: dict[Item, object] = {}
    answered: dict[int, list[int]] = {stream: [] for stream in range(len(gaps_ms))}

    async def one(item: Item) -> None:
        try:
            outcomes[item] = await batcher.submit(item)
        except Exception as e:
            outcomes[item] = e
        answered[item[0]].append(item[1])

    async def stream(stream_id: int, gaps: list[int]) -> list[asyncio.Task[None]]:
        tasks = []
        for seq, gap in enumerate(gaps):
            await asyncio.sleep(gap / 1000)
            tasks.append(asyncio.create_task(one((stream_id, seq))))
        return tasks

    per_stream = await asyncio.gather(*(stream(i, gaps) for i, gaps in enumerate(gaps_ms)))
    await asyncio.wait_for(asyncio.gather(*(t for tasks in per_stream for t in tasks)), timeout=20)
    return outcomes, answered


streams_strategy = st.lists(st.lists(st.integers(0, 2), min_size=1, max_size=12), min_size=1, max_size=4)


@PROPERTY_SETTINGS
@given(
    gaps_ms=streams_strategy,
    max_batch=st.integers(1, 8),
    max_delay_ms=st.sampled_from([0.0, 0.5, 2.0, 5.0]),
    work_ms=st.sampled_from([0.0, 0.5, 2.0]),
)
def test_every_item_answered_once_with_its_own_result_in_stream_order(
    gaps_ms: list[list[int]], max_batch: int, max_delay_ms: float, work_ms: float
) -> None:
    process = Recorder(work_s=work_ms / 1000)

    async def scenario() -> tuple[dict[Item, object], dict[int, list[int]]]:
        batcher = MicroBatcher(process, max_batch=max_batch, max_delay_s=max_delay_ms / 1000)
        await batcher.start()
        result = await submit_streams(batcher, gaps_ms)
        assert batcher.pending == 0
        await batcher.close()
        return result

    outcomes, answered = asyncio.run(scenario())
    submitted = [(s, i) for s, gaps in enumerate(gaps_ms) for i in range(len(gaps))]
    assert outcomes == {item: ("done", item) for item in submitted}
    processed = Counter(item for batch in process.batches for item in batch)
    assert processed == Counter(submitted)  # each item processed exactly once
    for stream, gaps in enumerate(gaps_ms):
        assert answered[stream] == list(range(len(gaps)))
    assert all(1 <= len(batch) <= max_batch for batch in process.batches)
    assert threading.get_ident() not in process.threads


@PROPERTY_SETTINGS
@given(
    gaps_ms=streams_strategy,
    poison_every=st.integers(2, 7),
    max_batch=st.integers(1, 6),
)
def test_a_failed_batch_fails_exactly_its_own_items(
    gaps_ms: list[list[int]], poison_every: int, max_batch: int
) -> None:
    submitted = [(s, i) for s, gaps in enumerate(gaps_ms) for i in range(len(gaps))]
    poison = frozenset(item for n, item in enumerate(submitted) if n % poison_every == 1)
    process = Recorder(poison=poison)

    async def scenario() -> dict[Item, object]:
        batcher = MicroBatcher(process, max_batch=max_batch, max_delay_s=0.002)
        outcomes, _ = await submit_streams(batcher, gaps_ms)
        await batcher.close()
        return outcomes

    outcomes = asyncio.run(scenario())
    batch_of = {item: batch for batch in process.batches for item in batch}
    assert set(batch_of) == set(submitted)
    for item in submitted:
        if poison.intersection(batch_of[item]):
            assert isinstance(outcomes[item], PoisonError)
        else:
            assert outcomes[item] == ("done", item)


def test_items_trickling_in_are_flushed_by_the_deadline_not_the_size() -> None:
    max_delay_s = 0.02
    process = Recorder()

    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        batcher = MicroBatcher(process, max_batch=8, max_delay_s=max_delay_s)
        waits = []
        for seq in range(5):
            started = loop.time()
            assert await batcher.submit((0, seq)) == ("done", (0, seq))
            waits.append(loop.time() - started)
        await batcher.close()
        return waits

    waits = asyncio.run(scenario())
    assert [len(batch) for batch in process.batches] == [1] * 5
    # A lone item waits for the deadline (never flushed early) but not much longer (generous bound).
    assert all(max_delay_s - 1e-3 <= wait < max_delay_s + 2.0 for wait in waits), waits


def test_a_full_batch_is_flushed_without_waiting_for_the_deadline() -> None:
    process = Recorder()

    async def scenario() -> None:
        batcher = MicroBatcher(process, max_batch=4, max_delay_s=60.0)
        results = await asyncio.wait_for(asyncio.gather(*(batcher.submit((0, i)) for i in range(4))), timeout=10)
        assert results == [("done", (0, i)) for i in range(4)]
        await batcher.close()

    asyncio.run(scenario())
    assert process.batches == [[(0, i) for i in range(4)]]


def test_process_runs_off_the_event_loop_which_keeps_running() -> None:
    process = Recorder(work_s=0.3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def scenario() -> None:
        batcher = MicroBatcher(process, max_batch=2, max_delay_s=0.0)
        tick_task = asyncio.create_task(ticker())
        assert await batcher.submit((0, 0)) == ("done", (0, 0))
        tick_task.cancel()
        await batcher.close()

    asyncio.run(scenario())
    assert threading.get_ident() not in process.threads
    assert ticks >= 5  # the loop ticked while `process` slept 0.3 s in its thread


def test_out_of_memory_halves_max_batch_and_retries_in_halves() -> None:
    calls: list[int] = []

    def process(items: Sequence[int]) -> list[int]:
        calls.append(len(items))
        if len(items) > 4:
            raise FakeCudaOutOfMemoryError("CUDA out of memory")
        return [i * 10 for i in items]

    async def scenario() -> int:
        batcher = MicroBatcher(process, max_batch=8, max_delay_s=60.0)
        first = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(8))), timeout=10)
        assert first == [i * 10 for i in range(8)]
        later = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(8, 16))), timeout=10)
        assert later == [i * 10 for i in range(8, 16)]
        await batcher.close()
        return batcher.max_batch

    assert asyncio.run(scenario()) == 4
    assert calls == [8, 4, 4, 4, 4]


def test_a_half_that_runs_out_of_memory_again_fails_only_its_own_items() -> None:
    def process(items: Sequence[int]) -> list[int]:
        if 0 in items:
            raise MemoryError("still too big")
        return list(items)

    async def scenario() -> tuple[list[int | BaseException], int]:
        batcher = MicroBatcher(process, max_batch=8, max_delay_s=60.0)
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(batcher.submit(i) for i in range(8)), return_exceptions=True), timeout=10
        )
        await batcher.close()
        return outcomes, batcher.max_batch

    outcomes, max_batch = asyncio.run(scenario())
    assert all(isinstance(o, MemoryError) for o in outcomes[:4])
    assert outcomes[4:] == [4, 5, 6, 7]
    assert max_batch == 2  # halved for the batch, halved again for the failed half


def test_out_of_memory_on_a_single_item_fails_that_item() -> None:
    def process(items: Sequence[int]) -> list[int]:
        if 13 in items:
            raise FakeCudaOutOfMemoryError("one crop is too big")
        return list(items)

    async def scenario() -> None:
        batcher = MicroBatcher(process, max_batch=1, max_delay_s=0.0)
        with pytest.raises(FakeCudaOutOfMemoryError):
            await batcher.submit(13)
        assert await batcher.submit(14) == 14
        assert batcher.max_batch == 1
        await batcher.close()

    asyncio.run(scenario())


def test_is_out_of_memory_matches_memory_errors_and_oom_class_names() -> None:
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(FakeCudaOutOfMemoryError())
    assert not is_out_of_memory(RuntimeError("out of memory"))
    assert not is_out_of_memory(PoisonError())


def test_close_drains_every_queued_item_then_refuses_new_ones() -> None:
    process = Recorder()

    async def scenario() -> None:
        batcher = MicroBatcher(process, max_batch=100, max_delay_s=60.0)
        tasks = [asyncio.create_task(batcher.submit((0, i))) for i in range(10)]
        await wait_until(lambda: batcher.pending == 10)
        await asyncio.wait_for(batcher.close(), timeout=10)  # does not wait for the 60 s deadline
        assert [t.result() for t in tasks] == [("done", (0, i)) for i in range(10)]
        with pytest.raises(BatcherClosedError):
            await batcher.submit((0, 99))
        await batcher.close()  # idempotent

    asyncio.run(scenario())
    assert process.batches == [[(0, i) for i in range(10)]]


def test_cancelling_a_queued_submit_removes_only_that_item() -> None:
    release = threading.Event()
    seen: list[int] = []

    def process(items: Sequence[int]) -> list[int]:
        seen.extend(items)
        release.wait(timeout=10)
        return [i + 100 for i in items]

    async def scenario() -> None:
        batcher = MicroBatcher(process, max_batch=1, max_delay_s=0.0)
        first = asyncio.create_task(batcher.submit(0))
        await wait_until(lambda: batcher.in_flight == 1)
        queued = [asyncio.create_task(batcher.submit(i)) for i in (1, 2, 3)]
        await wait_until(lambda: batcher.pending == 3)
        queued[1].cancel()
        await wait_until(lambda: batcher.pending == 2)
        release.set()
        assert await first == 100
        assert await queued[0] == 101
        assert await queued[2] == 103
        with pytest.raises(asyncio.CancelledError):
            await queued[1]
        await batcher.close()

    asyncio.run(scenario())
    assert seen == [0, 1, 3]


def test_cancelling_an_in_flight_submit_leaves_its_batch_mates_answered() -> None:
    release = threading.Event()

    def process(items: Sequence[int]) -> list[int]:
        release.wait(timeout=10)
        return [i + 100 for i in items]

    async def scenario() -> None:
        batcher = MicroBatcher(process, max_batch=2, max_delay_s=60.0)
        a = asyncio.create_task(batcher.submit(1))
        b = asyncio.create_task(batcher.submit(2))
        await wait_until(lambda: batcher.in_flight == 2)
        a.cancel()
        await asyncio.sleep(0.01)
        release.set()
        assert await b == 102
        assert a.cancelled()
        later = await asyncio.wait_for(asyncio.gather(batcher.submit(3), batcher.submit(4)), timeout=10)
        assert list(later) == [103, 104]
        await batcher.close()

    asyncio.run(scenario())


def test_wrong_number_of_results_fails_the_batch() -> None:
    async def scenario() -> None:
        def short(items: Sequence[int]) -> list[int]:
            return list(items)[:-1]

        batcher = MicroBatcher(short, max_batch=2, max_delay_s=60.0)
        outcomes = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        assert all(isinstance(o, BatchSizeMismatchError) for o in outcomes)
        await batcher.close()

    asyncio.run(scenario())


def test_on_batch_reports_sizes_and_durations_and_its_failures_do_not_stop_batching() -> None:
    reports: list[tuple[int, float]] = []

    def on_batch(size: int, seconds: float) -> None:
        reports.append((size, seconds))
        raise RuntimeError("metrics bug")

    async def scenario() -> None:
        batcher = MicroBatcher(Recorder(work_s=0.01), max_batch=3, max_delay_s=60.0, on_batch=on_batch)
        results = await asyncio.wait_for(asyncio.gather(*(batcher.submit((0, i)) for i in range(6))), timeout=10)
        assert results == [("done", (0, i)) for i in range(6)]
        await batcher.close()

    asyncio.run(scenario())
    assert [size for size, _ in reports] == [3, 3]
    assert all(seconds >= 0.01 for _, seconds in reports)


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(Recorder(), max_batch=0)
    with pytest.raises(ValueError, match="max_delay_s"):
        MicroBatcher(Recorder(), max_delay_s=-1)
