"""The source interface every ingest kind implements, its statistics and its events."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal

from streamguard.errors import StreamguardError
from streamguard.types import Frame

SourceEventKind = Literal["decoded", "sampled", "dropped", "reconnect", "stall", "up", "down", "error"]


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """Something that happened to a stream, for metrics and state publishers.

    Attributes:
        stream_id: The stream.
        kind: ``decoded`` / ``sampled`` (frames, `count` of them), ``dropped`` (a sampled frame discarded
            before analysis; `reason` says why, e.g. ``analysis_behind``), ``reconnect`` (an attempt to
            reopen), ``stall`` (no frame for the stall timeout), ``up`` / ``down`` (state changes; `reason`
            says why it went down), ``error`` (`reason` is the redacted message).
        reason: Detail for ``dropped``, ``down`` and ``error``; empty otherwise.
        count: How many occurrences the event stands for (decoded frames are reported in batches).
    """

    stream_id: str
    kind: SourceEventKind
    reason: str = ""
    count: int = 1


EventCallback = Callable[[SourceEvent], None]


@dataclass(slots=True)
class SourceStats:
    """Counters and state of one source, updated by its decoding thread and read by anyone.

    Attributes:
        decoded: Frames decoded (every frame, sampled or not).
        sampled: Frames picked for analysis and converted to RGB.
        dropped: Sampled frames discarded before analysis, by reason.
        reconnects: Attempts to reopen the stream after it failed or ended.
        stalls: Times no frame arrived within the stall timeout (or a read timed out) on an open stream.
        errors: Failures (open errors, decode errors, lost connections).
        opens: Successful opens (the first one included).
        up: Whether frames are flowing.
        last_frame_wall: Wall-clock time of the last decoded frame, ``None`` before the first.
        last_error: The last failure, redacted, prefixed with the stream id; empty when none yet.
        fps_in: Decode rate, frames per second (smoothed; 0 while down).
        fps_sampled: Sampling rate, frames per second (smoothed; 0 while down).
    """

    decoded: int = 0
    sampled: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    stalls: int = 0
    errors: int = 0
    opens: int = 0
    up: bool = False
    last_frame_wall: float | None = None
    last_error: str = ""
    fps_in: float = 0.0
    fps_sampled: float = 0.0

    @property
    def dropped_total(self) -> int:
        """All dropped frames, whatever the reason."""
        return sum(self.dropped.values())

    def snapshot(self) -> SourceStats:
        """A copy that the decoding thread will not change under the reader."""
        return replace(self, dropped=dict(self.dropped))


class SourceEnded(StreamguardError):
    """The source finished for good (end of file, closed, or a fatal error); `recv` will not return again."""


class SourceInterrupted(StreamguardError):
    """The stream went down (camera gone, publisher left); frames may come again after a reconnect.

    `recv` raises it once per outage, in order with the frames: every frame from before the outage comes
    first. Faces seen before it are gone, so trackers and open alerts start afresh.
    """


class BaseSource(ABC):
    """A video stream that yields sampled RGB frames.

    Subclasses register under a `kind` (``file``, ``rtsp``, ``push``, ``webrtc``) in
    `streamguard.ingest.factory.SOURCE_KINDS`. A source never raises out of `start` for a dead stream: it
    reports the problem in `stats` and through `on_event`, and keeps retrying when its kind is live.

    Attributes:
        kind: Registry key of the source class.
        stream_id: The stream's id (used in logs, metrics labels and frames).
        stats: Live statistics; use `SourceStats.snapshot` for a consistent copy.
    """

    kind: ClassVar[str]
    stream_id: str
    stats: SourceStats

    @property
    @abstractmethod
    def display_url(self) -> str:
        """Where the frames come from, with credentials redacted (safe to log and publish)."""

    @abstractmethod
    async def start(self) -> None:
        """Start decoding in the background; returns at once and never raises for a dead stream."""

    @abstractmethod
    async def recv(self) -> Frame:
        """Wait for the next sampled frame.

        Raises:
            SourceInterrupted: Once per outage of a live stream, after the frames from before it.
            SourceEnded: When the source has finished for good or was closed.
        """

    @abstractmethod
    async def close(self) -> None:
        """Stop decoding and wake any pending `recv` with `SourceEnded`; safe to call more than once."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.stream_id} {self.display_url}>"
