"""RTSP cameras pulled with PyAV: fast open, timeouts, a stall watchdog and reconnects forever.

One thread per camera: a dead or hanging camera only ever blocks its own thread, for at most the read
timeout, so the other streams are unaffected.
"""

from __future__ import annotations

import random
import threading
from contextlib import closing

import av.container
import av.error
import av.video.stream

from streamguard.clock import SYSTEM_CLOCK, Clock
from streamguard.errors import StreamError
from streamguard.ingest.backoff import Backoff
from streamguard.ingest.base import EventCallback
from streamguard.ingest.decode import (
    DECODE_ERRORS,
    StallError,
    VideoOpener,
    describe_error,
    iter_frames,
    open_video,
)
from streamguard.ingest.feed import DEFAULT_MAX_PIXELS
from streamguard.ingest.threaded import ThreadedSource

TRANSPORTS = ("tcp", "udp", "udp_multicast", "http", "https")
# Probing 0.1 s / 100 kB instead of FFmpeg's 5 s / 5 MB cuts open time from ~1.2 s to ~0.1 s (GUIDE 6).
FAST_OPEN_OPTIONS = {"analyzeduration": "100000", "probesize": "100000"}


class RtspSource(ThreadedSource):
    """An RTSP stream decoded in a daemon thread, reconnecting with capped exponential backoff.

    A session ends when the server closes the connection, a read times out, no frame arrives for
    `stall_timeout_s` (a stall, counted), or decoding keeps failing; the source then marks the stream down,
    waits `Backoff.next_delay()` and reopens, forever, until `close`. The backoff starts over after a
    session that delivered frames. Analysis is always drop-oldest: freshness wins on live video.

    Args:
        stream_id: The stream's id.
        url: ``rtsp://[user:password@]host[:port]/path``; only its redacted form is logged or published.
        analysis_fps: Samples per second.
        transport: RTSP lower transport: ``tcp`` (default; survives NAT and packet loss), ``udp``, ...
        open_timeout_s: Limit for connecting and the RTSP handshake.
        read_timeout_s: Limit for one blocking read (socket I/O timeout).
        stall_timeout_s: Longest time without a decoded frame on an open stream.
        backoff_initial_s: First reconnect delay.
        backoff_max_s: Largest reconnect delay.
        backoff_jitter: Relative jitter of reconnect delays.
        queue_size: Sampled frames waiting for analysis.
        max_pixels: Larger sampled frames are dropped (``frame_too_large``) before conversion.
        on_event: Optional subscriber to `SourceEvent`s.
        rng: Random source for the jitter (tests seed it).
        clock: Time for the stall watchdog, reconnect waits and frame timestamps (tests: a manual clock).
        opener: Opens the URL (`open_video`; the fault harness gives a scripted camera).

    Raises:
        ValueError: When `transport` or a timeout is invalid.
    """

    kind = "rtsp"

    def __init__(
        self,
        stream_id: str,
        url: str,
        analysis_fps: float = 5.0,
        transport: str = "tcp",
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        stall_timeout_s: float = 5.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        backoff_jitter: float = 0.2,
        queue_size: int = 2,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        on_event: EventCallback | None = None,
        *,
        rng: random.Random | None = None,
        clock: Clock = SYSTEM_CLOCK,
        opener: VideoOpener = open_video,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
        if min(open_timeout_s, read_timeout_s, stall_timeout_s) <= 0:
            raise ValueError("timeouts must be > 0")
        super().__init__(
            stream_id,
            url,
            analysis_fps=analysis_fps,
            queue_size=queue_size,
            max_pixels=max_pixels,
            drop_oldest=True,
            on_event=on_event,
            join_timeout_s=max(open_timeout_s, read_timeout_s) + 1.0,
            clock=clock,
        )
        self._open = opener
        self.transport = transport
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self._backoff = Backoff(backoff_initial_s, backoff_max_s, backoff_jitter, rng)

    @property
    def open_options(self) -> dict[str, str]:
        """The FFmpeg options used to open the stream."""
        return {
            "rtsp_transport": self.transport,
            "timeout": str(round(self.read_timeout_s * 1_000_000)),  # socket I/O timeout, microseconds
            **FAST_OPEN_OPTIONS,
        }

    def _run(self, stop: threading.Event) -> str:
        while not stop.is_set():
            if self._session(stop):
                self._backoff.reset()
            if stop.is_set():
                break
            delay = self._backoff.next_delay()
            if self._clock.wait(stop, delay):
                break
            self._reporter.reconnect(delay)
            self._feed.timeline.new_segment()
        return "closed"

    def _session(self, stop: threading.Event) -> bool:
        """Open, decode until the connection is lost; returns whether any frame was decoded."""
        try:
            container, stream = self._open(
                self._url,
                options=self.open_options,
                open_timeout_s=self.open_timeout_s,
                read_timeout_s=self.read_timeout_s,
            )
        except StreamError as e:
            self._lost(str(e))
            return False
        self._reporter.opened()
        watchdog = StallWatchdog(self.stall_timeout_s, self._clock)
        with closing(container):
            try:
                self._decode(container, stream, stop, watchdog)
                if not stop.is_set():
                    self._lost("connection closed by the server")
            except StallError as e:
                self._stalled(str(e))
            except StreamError as e:
                self._lost(self._redact(str(e)))
            except av.error.ExitError:
                self._stalled(f"stalled: no data for {self.read_timeout_s:g} s (read timeout)")
            except DECODE_ERRORS as e:
                self._lost(f"connection lost: {describe_error(e, self._url)}")
        return watchdog.frames > 0

    def _decode(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        stop: threading.Event,
        watchdog: StallWatchdog,
    ) -> None:
        for frame in iter_frames(container, stream, stop, on_packet=watchdog.check):
            if watchdog.frames == 0:
                self._reporter.up()
            watchdog.frame()
            if not self._feed.offer(frame) or stop.is_set():
                return

    def _stalled(self, message: str) -> None:
        self._reporter.stall()
        self._lost(message)

    def _lost(self, message: str) -> None:
        self._went_down(message)


class StallWatchdog:
    """Raises `StallError` from the decode loop when no frame came for `timeout_s` (of `clock`'s time)."""

    def __init__(self, timeout_s: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.timeout_s = timeout_s
        self.frames = 0
        self._clock = clock
        self._last = clock.monotonic()

    def frame(self) -> None:
        """A frame arrived."""
        self.frames += 1
        self._last = self._clock.monotonic()

    def check(self) -> None:
        """Called on every packet.

        Raises:
            StallError: No frame for longer than `timeout_s`.
        """
        idle = self._clock.monotonic() - self._last
        if idle > self.timeout_s:
            raise StallError(f"stalled: no frame for {idle:.1f} s (stall timeout {self.timeout_s:g} s)")
