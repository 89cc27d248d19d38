"""CPU time of the daemon's process split by pipeline stage, from the kernel's per-thread counters.

Every stage runs on threads it names (`ingest-*`, `faces_*`, `streamguard-inference_*`, `explain_*`, the event
loop on `MainThread`), and the native libraries start their own (FFmpeg's `av:*` frame threads, MediaPipe's
`drishti*`, ONNX Runtime's unnamed intra-op pool). A sampler thread reads `/proc/self/task/*/stat` every
`interval_s` and adds each thread's CPU ticks to its stage, so threads that come and go (decoders of a looping
file, a reconnecting camera) are counted up to their last sample. Linux only: elsewhere the split is empty.
"""

from __future__ import annotations

import enum
import os
import re
import threading
from collections import Counter
from pathlib import Path
from types import TracebackType

TASKS = Path("/proc/self/task")
SAMPLER_THREAD = "stage-cpu-sampler"


class Stage(enum.StrEnum):
    """Where a thread's CPU time goes."""

    DECODE = "decode"
    """Demuxing, decoding, pacing and converting sampled frames (`ingest-*` and FFmpeg's `av:*` threads)."""
    FACES = "faces"
    """Face detection (MediaPipe's threads included), following, crops."""
    DETECTOR = "detector"
    """The inference thread (the batcher's calls into the runtime)."""
    NATIVE_POOL = "native_pool"
    """Unnamed native threads: ONNX Runtime's intra-op pool (gone with one inference thread), OpenCV's."""
    EVENT_LOOP = "event_loop"
    """The asyncio loop: tracking, scoring, alert rules, sinks, metrics."""
    EXPLAIN = "explain"
    """Explanations of alert events."""
    OTHER = "other"
    """Everything else (`asyncio.to_thread` workers, console)."""


_RULES: tuple[tuple[re.Pattern[str], Stage], ...] = (
    (re.compile(r"^(ingest-|av:)"), Stage.DECODE),
    (re.compile(r"^(faces_|drishti)"), Stage.FACES),
    (re.compile(r"^streamguard-inference"), Stage.DETECTOR),
    (re.compile(r"^MainThread$"), Stage.EVENT_LOOP),
    (re.compile(r"^explain_"), Stage.EXPLAIN),
)


def stage_of(thread_name: str, *, python_thread: bool) -> Stage:
    """The stage a thread works for, by its Python name (or its kernel name for native threads)."""
    for pattern, stage in _RULES:
        if pattern.match(thread_name):
            return stage
    return Stage.OTHER if python_thread else Stage.NATIVE_POOL


class StageCpuSampler:
    """Counts this process's CPU time per `Stage` while started (a context manager).

    Args:
        interval_s: How often the per-thread counters are read; a thread's CPU after its last read is lost.
    """

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self._ticks: Counter[Stage] = Counter()
        self._last: dict[int, tuple[Stage, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether the kernel exposes per-thread counters here."""
        return TASKS.is_dir()

    def __enter__(self) -> StageCpuSampler:
        if self.available:
            self._read(count=False)
            self._thread = threading.Thread(target=self._run, name=SAMPLER_THREAD, daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, _exc_type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._read(count=True)

    def seconds(self) -> dict[Stage, float]:
        """CPU seconds per stage counted so far (stages with none are left out)."""
        with self._lock:
            return {stage: ticks / self._hz for stage, ticks in self._ticks.items() if ticks}

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._read(count=True)

    def _read(self, *, count: bool) -> None:
        python_names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
        for tid, kernel_name, ticks in _thread_ticks():
            name = python_names.get(tid)
            if name == SAMPLER_THREAD:
                continue
            stage = stage_of(name or kernel_name, python_thread=name is not None)
            previous = self._last.get(tid)
            self._last[tid] = (stage, ticks)
            if count:
                with self._lock:
                    self._ticks[stage] += ticks - (previous[1] if previous else 0)


def cpu_ticks(stat_file: Path) -> int:
    """User + system clock ticks in a ``/proc/PID/stat`` (or ``.../task/TID/stat``) file.

    Raises:
        OSError: The process or thread is gone.
    """
    # Fields after the parenthesised name: state is field 3, utime 14 and stime 15 (proc(5)).
    fields = stat_file.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _thread_ticks() -> list[tuple[int, str, int]]:
    """(thread id, kernel name, user + system ticks) of every live thread of this process."""
    out = []
    for entry in TASKS.iterdir():
        try:
            kernel_name = (entry / "comm").read_text().strip()
            ticks = cpu_ticks(entry / "stat")
        except OSError:  # the thread ended between listing and reading
            continue
        out.append((int(entry.name), kernel_name, ticks))
    return out


def core_ms_per_stream_s(seconds: dict[Stage, float], streams: int, window_s: float) -> dict[str, float]:
    """Per-stage CPU as core-milliseconds per stream and second of video, rounded for reports."""
    if not streams or window_s <= 0:
        return {}
    return {stage.value: round(1000.0 * s / (streams * window_s), 1) for stage, s in sorted(seconds.items())}
