"""Ingest defaults: sampling rate, RTSP transport, timeouts, reconnect backoff and queue size.

Each stream may override some of them (see `streamguard.config.streams.StreamConfig`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from streamguard.config.base import StrictModel
from streamguard.ingest.feed import DEFAULT_MAX_PIXELS

Transport = Literal["tcp", "udp"]

MAX_ANALYSIS_FPS = 120.0


class IngestDefaults(StrictModel):
    """Settings shared by every stream unless the stream overrides them."""

    analysis_fps: float = Field(
        default=5.0,
        gt=0,
        le=MAX_ANALYSIS_FPS,
        description="Frames per second analysed per stream; every frame is decoded, only these are converted.",
    )
    transport: Transport = Field(
        default="tcp", description="RTSP transport: `tcp` (reliable, default) or `udp` (lower latency, lossy)."
    )
    open_timeout_s: float = Field(
        default=5.0, gt=0, le=300, description="Seconds allowed to open a stream before the attempt fails."
    )
    read_timeout_s: float = Field(
        default=5.0, gt=0, le=300, description="Seconds a single socket read may block before it fails."
    )
    stall_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Seconds without a decoded frame after which a live stream is declared stalled and reopened.",
    )
    backoff_initial_s: float = Field(
        default=0.5, gt=0, le=60, description="First delay before reconnecting a failed live stream, in seconds."
    )
    backoff_max_s: float = Field(
        default=30.0, gt=0, le=3600, description="Cap of the exponential reconnect delay, in seconds."
    )
    backoff_jitter: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Random spread of each reconnect delay, as a fraction of it (0.2 = +/-20%).",
    )
    max_pixels: int = Field(
        default=DEFAULT_MAX_PIXELS,
        ge=64 * 64,
        description=(
            "Largest frame analysed, in pixels (default 4096x2160); a larger sampled frame is dropped and counted "
            "(frames_dropped_total, reason frame_too_large) before its conversion, whatever size the stream declares."
        ),
    )
    queue_size: int = Field(
        default=2,
        ge=1,
        le=1000,
        description="Sampled frames waiting for analysis per stream; when full the oldest is dropped (live).",
    )

    @field_validator("backoff_max_s")
    @classmethod
    def _check_above_initial(cls, backoff_max_s: float, info: ValidationInfo) -> float:
        initial = info.data.get("backoff_initial_s")
        if initial is not None and backoff_max_s < initial:
            raise ValueError(f"must not be below backoff_initial_s ({initial}), got {backoff_max_s}")
        return backoff_max_s
