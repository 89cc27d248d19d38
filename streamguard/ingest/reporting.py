"""Bookkeeping shared by all sources: statistics, events delivered on the loop, and calm logging.

A camera that is down for an hour must not write a traceback per retry: a failure is logged at WARNING
when the state or the message changes, and repeats of the same message go to DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from streamguard.ingest.base import EventCallback, SourceEvent, SourceEventKind, SourceStats
from streamguard.ingest.sampling import RateMeter

logger = logging.getLogger(__name__)

# Decoded-frame events are batched: one event per sampled frame or per this many seconds.
_DECODED_FLUSH_S = 0.25


class StreamReporter:
    """Updates a stream's `SourceStats`, emits `SourceEvent`s and logs state changes once.

    Thread-safe for one producer thread (the decoder) plus readers; events are handed to `on_event` on the
    event loop given to `bind` (via ``call_soon_threadsafe``), so subscribers never run on the decoder thread.

    Args:
        stream_id: The stream's id.
        display_url: The redacted URL, quoted in log lines and `last_error`.
        on_event: Optional subscriber.
        stats: The record to update (a new one by default).
    """

    def __init__(
        self,
        stream_id: str,
        display_url: str,
        on_event: EventCallback | None = None,
        stats: SourceStats | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.display_url = display_url
        self.stats = stats if stats is not None else SourceStats()
        self._on_event = on_event
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._state: bool | None = None  # None until the first up/down
        self._last_logged_error = ""
        self._pending_decoded = 0
        self._last_flush = 0.0
        self._fps_in = RateMeter()
        self._fps_sampled = RateMeter()

    @property
    def extra(self) -> dict[str, str]:
        """The ``extra=`` mapping for log records about this stream."""
        return {"stream_id": self.stream_id}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver events on `loop` from now on."""
        self._loop = loop

    def emit(self, kind: SourceEventKind, reason: str = "", count: int = 1) -> None:
        """Hand an event to the subscriber on the loop; dropped silently once the loop is gone."""
        if self._on_event is None or self._loop is None or self._loop.is_closed():
            return
        event = SourceEvent(self.stream_id, kind, reason, count)
        try:
            self._loop.call_soon_threadsafe(self._on_event, event)
        except RuntimeError:  # the loop closed between the check and the call
            return

    def frame_decoded(self) -> int:
        """Count a decoded frame; returns its 0-based decode index."""
        now = time.monotonic()
        with self._lock:
            index = self.stats.decoded
            self.stats.decoded += 1
            self.stats.last_frame_wall = time.time()
            self.stats.fps_in = self._fps_in.tick(now)
            self._pending_decoded += 1
        if now - self._last_flush >= _DECODED_FLUSH_S:
            self.flush_decoded(now)
        return index

    def frame_sampled(self) -> None:
        """Count a frame picked for analysis (also flushes the decoded count)."""
        now = time.monotonic()
        with self._lock:
            self.stats.sampled += 1
            self.stats.fps_sampled = self._fps_sampled.tick(now)
        self.flush_decoded(now)
        self.emit("sampled")

    def flush_decoded(self, now: float | None = None) -> None:
        """Emit the decoded frames counted since the last flush as one event."""
        with self._lock:
            pending, self._pending_decoded = self._pending_decoded, 0
            self._last_flush = time.monotonic() if now is None else now
        if pending:
            self.emit("decoded", count=pending)

    def dropped(self, reason: str) -> None:
        """Count a sampled frame discarded before analysis."""
        with self._lock:
            self.stats.dropped[reason] = self.stats.dropped.get(reason, 0) + 1
        self.emit("dropped", reason)

    def opened(self) -> None:
        """Count a successful open."""
        with self._lock:
            self.stats.opens += 1

    def up(self) -> None:
        """Frames are flowing: mark the stream up (event and log only on a change)."""
        self.stats.up = True
        if self._state is True:
            return
        was_down = self._state is False
        self._state = True
        self._last_logged_error = ""
        verb = "recovered" if was_down else "is up"
        logger.info("stream %s %s (%s)", self.stream_id, verb, self.display_url, extra=self.extra)
        self.emit("up")

    def down(self, reason: str) -> None:
        """Frames stopped: mark the stream down (event and log only on a change)."""
        self.flush_decoded()
        with self._lock:
            self.stats.up = False
            self.stats.fps_in = self.stats.fps_sampled = 0.0
            self._fps_in.reset()
            self._fps_sampled.reset()
        if self._state is False:
            return
        self._state = False
        # The failure itself was logged at WARNING by `error`; the state change is informational.
        logger.info("stream %s is down: %s", self.stream_id, reason, extra=self.extra)
        self.emit("down", reason)

    def error(self, message: str) -> str:
        """Record a failure (already redacted); logs at WARNING when new, DEBUG when repeated.

        Returns:
            The recorded `last_error`: ``stream <id> (<url>): <message>``.
        """
        full = f"stream {self.stream_id} ({self.display_url}): {message}"
        with self._lock:
            self.stats.errors += 1
            self.stats.last_error = full
        level = logging.DEBUG if message == self._last_logged_error else logging.WARNING
        self._last_logged_error = message
        logger.log(level, "%s", full, extra=self.extra)
        self.emit("error", message)
        return full

    def stall(self) -> None:
        """Count a stall (no frame within the stall timeout on an open stream)."""
        with self._lock:
            self.stats.stalls += 1
        self.emit("stall")

    def reconnect(self, delay_s: float) -> None:
        """Count a reconnect attempt made after waiting `delay_s`."""
        with self._lock:
            self.stats.reconnects += 1
        logger.debug(
            "stream %s: reconnecting after %.2f s (attempt %d)",
            self.stream_id,
            delay_s,
            self.stats.reconnects,
            extra=self.extra,
        )
        self.emit("reconnect")
