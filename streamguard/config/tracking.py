"""Face tracking settings (norfair, one tracker per stream)."""

from __future__ import annotations

from pydantic import Field

from streamguard.config.base import StrictModel


class TrackingConfig(StrictModel):
    """How face detections are linked into tracks across analysed frames.

    Frame counts are in analysed frames (at the stream's `analysis_fps`), not decoded frames.
    """

    lost_track_buffer_frames: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="Analysed frames a track survives without a matching detection before the tracker drops it.",
    )
    track_activation_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Detection confidence needed to start a new track."
    )
    minimum_iou_threshold: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Smallest box overlap (IoU) for a detection to continue an existing track.",
    )
    minimum_consecutive_frames: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Analysed frames a new track must be seen in before it gets an id and is scored.",
    )
    max_age_s: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="Seconds after its last detection when a track counts as lost and its open alert ends.",
    )
