"""A short talking-head-like clip whose middle part is forged, with the forged region of every frame known.

The face is `skimage.data.astronaut()` (public domain), drifting slowly on a plain background. Frames in
`forged_span` show a forged face, made one of two ways (`DemoForgery`):

- ``edit``: a blended face edit (`demo_edit`: the face ellipse blurred and re-coloured), the forgery the quick
  demo model learns; the ground-truth mask is exactly that ellipse;
- ``self_blend``: a self-blended image (`streamguard.forge.families.self_blend`), one of the families the
  shipped model is trained on, made like a typical face swap: the face re-rendered at a lower resolution
  (down- and up-scaled) and colour-shifted, blended over the whole landmark hull at ratio 1. The mask is the
  blend's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from streamguard.datasets.toy import astronaut_rgb, face_ellipse_mask, write_video
from streamguard.vision.crop import FaceBox
from streamguard.vision.detection import FaceDetector

# Side in pixels of the square face patch (the face box is about 60 % of it) drawn into every frame.
FACE_SIDE = 256

DemoForgery = Literal["edit", "self_blend"]
DEMO_FORGERIES: tuple[DemoForgery, ...] = ("edit", "self_blend")


@dataclass(frozen=True, slots=True)
class ClipTruth:
    """Where the forgery is in a written clip.

    Attributes:
        path: The video file.
        fps: Frame rate.
        n_frames: Number of frames.
        size: ``(width, height)``.
        forged_span: ``(start_s, end_s)`` of the forged part, or ``None`` for a clean clip.
        forged_boxes: Per frame, the bounding box ``(x0, y0, x1, y1)`` of the forged region in frame pixels
            (``None`` for real frames).
    """

    path: Path
    fps: int
    n_frames: int
    size: tuple[int, int]
    forged_span: tuple[float, float] | None
    forged_boxes: tuple[tuple[int, int, int, int] | None, ...]

    def is_forged(self, t: float) -> bool:
        """Whether media time `t` (seconds) lies in the forged part."""
        return self.forged_span is not None and self.forged_span[0] <= t < self.forged_span[1]


def write_demo_clip(
    path: Path,
    *,
    seconds: float = 12.0,
    fps: int = 25,
    size: tuple[int, int] = (640, 360),
    forged_span: tuple[float, float] | None = (4.0, 8.0),
    seed: int = 0,
    forgery: DemoForgery = "edit",
) -> ClipTruth:
    """Write the clip (H.264, PyAV) and return where its forgery is.

    Args:
        path: Output ``.mp4`` path.
        seconds: Duration.
        fps: Frame rate.
        size: ``(width, height)`` of the frames.
        forged_span: ``(start_s, end_s)`` of the forged part; ``None`` writes a clean clip.
        seed: Seeds the forgery (the edit's colour shift, the self-blend's perturbations) and the background.
        forgery: How the forged part is made (see the module docstring).
    """
    if forgery not in DEMO_FORGERIES:
        raise ValueError(f"unknown demo forgery {forgery!r}; choose from {', '.join(DEMO_FORGERIES)}")
    rng = np.random.default_rng(seed)
    face, ellipse = face_and_mask()
    if forgery == "edit":
        forged_face = demo_edit(face, ellipse, rng)
    else:
        forged_face, ellipse = demo_self_blend(face, rng)
    width, height = size
    background = np.full((height, width, 3), rng.integers(60, 160, size=3), dtype=np.uint8)
    n_frames = round(seconds * fps)
    frames, boxes = [], []
    for i in range(n_frames):
        t = i / fps
        forged = forged_span is not None and forged_span[0] <= t < forged_span[1]
        x, y = face_position(t, size)
        frame = background.copy()
        frame[y : y + FACE_SIDE, x : x + FACE_SIDE] = forged_face if forged else face
        frames.append(frame)
        boxes.append(_mask_box(ellipse, x, y) if forged else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames, fps=fps)
    return ClipTruth(path, fps, n_frames, size, forged_span, tuple(boxes))


def demo_edit(face: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur the masked face area and shift its colour (each channel by 25-45 levels, random sign).

    Like `streamguard.datasets.toy.blended_edit`, but never nearly invisible: the demo's quick model has to
    recognise every seed's edit after a minute of training.
    """
    shift = rng.choice([-1.0, 1.0], size=3) * rng.uniform(25, 45, size=3)
    edited = cv2.GaussianBlur(face, (0, 0), sigmaX=rng.uniform(2.5, 4.0)).astype(np.float32) + shift
    out = face.copy()
    inside = mask.astype(bool)
    out[inside] = np.clip(edited[inside], 0, 255).astype(np.uint8)
    return out


def demo_self_blend(
    face: np.ndarray, rng: np.random.Generator, *, resample: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """A clearly visible self-blend of the face patch and its binary mask (whole hull, ratio 1).

    The demo's source is down- and up-scaled (``resample``) rather than sharpened: a face synthesised at a
    lower resolution and pasted in, as most face-swap pipelines do (the model card shows how the shipped
    model scores each kind).
    """
    from streamguard.forge.families import self_blend
    from streamguard.forge.landmarks import FaceMesh
    from streamguard.forge.records import LandmarkedFace

    with FaceDetector() as detector, FaceMesh() as face_mesh:
        points = face_mesh.landmarks(face, detector.detect(face)[0]).xy
    sample = self_blend(LandmarkedFace(face, points, "astronaut"), rng, hull="mesh", ratio=1.0, resample=resample)
    return sample.image, (sample.mask > 0).astype(np.uint8)


def face_and_mask() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut scaled so the face fills a `FACE_SIDE` square, and its face-ellipse mask."""
    base = astronaut_rgb()
    with FaceDetector() as detector:
        box = detector.detect(base)[0]
    side = round(max(box.width, box.height) * 1.6)
    cx, cy = box.center
    x0 = int(np.clip(cx - side / 2, 0, base.shape[1] - side))
    y0 = int(np.clip(cy - side / 2, 0, base.shape[0] - side))
    region = np.ascontiguousarray(base[y0 : y0 + side, x0 : x0 + side])
    scale = FACE_SIDE / side
    face = cv2.resize(region, (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_AREA)
    local = FaceBox((box.x0 - x0) * scale, (box.y0 - y0) * scale, (box.x1 - x0) * scale, (box.y1 - y0) * scale, 1.0)
    return face, face_ellipse_mask(face, local)


def face_position(t: float, size: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of the face square at time `t`: a slow drift around the frame centre."""
    width, height = size
    cx, cy = (width - FACE_SIDE) / 2, (height - FACE_SIDE) / 2
    x = cx + min(cx, 40.0) * np.sin(2 * np.pi * t / 6.0)
    y = cy + min(cy, 12.0) * np.sin(2 * np.pi * t / 4.0)
    return round(x), round(y)


def _mask_box(mask: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()) + x, int(ys.min()) + y, int(xs.max()) + 1 + x, int(ys.max()) + 1 + y
