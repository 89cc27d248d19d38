"""Per-stream face tracking: an adapter over norfair's tracker (the maintained `norfair-enough` fork).

One `FaceTracker` per stream, so track ids are never shared between streams (norfair numbers the objects of
each `Tracker` instance separately). Boxes are tracked as two corner points with IoU matching. Norfair
counts in frames, so the time settings are converted at the stream's analysis rate. The adapter also
remembers when each id was last matched so that downstream state (rolling windows, open alerts) can be
expired.

Why norfair and not ByteTrack from `trackers`: `trackers` requires the `opencv-python` wheel, which
clashes with the `opencv-contrib-python` build that mediapipe needs (both install `cv2`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from streamguard.vision.crop import FaceBox


@dataclass(frozen=True, slots=True)
class TrackedFace:
    """A face box with the id of the track it was matched to."""

    track_id: int
    box: FaceBox


@dataclass(frozen=True, slots=True)
class TrackingOptions:
    """Tracker knobs, in stream time.

    Attributes:
        analysis_fps: Sampling rate of the stream (converts the time settings to tracker frames).
        lost_track_buffer_s: How long a lost track may be re-found before the tracker drops it.
        max_age_s: How long after its last match a track is reported as expired.
        track_activation_threshold: Minimum detector score for a detection to be tracked.
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
        >>> tracker = FaceTracker(TrackingOptions(minimum_consecutive_frames=2))
        >>> box = FaceBox(10, 10, 60, 60, 0.9)
        >>> [t.track_id for t in tracker.update([box], ts=0.0)]  # confirmed on the second match
        []
        >>> [t.track_id for t in tracker.update([FaceBox(12, 10, 62, 60, 0.9)], ts=0.2)]
        [1]
    """

    def __init__(self, options: TrackingOptions | None = None) -> None:
        self.options = options or TrackingOptions()
        self._tracker = self._new_tracker()
        self._last_seen: dict[int, float] = {}
        # A fresh ByteTrack restarts its ids at 0; the offset keeps ids unique for the stream's lifetime.
        self._id_offset = 0
        self._next_id = 0
        self._samples = 0  # tags detections, to tell matched tracks from merely predicted ones

    def update(self, boxes: list[FaceBox], ts: float) -> list[TrackedFace]:
        """Match this sample's face boxes to tracks; boxes without a confirmed track are left out.

        Args:
            boxes: Faces detected in the sample.
            ts: Sample time in seconds (monotonic within the stream).

        Returns:
            The confirmed faces with their track ids.
        """
        from norfair import Detection

        boxes = [b for b in boxes if b.score >= self.options.track_activation_threshold]
        detections = [
            Detection(
                points=np.array([[b.x0, b.y0], [b.x1, b.y1]], dtype=np.float64),
                scores=np.array([b.score, b.score], dtype=np.float64),
                data=(self._samples, i),
            )
            for i, b in enumerate(boxes)
        ]
        faces = []
        for obj in self._tracker.update(detections=detections):
            sample, index = obj.last_detection.data
            if obj.id is None or sample != self._samples:
                continue  # not yet confirmed, or only predicted (no detection in this sample)
            stream_track_id = int(obj.id) + self._id_offset
            self._next_id = max(self._next_id, stream_track_id + 1)
            self._last_seen[stream_track_id] = ts
            faces.append(TrackedFace(stream_track_id, boxes[index]))
        self._samples += 1
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
        from norfair import Tracker

        opts = self.options
        return Tracker(
            distance_function="iou",
            # norfair's IoU distance is 1 - IoU; a match needs IoU >= minimum_iou_threshold.
            distance_threshold=1.0 - opts.minimum_iou_threshold,
            hit_counter_max=max(1, round(opts.lost_track_buffer_s * opts.analysis_fps)),
            initialization_delay=max(0, opts.minimum_consecutive_frames - 1),
        )
