"""CPU time split by pipeline stage from the kernel's per-thread counters."""

from __future__ import annotations

import threading
import time

import pytest

from streamguard.bench.stage_cpu import Stage, StageCpuSampler, core_ms_per_stream_s, stage_of


@pytest.mark.parametrize(
    ("name", "python_thread", "stage"),
    [
        ("ingest-file-cam1", True, Stage.DECODE),
        ("av:h264:df0", False, Stage.DECODE),
        ("faces_0", True, Stage.FACES),
        ("drishti_gl", False, Stage.FACES),
        ("streamguard-inference_0", True, Stage.DETECTOR),
        ("python3", False, Stage.NATIVE_POOL),
        ("MainThread", True, Stage.EVENT_LOOP),
        ("explain_0", True, Stage.EXPLAIN),
        ("asyncio_0", True, Stage.OTHER),
    ],
)
def test_threads_are_attributed_by_name(name: str, python_thread: bool, stage: Stage) -> None:
    assert stage_of(name, python_thread=python_thread) is stage


def _spin_then_rest(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    time.sleep(0.2)  # idle, so that the sampler reads the finished spin before the thread ends


def test_a_busy_thread_is_counted_in_its_stage_and_an_ended_one_is_kept() -> None:
    sampler = StageCpuSampler(interval_s=0.02)
    if not sampler.available:
        pytest.fail("this test needs Linux's /proc/self/task counters")
    with sampler:
        busy = threading.Thread(target=_spin_then_rest, args=(0.4,), name="faces_7")
        busy.start()
        busy.join()  # ended before the sampler stops: its ticks, read while it lived, still count
        time.sleep(0.05)
    seconds = sampler.seconds()
    assert seconds.get(Stage.FACES, 0.0) >= 0.35
    assert seconds.get(Stage.DETECTOR, 0.0) == 0.0


def test_split_is_reported_per_stream_and_second() -> None:
    split = core_ms_per_stream_s({Stage.DECODE: 1.6, Stage.FACES: 0.2}, streams=4, window_s=5.0)
    assert split == {"decode": 80.0, "faces": 10.0}
    assert core_ms_per_stream_s({Stage.DECODE: 1.0}, streams=0, window_s=5.0) == {}
