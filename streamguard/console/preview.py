"""Live previews: the last analysed frame of a stream with its faces drawn, encoded only while someone watches.

Nothing is drawn for a stream nobody watches: the worker only keeps references to its last analysed frame
and scores (`streamguard.daemon.worker.FrameView`). A viewer's request draws and encodes a JPEG at most
`preview_fps` times a second per stream, shared by all viewers of that stream.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from streamguard.types import FaceView, FrameView

JPEG_QUALITY = 75
MASK_THRESHOLD = 0.5
MASK_ALPHA = 0.5


@dataclass(frozen=True, slots=True)
class Preview:
    """One encoded preview.

    Attributes:
        jpeg: The JPEG bytes.
        frame_index: Decode index of the frame it shows.
        drawn_at: ``time.monotonic()`` when it was drawn.
    """

    jpeg: bytes
    frame_index: int
    drawn_at: float


def score_colour(level: float) -> tuple[int, int, int]:
    """RGB from green (0) through yellow to red (1)."""
    level = min(max(level, 0.0), 1.0)
    return (round(255 * min(1.0, 2 * level)), round(255 * min(1.0, 2 * (1 - level))), 0)


def draw_preview(view: FrameView, width: int) -> bytes:
    """The frame scaled to at most `width` pixels wide, face boxes coloured by level, masks of alerting faces."""
    image = view.frame.image
    height_in, width_in = image.shape[:2]
    scale = min(1.0, width / width_in)
    size = (max(1, round(width_in * scale)), max(1, round(height_in * scale)))
    canvas: npt.NDArray[np.uint8] = (
        np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        if scale < 1.0
        else image.copy()
    )
    for face in view.faces:
        if face.in_alert:
            _tint_mask(canvas, face, scale)
    for face in view.faces:
        _draw_box(canvas, face, scale)
    bgr = cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()


def _draw_box(canvas: npt.NDArray[np.uint8], face: FaceView, scale: float) -> None:
    x0, y0, x1, y1 = (round(v * scale) for v in face.score.face.box_xyxy)
    colour = score_colour(face.level)
    cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, 2 if not face.in_alert else 3)
    label = f"#{face.score.face.track_id} {face.level:.2f}{' ALERT' if face.in_alert else ''}"
    (text_w, text_h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    top = max(0, y0 - text_h - 6)
    cv2.rectangle(canvas, (x0, top), (x0 + text_w + 6, top + text_h + 6), colour, -1)
    cv2.putText(canvas, label, (x0 + 3, top + text_h + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)


def _tint_mask(canvas: npt.NDArray[np.uint8], face: FaceView, scale: float) -> None:
    """Blend the face's mask, mapped from crop space onto the frame, towards red."""
    mask = face.score.mask
    x, y, side, _ = face.score.face.crop_xywh
    x0, y0, s = round(x * scale), round(y * scale), max(1, round(side * scale))
    resized = cv2.resize(mask.astype(np.float32), (s, s), interpolation=cv2.INTER_LINEAR)
    height, width = canvas.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x0 + s), min(height, y0 + s)
    if cx0 >= cx1 or cy0 >= cy1:
        return
    part = resized[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    alpha = np.where(part > MASK_THRESHOLD, part * MASK_ALPHA, 0.0)[..., None]
    region = canvas[cy0:cy1, cx0:cx1].astype(np.float32)
    red = np.array([255.0, 0.0, 0.0], dtype=np.float32)
    canvas[cy0:cy1, cx0:cx1] = np.clip(region * (1 - alpha) + red * alpha, 0, 255).astype(np.uint8)


class PreviewCache:
    """Per-stream previews drawn on demand, at most `fps` times a second, shared by concurrent viewers.

    Attributes:
        rendered: Previews drawn per stream (0 for a stream nobody watched).
    """

    def __init__(self, fps: float, width: int) -> None:
        self.interval_s = 1.0 / fps
        self.width = width
        self.rendered: Counter[str] = Counter()
        self._latest: dict[str, Preview] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, stream_id: str, view: FrameView) -> Preview:
        """The preview of `view`, drawn now unless a recent enough one (or one of the same frame) exists."""
        lock = self._locks.setdefault(stream_id, asyncio.Lock())
        async with lock:  # viewers arriving together share one drawing
            cached = self._latest.get(stream_id)
            if cached is not None and (
                cached.frame_index == view.frame.index or time.monotonic() - cached.drawn_at < self.interval_s
            ):
                return cached
            jpeg = await asyncio.to_thread(draw_preview, view, self.width)
            preview = Preview(jpeg, view.frame.index, time.monotonic())
            self._latest[stream_id] = preview
            self.rendered[stream_id] += 1
            return preview

    def forget(self, stream_id: str) -> None:
        """Drop a removed stream's preview."""
        self._latest.pop(stream_id, None)
        self._locks.pop(stream_id, None)
