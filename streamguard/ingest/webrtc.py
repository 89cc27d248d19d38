"""WebRTC ingest: a `PushSource` fed by the video track of a WHIP publisher (`streamguard.api.whip`).

The stream outlives its publishers: a stream of ``type: webrtc`` waits, marked down, until a WHIP session
attaches a track; when the session ends the stream is marked down again and the next session continues
its timeline. Audio is never decoded (the WHIP endpoint answers audio sections ``inactive``).
"""

from __future__ import annotations

import logging

from streamguard.ingest.base import EventCallback
from streamguard.ingest.feed import DEFAULT_MAX_PIXELS
from streamguard.ingest.push import PushSource

logger = logging.getLogger(__name__)


class WebRtcSource(PushSource):
    """Frames of a pushed WebRTC video track, sampled and queued like any other source.

    Args:
        stream_id: The stream's id.
        analysis_fps: Samples per second.
        queue_size: Sampled frames waiting for analysis.
        on_event: Optional subscriber to `SourceEvent`s.
        max_pixels: Larger sampled frames are dropped (``frame_too_large``) before conversion.
    """

    kind = "webrtc"

    def __init__(
        self,
        stream_id: str,
        analysis_fps: float = 5.0,
        queue_size: int = 2,
        on_event: EventCallback | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        super().__init__(
            stream_id,
            f"whip://{stream_id}",
            analysis_fps=analysis_fps,
            queue_size=queue_size,
            on_event=on_event,
            max_pixels=max_pixels,
        )

    def disconnect(self, reason: str) -> None:
        """The publisher left (``DELETE``, ICE failure or stall): the stream is down until the next one."""
        self._flowing = False
        self._reporter.down(reason)
        self._feed.interrupt(reason)
        logger.info("stream %s: publisher gone: %s", self.stream_id, reason, extra={"stream_id": self.stream_id})
