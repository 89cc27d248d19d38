"""A manual clock for deterministic fault tests: time moves only when the test says so."""

from __future__ import annotations

import asyncio
import threading


class ManualClock:
    """A `streamguard.clock.Clock` whose time moves only by `advance` and by threads that `wait`.

    On the event loop, `sleep` waits until the test `advance`s past its deadline. A decoding thread's `wait`
    is virtual time instead: it moves the clock forward itself (unless stopped), so a scripted camera's
    thread runs through a five-minute outage at once. Threads' waits do not wake the loop's sleepers.

    Args:
        start: Monotonic seconds at the start; wall time is `wall_offset` plus that.
        wall_offset: Unix time at monotonic zero.
    """

    def __init__(self, start: float = 0.0, wall_offset: float = 1_800_000_000.0) -> None:
        self.now = start
        self.wall_offset = wall_offset
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._thread_lock = threading.Lock()
        self.waits: list[float] = []
        """Every thread-side `wait`, in seconds, in order (a source's reconnect delays)."""

    def monotonic(self) -> float:
        """The current time."""
        return self.now

    def time(self) -> float:
        """The current time as Unix time."""
        return self.wall_offset + self.now

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has advanced by `seconds`."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + max(0.0, seconds), future))
        await future

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Let `seconds` pass at once (virtual time), unless `stop` is already set; returns whether it is."""
        if stop.is_set():
            return True
        self.waits.append(seconds)
        self.move(seconds)
        return stop.is_set()

    def move(self, seconds: float) -> None:
        """Let `seconds` pass, from any thread (a scripted camera's frame interval), waking no sleeper."""
        with self._thread_lock:
            self.now += max(0.0, seconds)

    @property
    def sleepers(self) -> list[float]:
        """Deadlines of the pending sleeps, soonest first."""
        return sorted(deadline for deadline, future in self._sleepers if not future.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking (in deadline order) every sleep that is due, and let them run."""
        self.now += seconds
        due = sorted((d, f) for d, f in self._sleepers if d <= self.now and not f.done())
        self._sleepers = [(d, f) for d, f in self._sleepers if d > self.now and not f.done()]
        for _, future in due:
            future.set_result(None)
        for _ in range(10):  # let the woken tasks run to their next await
            await asyncio.sleep(0)

    async def until_sleeping(self, count: int = 1) -> None:
        """Let the loop run until at least `count` sleeps are pending (the code under test reached its wait)."""
        for _ in range(1000):
            if len(self.sleepers) >= count:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"expected {count} pending sleep(s), found {len(self.sleepers)}")
