"""What the HTTP layer needs of the streams: a small registry protocol, so it never imports the daemon.

The daemon (`streamguard.daemon.core.Daemon`) implements `StreamRegistry`; the stream API, WHIP and the
console are built on it and see streams only as frozen `StreamSnapshot`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from streamguard.config import StreamConfig
from streamguard.ingest.webrtc import WebRtcSource
from streamguard.types import EndReason, FrameView, StreamState


@dataclass(frozen=True, slots=True)
class StreamSnapshot:
    """One running stream as the HTTP layer sees it.

    Attributes:
        config: Its configuration (as given: the URL may hold credentials; redact before showing it).
        state: Its live state (the state hash fields).
        last_view: The last analysed frame with its faces and scores (console previews), None before one.
    """

    config: StreamConfig
    state: StreamState
    last_view: FrameView | None

    @property
    def id(self) -> str:
        """The stream's id."""
        return self.config.id

    @property
    def kind(self) -> str:
        """``rtsp``, ``file`` or ``webrtc``."""
        return self.config.kind


class StreamRegistry(Protocol):
    """The running streams: list, get, add, remove, and the WebRTC sources WHIP publishes into."""

    def stream_ids(self) -> list[str]:
        """Ids of the running streams, sorted."""
        ...

    def snapshot(self, stream_id: str) -> StreamSnapshot | None:
        """A running stream's snapshot, or None."""
        ...

    def webrtc_source(self, stream_id: str) -> WebRtcSource | None:
        """The source a WHIP publisher feeds, when `stream_id` is a running WebRTC stream."""
        ...

    async def add_stream(self, stream: StreamConfig) -> None:
        """Start a stream (`streamguard.errors.ConfigError` when the id is taken or the stream cannot run)."""
        ...

    async def remove_stream(self, stream_id: str, reason: EndReason = EndReason.STREAM_REMOVED) -> None:
        """Stop a stream and end its open alerts with `reason`."""
        ...
