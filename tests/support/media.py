"""Synthetic test media: a moving astronaut face clip (optionally forged for a span) and broken files.

The face is `skimage.data.astronaut()` (public domain); the forgery is `streamguard.datasets.toy.blended_edit`
inside `face_ellipse_mask`, the same edit in every forged frame, and the clip records, per frame, where the
face and the edited pixels are in frame coordinates so tests can check where an alert mask lies.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from streamguard.datasets.toy import astronaut_rgb, blended_edit, face_ellipse_mask
from streamguard.vision.crop import FaceBox

# The astronaut's face as found by the bundled full-range BlazeFace (fixed, so no detector runs here).
ASTRONAUT_FACE = FaceBox(173.0, 67.0, 276.0, 170.0, score=1.0)
# The square cut around the face that moves on the canvas: twice the face width.
_PATCH_CONTEXT = 2.0


@dataclass(frozen=True)
class FaceClip:
    """A written clip and its ground truth.

    Attributes:
        path: The video file.
        fps: Frames per second (constant).
        size: ``(width, height)``.
        offsets: Per frame, the ``(x, y)`` of the face patch's top-left corner in the frame.
        patch_side: Side of the square face patch in frame pixels.
        face_in_patch: The face box ``(x0, y0, x1, y1)`` in patch pixels.
        patch_mask: `(side, side)` uint8 {0, 1} edited pixels in patch coordinates.
        forged: Per frame, whether the frame carries the edit.
    """

    path: Path
    fps: int
    size: tuple[int, int]
    offsets: tuple[tuple[int, int], ...]
    patch_side: int
    face_in_patch: tuple[float, float, float, float]
    patch_mask: npt.NDArray[np.uint8]
    forged: tuple[bool, ...]

    @property
    def n_frames(self) -> int:
        return len(self.offsets)

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def frame_at(self, t: float) -> int:
        """Index of the frame shown at media time `t` (seconds)."""
        return min(self.n_frames - 1, max(0, math.floor(t * self.fps + 1e-6)))

    def face_box(self, index: int) -> tuple[float, float, float, float]:
        """The face box ``(x0, y0, x1, y1)`` in frame pixels at frame `index`."""
        x, y = self.offsets[index]
        x0, y0, x1, y1 = self.face_in_patch
        return (x + x0, y + y0, x + x1, y + y1)

    def mask(self, index: int) -> npt.NDArray[np.uint8] | None:
        """`(H, W)` uint8 {0, 1}: the edited pixels of frame `index`, ``None`` when it is not forged."""
        if not self.forged[index]:
            return None
        width, height = self.size
        full = np.zeros((height, width), dtype=np.uint8)
        x, y = self.offsets[index]
        full[y : y + self.patch_side, x : x + self.patch_side] = self.patch_mask
        return full

    def forged_box(self, index: int) -> tuple[int, int, int, int] | None:
        """Bounding box ``(x0, y0, x1, y1)`` (exclusive ends) of the edited pixels of frame `index`."""
        if not self.forged[index]:
            return None
        ys, xs = np.nonzero(self.patch_mask)
        x, y = self.offsets[index]
        return (x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1)


def write_face_clip(
    path: Path,
    seconds: float,
    fps: int = 25,
    size: tuple[int, int] = (640, 360),
    seed: int = 0,
    forged_span: tuple[float, float] | None = None,
    face_px: int = 120,
    codec: str = "libx264",
    container_format: str | None = None,
) -> FaceClip:
    """Write an H.264 clip of the astronaut's face drifting a little over a still background.

    Args:
        path: Output file; the container follows the suffix (``.mp4``, ``.mkv``).
        seconds: Duration.
        fps: Frame rate.
        size: ``(width, height)``, both even.
        seed: Background and edit randomness.
        forged_span: ``(start_s, end_s)``: frames shown in ``[start_s, end_s)`` carry the blended edit.
        face_px: Face width in frame pixels.
        codec: Encoder (camera-like: no B-frames, one key frame per second).
        container_format: Force a container (e.g. ``"mp4"``) whatever the suffix.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    patch, patch_mask, face_in_patch = _face_patch(face_px)
    edited = blended_edit(patch, patch_mask, np.random.default_rng(seed + 1))
    background = _background(size, rng)
    side = patch.shape[0]
    n_frames = max(1, round(seconds * fps))
    offsets = tuple(_offset(i / fps, size, side) for i in range(n_frames))
    forged = tuple(forged_span is not None and forged_span[0] <= i / fps < forged_span[1] for i in range(n_frames))
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(
            codec, rate=fps, options={"crf": "20", "preset": "veryfast", "bf": "0", "g": str(fps)}
        )
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for (x, y), is_forged in zip(offsets, forged, strict=True):
            frame = background.copy()
            frame[y : y + side, x : x + side] = edited if is_forged else patch
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return FaceClip(path, fps, size, offsets, side, face_in_patch, patch_mask, forged)


