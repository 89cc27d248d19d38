"""A source fed frames by an external producer (e.g. a WebRTC track), with the same sampling and queue."""

from __future__ import annotations

import asyncio

import av

from streamguard.ingest.base import BaseSource, EventCallback, SourceStats
from streamguard.ingest.feed import DEFAULT_MAX_PIXELS, FrameFeed
from streamguard.ingest.reporting import StreamReporter
from streamguard.redaction import redact_url
from streamguard.types import Frame


class PushSource(BaseSource):
    """Frames arrive through `push` (from the event loop or any thread) instead of a decoding thread.

    The producer calls `push` for every decoded frame; only frames due at `analysis_fps` are converted to
    RGB (on the caller's thread) and queued, drop-oldest. `end` finishes the stream after the queued frames;
    `fail` reports a producer error and marks the stream down.

    Args:
        stream_id: The stream's id.
        origin: Where frames come from, for logs (redacted if it is a URL), e.g. ``whip://peer``.
        analysis_fps: Samples per second.
        queue_size: Sampled frames waiting for analysis.
        max_pixels: Larger sampled frames are dropped (``frame_too_large``) before conversion.
        on_event: Optional subscriber to `SourceEvent`s.
    """

    kind = "push"

    def __init__(
        self,
        stream_id: str,
        origin: str = "push",
        analysis_fps: float = 5.0,
        queue_size: int = 2,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        on_event: EventCallback | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.stats = SourceStats()
        self._display_url = redact_url(origin)
        self._reporter = StreamReporter(stream_id, self._display_url, on_event, self.stats)
        self._feed = FrameFeed(
            self._reporter, analysis_fps=analysis_fps, queue_size=queue_size, drop_oldest=True, max_pixels=max_pixels
        )
        self._flowing = False

    @property
    def display_url(self) -> str:
        """The origin, redacted."""
        return self._display_url

    async def start(self) -> None:
        """Deliver events on the running loop; frames may be pushed from now on."""
        self._reporter.bind(asyncio.get_running_loop())

    def push(self, frame: av.VideoFrame) -> bool:
        """Offer one decoded frame.

        Returns:
            ``False`` once the source is ended or closed (the producer should stop), else ``True``.
        """
        if self._feed.closed:
            return False
        if not self._flowing:
            self._flowing = True
            self._reporter.opened()
            self._reporter.up()
        return self._feed.offer(frame)

    def new_segment(self) -> None:
        """The producer restarted (e.g. a new peer connection): timestamps continue from the last frame."""
        self._feed.timeline.new_segment()

    def fail(self, message: str) -> None:
        """Report a producer failure (already redacted); the stream is marked down until frames flow again."""
        self._flowing = False
        self._reporter.error(message)
        self._reporter.down(message)
        self._feed.interrupt(message)

    def end(self, reason: str = "ended by the producer") -> None:
        """No more frames: `recv` delivers what is queued, then raises `SourceEnded`."""
        self._reporter.down(reason)
        self._feed.end(reason)

    async def recv(self) -> Frame:
        """The next sampled frame.

        Raises:
            SourceEnded: After `end` (once the queue is drained) or `close`.
        """
        return await self._feed.get()

    async def close(self) -> None:
        """Discard queued frames and wake `recv` with `SourceEnded`; idempotent."""
        if self._feed.closed and self._feed.queue.qsize() == 0:
            return
        self._reporter.down("closed")
        self._feed.abort("closed")
