"""Sources whose decoding runs in a daemon thread per stream and feeds the event loop through a queue."""

from __future__ import annotations

import asyncio
import logging
import threading
import traceback
from abc import abstractmethod

from streamguard.clock import SYSTEM_CLOCK, Clock
from streamguard.ingest.base import BaseSource, EventCallback, SourceStats
from streamguard.ingest.feed import DEFAULT_MAX_PIXELS, FrameFeed
from streamguard.ingest.reporting import StreamReporter
from streamguard.redaction import redact_text, redact_url
from streamguard.types import Frame

logger = logging.getLogger(__name__)


class ThreadedSource(BaseSource):
    """A source decoding in its own daemon thread; subclasses implement `_run`.

    The thread checks a stop event on every packet, and PyAV's blocking reads are bounded by the read
    timeout, so `close` returns within about `join_timeout_s` even when the peer hangs.

    Args:
        stream_id: The stream's id.
        url: What to open (kept private; only its redacted form is ever logged or published).
        analysis_fps: Samples per second.
        queue_size: Sampled frames waiting for analysis.
        drop_oldest: Drop the oldest waiting frame when the queue is full, instead of blocking the decoder.
        max_pixels: Larger sampled frames are dropped before conversion.
        on_event: Optional subscriber to `SourceEvent`s, called on the event loop.
        join_timeout_s: How long `close` waits for the thread.
        clock: Time for frame timestamps, the stall watchdog and reconnect waits (a manual one in tests).
    """

    def __init__(
        self,
        stream_id: str,
        url: str,
        *,
        analysis_fps: float,
        queue_size: int,
        drop_oldest: bool,
        on_event: EventCallback | None,
        join_timeout_s: float,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.stream_id = stream_id
        self.stats = SourceStats()
        self._url = url
        self._display_url = redact_url(url)
        self._reporter = StreamReporter(stream_id, self._display_url, on_event, self.stats)
        self._feed = FrameFeed(
            self._reporter,
            analysis_fps=analysis_fps,
            queue_size=queue_size,
            drop_oldest=drop_oldest,
            max_pixels=max_pixels,
            clock=clock,
        )
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._join_timeout_s = join_timeout_s
        self._closed = False

    @property
    def display_url(self) -> str:
        """The URL with credentials redacted."""
        return self._display_url

    @property
    def analysis_fps(self) -> float:
        """Samples per second of media time."""
        return self._feed.sampler.analysis_fps

    @property
    def pending(self) -> int:
        """What waits for `recv`: sampled frames, and a marker for each outage since."""
        return self._feed.queue.qsize()

    async def start(self) -> None:
        """Start the decoding thread (once); a dead stream is reported in `stats`, never raised."""
        if self._thread is not None or self._closed:
            return
        self._reporter.bind(asyncio.get_running_loop())
        self._thread = threading.Thread(
            target=self._thread_main, name=f"ingest-{self.kind}-{self.stream_id}", daemon=True
        )
        self._thread.start()

    async def recv(self) -> Frame:
        """The next sampled frame.

        Raises:
            SourceEnded: When the stream finished for good or the source was closed.
        """
        return await self._feed.get()

    async def close(self) -> None:
        """Stop the thread, discard pending frames and wake `recv` with `SourceEnded`; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._feed.abort("closed")
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        await asyncio.to_thread(thread.join, self._join_timeout_s)
        if thread.is_alive():
            logger.warning(
                "stream %s: decoder thread still busy %.1f s after close; leaving it to finish",
                self.stream_id,
                self._join_timeout_s,
                extra=self._reporter.extra,
            )

    @abstractmethod
    def _run(self, stop: threading.Event) -> str:
        """Decode until done or `stop` is set, feeding `self._feed`; returns why it ended."""

    def _went_down(self, message: str) -> None:
        """A failure (already redacted) took the stream down: counted, reported, and queued for the reader."""
        self._reporter.error(message)
        self._reporter.down(message)
        self._feed.interrupt(message)

    def _redact(self, text: str) -> str:
        return redact_text(text, [self._url])

    def _thread_main(self) -> None:
        reason = "closed"
        try:
            reason = self._run(self._stop)
        except Exception as e:  # the stream supervisor: nothing may escape the thread
            # Not logger.exception: the exception text may quote the URL, so the traceback is redacted first.
            logger.error(
                "stream %s: ingest thread failed:\n%s",
                self.stream_id,
                self._redact("".join(traceback.format_exception(e))),
                extra=self._reporter.extra,
            )
            reason = "internal error: " + self._redact(f"{type(e).__name__}: {e}")
            self._reporter.error(reason)
        finally:
            self._reporter.down(reason)
            self._feed.end(reason)
