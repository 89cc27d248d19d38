"""From decoded `av.VideoFrame`s to sampled RGB `Frame`s waiting in a queue for the event loop.

Shared by every source kind: decoding threads (file, RTSP) and pushed frames (WebRTC) alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from streamguard.clock import SYSTEM_CLOCK, Clock
from streamguard.ingest.base import SourceEnded, SourceInterrupted
from streamguard.ingest.queue import LatestQueue, QueueClosed
from streamguard.ingest.reporting import StreamReporter
from streamguard.ingest.sampling import FrameSampler, RealtimePacer
from streamguard.types import Frame

DEFAULT_MAX_PIXELS = 4096 * 2160
"""Largest frame analysed by default (DCI 4K): an 8K or absurdly sized frame is refused, not converted."""
DROP_FRAME_TOO_LARGE = "frame_too_large"


class PtsContinuity:
    """Keeps a stream's timestamps increasing across segments (file loops, RTSP reconnects).

    Each new segment usually restarts its pts near zero; its frames are shifted to continue one frame step
    after the last frame of the previous segment, so downstream stages see one monotone media timeline.
    """

    def __init__(self) -> None:
        self._offset = Fraction(0)
        self._last_out: Fraction | None = None
        self._last_step = Fraction(0)
        self._segment_start: Fraction | None = None
        self._new_segment = False

    def new_segment(self) -> None:
        """The next frame starts a new segment."""
        self._new_segment = True

    def map(self, pts: int | None, time_base: Fraction | None) -> tuple[int | None, float | None]:
        """Shift a frame's `pts` onto the continuous timeline.

        Returns:
            ``(pts, seconds)`` on the continuous timeline, or ``(None, None)`` when the frame has no pts.
        """
        if pts is None or time_base is None or time_base == 0:
            return None, None
        t = pts * time_base
        if self._new_segment and self._last_out is not None:
            self._offset = self._last_out + (self._last_step or time_base) - t
        self._new_segment = False
        out = t + self._offset
        if self._last_out is not None and out > self._last_out:
            self._last_step = out - self._last_out
        if self._last_out is None or out > self._last_out:
            self._last_out = out
        return round(out / time_base), float(out)


@dataclass(frozen=True, slots=True)
class _Outage:
    """Queued in line with the frames where the stream went down, so the reader learns of it in order."""

    reason: str


def _is_outage(item: Frame | _Outage) -> bool:
    return isinstance(item, _Outage)


class FrameFeed:
    """Samples decoded frames, converts only the sampled ones to RGB and queues them for `get`.

    Args:
        reporter: The stream's statistics and events.
        analysis_fps: Samples per second of media time.
        queue_size: Frames waiting for analysis before the oldest is dropped (or the producer blocks).
        drop_oldest: Drop the oldest waiting frame when full (live) instead of blocking (offline replay).
        max_pixels: Larger sampled frames are dropped (``frame_too_large``) before their RGB conversion, which
            would otherwise allocate whatever size a hostile stream declares.
        clock: Where frames' wall and monotonic timestamps come from.
    """

    def __init__(
        self,
        reporter: StreamReporter,
        *,
        analysis_fps: float,
        queue_size: int,
        drop_oldest: bool,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.reporter = reporter
        self.max_pixels = max_pixels
        self.sampler = FrameSampler(analysis_fps)
        self.timeline = PtsContinuity()
        self.pacer: RealtimePacer | None = None
        self.queue: LatestQueue[Frame | _Outage] = LatestQueue(
            queue_size, drop_oldest=drop_oldest, on_drop=self._on_drop, keep=_is_outage
        )
        self._clock = clock
        self._frames_since_outage = False
        self._end_reason = ""
        self._clock_base: tuple[float, float] | None = None  # (media seconds, monotonic) of the last timed frame

    @property
    def closed(self) -> bool:
        """Whether the feed was ended or aborted."""
        return self.queue.closed

    def offer(self, frame: av.VideoFrame) -> bool:
        """Count a decoded frame, and convert and queue it when it is due for analysis.

        Returns:
            ``False`` once the feed is closed (the producer should stop), else ``True``.
        """
        index = self.reporter.frame_decoded()
        mono = self._clock.monotonic()
        pts, media_t = self.timeline.map(frame.pts, frame.time_base)
        if self.pacer is not None:
            self.pacer.wait(media_t)
        if not self.sampler.should_sample(self._sampling_time(media_t, mono)):
            return not self.queue.closed
        if frame.width * frame.height > self.max_pixels:
            self.reporter.dropped(DROP_FRAME_TOO_LARGE)
            return not self.queue.closed
        image: np.ndarray = frame.to_ndarray(format="rgb24")
        record = Frame(
            stream_id=self.reporter.stream_id,
            index=index,
            pts=pts,
            time_base=frame.time_base if pts is not None else None,
            wall_ts=self._clock.time(),
            mono_ts=mono,
            image=image,
        )
        self.reporter.frame_sampled()
        self._frames_since_outage = True
        return self.queue.put(record)

    def interrupt(self, reason: str) -> None:
        """The stream went down; `get` raises `SourceInterrupted` after the frames already queued.

        Only the first failure after frames were queued counts: a camera retried every 30 s for an hour is
        one outage.
        """
        if self._frames_since_outage:
            self._frames_since_outage = False
            self.queue.put(_Outage(reason))

    async def get(self) -> Frame:
        """The next sampled frame.

        Raises:
            SourceInterrupted: Where the stream went down, in order with the frames.
            SourceEnded: When the feed ended (after the remaining frames) or was aborted.
        """
        try:
            item = await self.queue.get()
        except QueueClosed as e:
            raise SourceEnded(f"stream {self.reporter.stream_id} ended: {self._end_reason or 'closed'}") from e
        if isinstance(item, _Outage):
            raise SourceInterrupted(f"stream {self.reporter.stream_id} went down: {item.reason}")
        return item

    def end(self, reason: str) -> None:
        """No more frames will come; frames already queued are still delivered."""
        self._end_reason = self._end_reason or reason
        self.queue.close()

    def abort(self, reason: str) -> None:
        """Stop now: queued frames are discarded and `get` raises `SourceEnded`."""
        self._end_reason = self._end_reason or reason
        self.queue.close(discard=True)

    def _sampling_time(self, media_t: float | None, mono: float) -> float:
        # Frames without pts (e.g. the first RTSP frame) get a media time estimated from the monotonic clock.
        if media_t is not None:
            self._clock_base = (media_t, mono)
            return media_t
        if self._clock_base is None:
            self._clock_base = (0.0, mono)
        base_t, base_mono = self._clock_base
        return base_t + (mono - base_mono)

    def _on_drop(self, _frame: Frame | _Outage, reason: str) -> None:
        self.reporter.dropped(reason)