def write_garbage(path: Path, size: int = 64 * 1024, seed: int = 0) -> Path:
    """Random bytes under a video file name."""
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def write_truncated(path: Path, keep: float = 0.4) -> Path:
    """A real MP4 (whatever the suffix) cut to its first `keep` fraction: its index (``moov``, written last)
    is missing, so it cannot be opened."""
    write_face_clip(path, seconds=2.0, size=(320, 240), container_format="mp4")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_unsupported_codec(path: Path) -> Path:
    """A Matroska file whose video codec id names no codec FFmpeg knows (so it has no decoder)."""
    tmp = path.with_name(path.name + ".tmp.mkv")
    write_face_clip(tmp, seconds=1.0, size=(320, 240), container_format="matroska")
    data = tmp.read_bytes()
    os.remove(tmp)
    original, replacement = b"V_MPEG4/ISO/AVC", b"V_UNSUPPORTED/X"  # same length keeps the EBML sizes valid
    assert data.count(original) == 1
    path.write_bytes(data.replace(original, replacement))
    return path


def _face_patch(
    face_px: int,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], tuple[float, float, float, float]]:
    image = astronaut_rgb()
    face = ASTRONAUT_FACE
    ellipse = face_ellipse_mask(image, face)
    cx, cy = face.center
    half = round(face.width * _PATCH_CONTEXT / 2)
    x0, y0 = max(0, round(cx) - half), max(0, round(cy) - half)
    region = image[y0 : y0 + 2 * half, x0 : x0 + 2 * half]
    region_mask = ellipse[y0 : y0 + 2 * half, x0 : x0 + 2 * half]
    scale = face_px / face.width
    side = round(region.shape[0] * scale)
    patch = cv2.resize(region, (side, side), interpolation=cv2.INTER_AREA)
    patch_mask = cv2.resize(region_mask, (side, side), interpolation=cv2.INTER_NEAREST)
    face_in_patch = ((face.x0 - x0) * scale, (face.y0 - y0) * scale, (face.x1 - x0) * scale, (face.y1 - y0) * scale)
    return np.ascontiguousarray(patch), np.ascontiguousarray(patch_mask), face_in_patch


def _background(size: tuple[int, int], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    width, height = size
    gradient = np.linspace(60, 180, width, dtype=np.float32)[None, :, None]
    tint = rng.uniform(0.7, 1.3, size=3).astype(np.float32)[None, None, :]
    noise = rng.normal(0, 6, (height, width, 3)).astype(np.float32)
    background: npt.NDArray[np.uint8] = np.clip(gradient * tint + noise, 0, 255).astype(np.uint8)
    return background


def _offset(t: float, size: tuple[int, int], side: int) -> tuple[int, int]:
    width, height = size
    cx, cy = (width - side) / 2, (height - side) / 2
    x = round(cx + 0.08 * side * math.sin(2 * math.pi * t / 3.0))
    y = round(cy + 0.05 * side * math.cos(2 * math.pi * t / 2.3))
    return max(0, min(width - side, x)), max(0, min(height - side, y))
