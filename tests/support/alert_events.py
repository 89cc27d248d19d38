"""Synthetic scored faces and alert events for sink tests (no model, no video)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np

from streamguard.types import AlertEvent, AlertPhase, EndReason, FaceCrop, Score

CROP_SIDE = 64


def disk_mask(side: int = CROP_SIDE, value: float = 0.9) -> np.ndarray:
    """A `(side, side)` float32 mask: `value` inside a centred disk of radius side/4, 0 elsewhere."""
    yy, xx = np.mgrid[0:side, 0:side]
    inside = (yy - side / 2) ** 2 + (xx - side / 2) ** 2 <= (side / 4) ** 2
    return np.where(inside, value, 0.0).astype(np.float32)


def make_score(
    stream_id: str = "cam1",
    track_id: int = 1,
    value: float = 0.9,
    *,
    side: int = CROP_SIDE,
    mask: np.ndarray | None = None,
    model_version: str = "test-model-1",
) -> Score:
    """A scored face: a mid-grey crop with a light gradient and `disk_mask` unless `mask` is given."""
    gradient = np.linspace(100, 160, side, dtype=np.float32)[None, :, None]
    pixels = np.broadcast_to(gradient, (side, side, 3)).astype(np.uint8).copy()
    face = FaceCrop(
        stream_id=stream_id,
        track_id=track_id,
        frame_index=42,
        wall_ts=time.time(),
        mono_ts=time.monotonic(),
        box_xyxy=(100.5, 50.25, 180.0, 130.0),
        crop_xywh=(88.0, 38.0, 104.0, 104.0),
        frame_size=(640, 360),
        det_score=0.97,
        pixels=pixels,
    )
    return Score(face=face, value=value, mask=disk_mask(side) if mask is None else mask, model_version=model_version)


def make_event(
    phase: AlertPhase = AlertPhase.START,
    *,
    alert_id: str = "cam1-1-1000",
    stream_id: str = "cam1",
    track_id: int = 1,
    sequence: int = 0,
    score: float = 0.85,
    peak: Score | None = None,
    with_peak: bool = True,
    reason: EndReason | None = None,
    ts: float | None = None,
    history: tuple[tuple[float, float], ...] = (),
) -> AlertEvent:
    """An alert event; a fresh peak `Score` is made unless `peak` is given or `with_peak` is false."""
    if peak is None and with_peak:
        peak = make_score(stream_id, track_id)
    now = time.time() if ts is None else ts
    return AlertEvent(
        phase=phase,
        alert_id=alert_id,
        stream_id=stream_id,
        track_id=track_id,
        ts=now,
        opened_at=now - 1.5,
        score=score,
        peak_score=peak.value if peak is not None else score,
        window_s=2.0,
        n_samples=10,
        reason=reason,
        peak=peak,
        sequence=sequence,
        history=history,
    )


async def wait_until(condition: Callable[[], bool], within_s: float = 10.0, interval: float = 0.02) -> None:
    """Poll `condition` until it holds; fail the test after `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within_s} s")
        await asyncio.sleep(interval)
