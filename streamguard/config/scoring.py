"""Scoring settings: the rolling window per face track and the alert hysteresis."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from streamguard.config.base import StrictModel

DEFAULT_CALM_EVERY = 3
"""Measured in docs/performance.md (added alert delay on clips that turn fake mid-way)."""


class ScoringConfig(StrictModel):
    """How per-frame scores of a face track become alerts.

    An alert starts when the window mean (or EMA) has stayed at or above `on_threshold` for
    `min_duration_s` with at least `min_samples` scores in the window; it ends when the value falls below
    `off_threshold` or the track is lost.
    """

    window_s: float = Field(
        default=2.0, gt=0, le=600, description="Length of the rolling window of scores per track, in seconds."
    )
    on_threshold: float = Field(
        default=0.7, gt=0, le=1, description="An alert may start when the window value is at or above this P(fake)."
    )
    off_threshold: float = Field(
        default=0.5, ge=0, lt=1, description="An open alert ends when the window value falls below this P(fake)."
    )
    min_duration_s: float = Field(
        default=1.0,
        ge=0,
        le=600,
        description="Seconds the window value must stay at or above on_threshold before an alert starts.",
    )
    min_samples: int = Field(
        default=3, ge=1, le=10_000, description="Fewest scores in the window before an alert may start."
    )
    update_interval_s: float = Field(
        default=1.0, gt=0, le=3600, description="Least time between two `update` events of one open alert, in seconds."
    )
    ema_alpha: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Smoothing factor of an exponential moving average of the scores (higher reacts faster).",
    )
    use_ema: bool = Field(
        default=False,
        description="Decide alerts on the EMA instead of the window mean (the paper's video rule); needs ema_alpha.",
    )

    calm_every: int = Field(
        default=DEFAULT_CALM_EVERY,
        ge=1,
        le=25,
        description=(
            "A calm track (level below calm_below for calm_after_s, no alert open) is scored on one analysed "
            "frame in this many; the level reaching calm_below restores every frame. 1 scores every frame."
        ),
    )
    calm_below: float = Field(
        default=0.45,
        ge=0,
        le=1,
        description="Level (window mean or EMA) under which a track may become calm; off_threshold if that is lower.",
    )
    calm_after_s: float = Field(
        default=3.0, ge=0, le=3600, description="Seconds a track's level must stay under calm_below to be calm."
    )

    @field_validator("off_threshold")
    @classmethod
    def _check_below_on(cls, off_threshold: float, info: ValidationInfo) -> float:
        on_threshold = info.data.get("on_threshold")
        if on_threshold is not None and off_threshold >= on_threshold:
            raise ValueError(f"must be below on_threshold ({on_threshold}), got {off_threshold}")
        return off_threshold

    @field_validator("use_ema")
    @classmethod
    def _check_ema_alpha(cls, use_ema: bool, info: ValidationInfo) -> bool:
        if use_ema and "ema_alpha" in info.data and info.data["ema_alpha"] is None:
            raise ValueError("needs ema_alpha (e.g. 0.3)")
        return use_ema
