"""A small labelled dataset built from `skimage.data.astronaut()` (public domain), for tests and demos.

Reals are the astronaut placed at random positions and scales on noisy backgrounds with colour jitter;
fakes are the same with a blended edit inside the face (an ellipse re-coloured and blurred), and their
masks cover exactly the edited pixels. It exercises every code path of training and evaluation without
`../shared`; it says nothing about how a model generalises (that is what `streamguard forge` data is for).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from streamguard.vision.crop import FaceBox
from streamguard.vision.detection import FaceDetector

FAKE_GROUP = "blend"


@dataclass(frozen=True)
class ToyDataset:
    """Where the files went and how many of each were written."""

    root: Path
    n_real_images: int
    n_fake_images: int
    n_real_videos: int
    n_fake_videos: int


def astronaut_rgb() -> np.ndarray:
    """The public-domain `skimage.data.astronaut()` image, `(512, 512, 3)` uint8 RGB."""
    from skimage import data

    image: np.ndarray = np.ascontiguousarray(data.astronaut())  # type: ignore[no-untyped-call]
    return image


def face_ellipse_mask(image: np.ndarray, box: FaceBox) -> np.ndarray:
    """A filled ellipse inside the face box (cheeks, eyes, nose, mouth), uint8 in {0, 1}."""
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    cx, cy = box.center
    axes = (max(1, int(box.width * 0.33)), max(1, int(box.height * 0.42)))
    cv2.ellipse(mask, (int(cx), int(cy + box.height * 0.05)), axes, 0, 0, 360, 1, thickness=-1)
    return mask


def blended_edit(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Re-colour and blur the masked area: a crude face edit whose changed pixels are exactly the mask."""
    shift = rng.uniform(-45, 45, size=3) + rng.choice([-1, 1]) * 20
    edited = cv2.GaussianBlur(image, (0, 0), sigmaX=rng.uniform(2.0, 4.0)).astype(np.float32) + shift
    out = image.copy()
    inside = mask.astype(bool)
    out[inside] = np.clip(edited[inside], 0, 255).astype(np.uint8)
    return out


def place_on_canvas(
    image: np.ndarray, mask: np.ndarray, canvas_hw: tuple[int, int], scale: float, offset: tuple[int, int], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scale `image` (and its mask) and paste it at `offset` on a noisy canvas of `canvas_hw`."""
    rng = np.random.default_rng(seed)
    side = round(image.shape[0] * scale)
    small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask, (side, side), interpolation=cv2.INTER_NEAREST)
    height, width = canvas_hw
    canvas = np.clip(rng.normal(rng.uniform(40, 200), 12, (height, width, 3)), 0, 255).astype(np.uint8)
    full_mask = np.zeros((height, width), dtype=np.uint8)
    y, x = offset
    canvas[y : y + side, x : x + side] = small
    full_mask[y : y + side, x : x + side] = small_mask
    return canvas, full_mask


def write_toy_dataset(
    root: Path,
    *,
    n_images: int = 12,
    n_videos: int = 2,
    frames_per_video: int = 12,
    canvas_hw: tuple[int, int] = (240, 320),
    seed: int = 0,
) -> ToyDataset:
    """Write `n_images` real and fake images and `n_videos` real and fake videos in the eval folder layout.

    Layout: `real/astro_NNN.jpg`, `real/clips/clip_NNN.mp4`, `fake/blend/astro_NNN.jpg`,
    `fake/blend/clip_NNN.mp4`, `masks/blend/astro_NNN.png`, `masks/blend/clip_NNN/<frame>.png`.
    """
    rng = np.random.default_rng(seed)
    base = astronaut_rgb()
    with FaceDetector() as detector:
        box = detector.detect(base)[0]
    ellipse = face_ellipse_mask(base, box)
    for sub in ("real/clips", f"fake/{FAKE_GROUP}", f"masks/{FAKE_GROUP}"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        _write_image_pair(root, f"astro_{i:03d}", base, ellipse, canvas_hw, rng)
    for i in range(n_videos):
        _write_video_pair(root, f"clip_{i:03d}", base, ellipse, canvas_hw, frames_per_video, rng)
    return ToyDataset(root, n_images, n_images, n_videos, n_videos)


def _random_pose(canvas_hw: tuple[int, int], rng: np.random.Generator) -> tuple[float, tuple[int, int]]:
    height, width = canvas_hw
    scale = rng.uniform(0.32, 0.42) * min(height, width) / 240
    side = round(512 * scale)
    return scale, (int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1)))


def _jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gain, bias = rng.uniform(0.85, 1.15), rng.uniform(-15, 15)
    jittered: np.ndarray = np.clip(image.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
    return jittered


def _write_image_pair(
    root: Path, name: str, base: np.ndarray, ellipse: np.ndarray, canvas_hw: tuple[int, int], rng: np.random.Generator
) -> None:
    for is_fake in (False, True):
        source = blended_edit(base, ellipse, rng) if is_fake else base
        scale, offset = _random_pose(canvas_hw, rng)
        frame, mask = place_on_canvas(
            _jitter(source, rng), ellipse, canvas_hw, scale, offset, int(rng.integers(1 << 31))
        )
        folder = f"fake/{FAKE_GROUP}" if is_fake else "real"
        cv2.imwrite(
            str(root / folder / f"{name}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]
        )
        if is_fake:
            cv2.imwrite(str(root / "masks" / FAKE_GROUP / f"{name}.png"), mask * 255)


def _write_video_pair(
    root: Path,
    name: str,
    base: np.ndarray,
    ellipse: np.ndarray,
    canvas_hw: tuple[int, int],
    n_frames: int,
    rng: np.random.Generator,
) -> None:
    for is_fake in (False, True):
        source = _jitter(blended_edit(base, ellipse, rng) if is_fake else base, rng)
        scale, (y, x) = _random_pose(canvas_hw, rng)
        frames, masks = [], []
        background_seed = int(rng.integers(1 << 31))
        for t in range(n_frames):
            dy, dx = round(2 * np.sin(t / 3)), round(2 * np.cos(t / 3))
            offset = (max(0, y + dy - 2), max(0, x + dx - 2))
            frame, mask = place_on_canvas(source, ellipse, canvas_hw, scale, offset, background_seed)
            frames.append(frame)
            masks.append(mask)
        path = root / (f"fake/{FAKE_GROUP}" if is_fake else "real/clips") / f"{name}.mp4"
        write_video(path, frames)
        if is_fake:
            mask_dir = root / "masks" / FAKE_GROUP / name
            mask_dir.mkdir(parents=True, exist_ok=True)
            for t, mask in enumerate(masks):
                cv2.imwrite(str(mask_dir / f"{t}.png"), mask * 255)


def write_video(path: Path, frames: list[np.ndarray], fps: int = 25, crf: int = 18) -> None:
    """Encode RGB frames as H.264 (yuv420p) with PyAV; frame sizes must be even."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
