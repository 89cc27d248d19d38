"""Per-stream face tracking: an adapter over the `trackers` package's ByteTrack.

One `FaceTracker` per stream, so track ids are never shared between streams (``trackers`` allocates ids
per instance). ByteTrack keeps a lost track alive for a time budget; this adapter additionally remembers
when each id was last matched so that downstream state (rolling windows, open alerts) can be expired.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamguard.vision.crop import FaceBox

UNCONFIRMED_TRACK = -1


@dataclass(frozen=True, slots=True)
class TrackedFace:
    """A face box with the id of the track it was matched to."""

    track_id: int
    box: FaceBox


@dataclass(frozen=True, slots=True)
class TrackingOptions:
    """ByteTrack knobs, in stream time (the tracker is fed sample timestamps, not frame counts).

    Attributes:
        analysis_fps: Sampling rate of the stream, ByteTrack's nominal frame rate.
        lost_track_buffer_s: How long a lost track may be re-found before ByteTrack drops it.
        max_age_s: How long after its last match a track is reported as expired.
        track_activation_threshold: Minimum detector score to start a new track.
        minimum_iou_threshold: Minimum IoU to match a detection to a track.
        minimum_consecutive_frames: Matches needed before a new track gets an id.
    """

    analysis_fps: float = 5.0
    lost_track_buffer_s: float = 2.0
    max_age_s: float = 2.0
    track_activation_threshold: float = 0.5
    minimum_iou_threshold: float = 0.1
    minimum_consecutive_frames: int = 1


class FaceTracker:
    """Assigns stable ids to the faces of one stream.

    Example:
        >>> tracker = FaceTracker()
        >>> box = FaceBox(10, 10, 60, 60, 0.9)
        >>> [t.track_id for t in tracker.update([box], ts=0.0)]  # ByteTrack confirms on the second match
        []
        >>> [t.track_id for t in tracker.update([box], ts=0.2)]
        [0]
    """

    def __init__(self, options: TrackingOptions | None = None) -> None:
        self.options = options or TrackingOptions()
        self._tracker = self._new_tracker()
        self._last_seen: dict[int, float] = {}
        # A fresh ByteTrack restarts its ids at 0; the offset keeps ids unique for the stream's lifetime.
        self._id_offset = 0
        self._next_id = 0

    def update(self, boxes: list[FaceBox], ts: float) -> list[TrackedFace]:
        """Match this sample's face boxes to tracks; boxes without a confirmed track are left out.

        Args:
            boxes: Faces detected in the sample.
            ts: Sample time in seconds (monotonic within the stream).

        Returns:
            The confirmed faces with their track ids.
        """
        import supervision as sv  # deferred: supervision pulls in matplotlib-sized imports

        detections = sv.Detections(
            xyxy=np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes], dtype=np.float32).reshape(-1, 4),
            confidence=np.array([b.score for b in boxes], dtype=np.float32),
            data={"index": np.arange(len(boxes))},
        )
        tracked = self._tracker.update(detections, timestamp=ts)
        faces = []
        for track_id, index in zip(tracked.tracker_id, tracked.data["index"], strict=True):
            if int(track_id) == UNCONFIRMED_TRACK:
                continue
            stream_track_id = int(track_id) + self._id_offset
            self._next_id = max(self._next_id, stream_track_id + 1)
            self._last_seen[stream_track_id] = ts
            faces.append(TrackedFace(stream_track_id, boxes[int(index)]))
        return faces

    def expire(self, ts: float) -> set[int]:
        """Forget tracks not matched for `max_age_s` and return their ids."""
        expired = {tid for tid, seen in self._last_seen.items() if ts - seen > self.options.max_age_s}
        for tid in expired:
            del self._last_seen[tid]
        return expired

    @property
    def active_ids(self) -> set[int]:
        """Ids matched within the last `max_age_s`."""
        return set(self._last_seen)

    def reset(self) -> None:
        """Drop every track (e.g. after a reconnect, when timestamps restart); ids are never reused."""
        self._tracker = self._new_tracker()
        self._last_seen.clear()
        self._id_offset = self._next_id

    def _new_tracker(self) -> Any:
        from trackers import ByteTrackTracker

        opts = self.options
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ByteTrackTracker(
                lost_track_buffer=max(1, round(opts.lost_track_buffer_s * opts.analysis_fps)),
                frame_rate=opts.analysis_fps,
                track_activation_threshold=opts.track_activation_threshold,
                minimum_consecutive_frames=opts.minimum_consecutive_frames,
                minimum_iou_threshold=opts.minimum_iou_threshold,
                high_conf_det_threshold=opts.track_activation_threshold,
            )
