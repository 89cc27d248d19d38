"""The passing of time, injectable: `SystemClock` in the daemon, a manual clock in deterministic tests.

Code that waits or measures durations (the supervisor's restart backoff and its healthy-run rule, the state
hash's pending restart, a decoding thread's stall watchdog and reconnect backoff, the timestamps of sampled
frames) takes a `Clock`, so fault tests drive time forward step by step instead of sleeping.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time for durations, wall time for timestamps, and sleeping on the same time line."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def time(self) -> float:
        """Unix time in seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Block the calling (non-loop) thread for `seconds` of this clock's time or until `stop` is set.

        Returns:
            Whether `stop` is set.
        """
        ...


class SystemClock:
    """The real clocks and `asyncio.sleep`."""

    def monotonic(self) -> float:
        """`time.monotonic`."""
        return time.monotonic()

    def time(self) -> float:
        """`time.time`."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep`."""
        await asyncio.sleep(seconds)

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """`threading.Event.wait`."""
        return stop.wait(seconds)


SYSTEM_CLOCK = SystemClock()
