"""The stream supervisor: a failing worker restarts with capped, growing delays, visible in state and metrics."""

from __future__ import annotations

import asyncio
import random
from typing import Any, cast

import pytest

from streamguard.config import StreamConfig
from streamguard.daemon import core
from streamguard.daemon.core import StreamHandle, supervise
from streamguard.daemon.worker import StreamWorker, WorkerStatus
from streamguard.ingest.backoff import Backoff
from streamguard.ingest.base import BaseSource, SourceStats
from streamguard.scoring.alerts import StreamScorer
from streamguard.sinks.metrics import Metrics
from tests.support.clock import ManualClock
from tests.support.daemon_checks import metric_value


class FlakyWorker:
    """Fails `failures` times, then returns; each run lasts `run_s` of the clock; notes the pending restart."""

    def __init__(self, failures: int, clock: ManualClock | None = None, run_s: float = 0.0) -> None:
        self.failures = failures
        self.clock = clock
        self.run_s = run_s
        self.calls = 0
        self.handle: StreamHandle | None = None
        self.retry_seen: list[float | None] = []
        self.status = WorkerStatus()  # what `stream_state` reads
        self.scorer = StreamScorer("cam")

    async def run(self) -> None:
        self.calls += 1
        assert self.handle is not None
        self.retry_seen.append(self.handle.retry_at)
        if self.clock is not None:
            self.clock.now += self.run_s  # the run took this long
        if self.calls <= self.failures:
            raise RuntimeError(f"boom {self.calls}")


class RecordingBackoff(Backoff):
    def __init__(self) -> None:
        super().__init__(initial_s=0.01, max_s=0.04, jitter=0.0, rng=random.Random(0))
        self.delays: list[float] = []
        self.resets = 0

    def next_delay(self) -> float:
        delay = super().next_delay()
        self.delays.append(delay)
        return delay

    def reset(self) -> None:
        self.resets += 1
        super().reset()


def handle_for(worker: FlakyWorker, backoff: Backoff) -> StreamHandle:
    config = StreamConfig.model_validate({"id": "cam", "url": "rtsp://cam.example/stream"})
    handle = StreamHandle(config, cast(BaseSource, object()), cast(StreamWorker, worker), backoff=backoff)
    worker.handle = handle
    return handle


async def test_failing_worker_restarts_with_growing_capped_delays() -> None:
    clock = ManualClock()
    worker, backoff, metrics = FlakyWorker(failures=4), RecordingBackoff(), Metrics()
    handle = handle_for(worker, backoff)
    task = asyncio.create_task(supervise(handle, metrics, clock))
    waits = []
    for _ in range(4):
        await clock.until_sleeping()
        waits.append(clock.sleepers[0] - clock.now)
        await clock.advance(waits[-1])
    await asyncio.wait_for(task, timeout=5)
    assert worker.calls == 5 and handle.restarts == 4
    assert backoff.delays == [0.01, 0.02, 0.04, 0.04]  # doubling, capped at max_s
    assert waits == pytest.approx(backoff.delays)  # ... and slept exactly that long
    assert backoff.resets == 0  # every run failed at once: no healthy run to reset the delays
    assert worker.retry_seen == [None] * 5  # the pending restart is cleared once the worker runs again
    body = metrics.render()[0].decode()
    assert metric_value(body, "streamguard_worker_restarts_total", stream="cam") == 4
    assert metric_value(body, "streamguard_stream_errors_total", stream="cam") == 4


@pytest.mark.parametrize(("run_s", "resets"), [(core.WORKER_HEALTHY_S + 0.5, 3), (core.WORKER_HEALTHY_S - 0.5, 0)])
async def test_only_a_worker_that_ran_long_enough_restarts_at_the_shortest_delay(run_s: float, resets: int) -> None:
    clock = ManualClock()
    worker, backoff = FlakyWorker(failures=3, clock=clock, run_s=run_s), RecordingBackoff()
    task = asyncio.create_task(supervise(handle_for(worker, backoff), Metrics(), clock))
    for _ in range(3):
        await clock.until_sleeping()
        await clock.advance(clock.sleepers[0] - clock.now)
    await asyncio.wait_for(task, timeout=5)
    assert backoff.resets == resets
    assert backoff.delays == ([0.01, 0.01, 0.01] if resets else [0.01, 0.02, 0.04])


async def test_pending_restart_is_in_the_state_hash_to_the_hundredth() -> None:
    clock = ManualClock()
    worker, backoff = FlakyWorker(failures=1), Backoff(initial_s=0.5, max_s=0.5, jitter=0.0)
    handle = handle_for(worker, backoff)
    handle.source = cast(Any, SourceStub())
    task = asyncio.create_task(supervise(handle, Metrics(), clock))
    await clock.until_sleeping()
    state = core.stream_state(handle, clock)
    assert state.worker_restarts == 1 and state.worker_retry_in_s == 0.5
    await clock.advance(0.3)
    assert core.stream_state(handle, clock).worker_retry_in_s == 0.2
    await clock.advance(0.2)
    await asyncio.wait_for(task, timeout=5)
    state = core.stream_state(handle, clock)
    assert state.worker_retry_in_s == 0.0 and state.worker_restarts == 1


class SourceStub:
    """Just enough of a source for `stream_state`."""

    display_url = "rtsp://cam.example/stream"

    def __init__(self) -> None:
        self.stats = SourceStats()
