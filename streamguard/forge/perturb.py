"""Source-only perturbations of the Self-Blended Images recipe (applied to the copy that is blended in).

Following SBI: RGB shift (+-20 levels), hue/saturation/value shift and brightness/contrast change (+-10 %),
each with probability 0.3; then always one frequency change: down-and-up scaling by 2 or 4, or sharpening.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamguard.forge.realism import rescale_roundtrip
from streamguard.forge.records import RgbImage

P_COLOUR = 0.3
SBI_FACE_PX = 300.0
"""Approximate face size in SBI's 380 px training crops, where its x2 / x4 down-scaling was tuned."""


def perturb_source(
    image: RgbImage, rng: np.random.Generator, face_px: float = SBI_FACE_PX, resample: bool | None = None
) -> RgbImage:
    """A colour- and frequency-perturbed copy of ``image`` (never identical to it for a textured image).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        rng: Random source.
        face_px: Size of the face in the image. The down-scaling factor 1/2 or 1/4 applies at SBI's face size
            (`SBI_FACE_PX`); for other sizes the factor brings the face to the same resolution, kept within
            0.2-0.8.
        resample: Force the frequency perturbation: down-and-up scaling (True) or sharpening (False); None
            draws it (even odds). Forcing the other branch than the draw consumes other random numbers.
    """
    out = image.astype(np.float32)
    if rng.random() < P_COLOUR:
        out += rng.uniform(-20, 20, size=3).astype(np.float32)
    if rng.random() < P_COLOUR:
        out = _hsv_shift(out, rng)
    if rng.random() < P_COLOUR:
        mean = float(out.mean())
        out = (out - mean) * (1.0 + rng.uniform(-0.1, 0.1)) + mean + rng.uniform(-0.1, 0.1) * 255.0
    result = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    drawn_resample = rng.random() < 0.5
    if drawn_resample if resample is None else resample:
        factor = SBI_FACE_PX / float(rng.choice([2, 4])) / max(face_px, 1.0)
        return rescale_roundtrip(result, float(np.clip(factor, 0.2, 0.8)))
    return sharpen(result, alpha=rng.uniform(0.2, 0.5), lightness=rng.uniform(0.5, 1.0))


def sharpen(image: RgbImage, alpha: float, lightness: float) -> RgbImage:
    """Sharpen with a 3x3 Laplacian kernel blended with the identity by ``alpha`` (albumentations' Sharpen)."""
    identity = np.zeros((3, 3), dtype=np.float32)
    identity[1, 1] = 1.0
    laplacian = np.array([[-1, -1, -1], [-1, 8 + lightness, -1], [-1, -1, -1]], dtype=np.float32)
    kernel = (1.0 - alpha) * identity + alpha * laplacian
    sharpened = cv2.filter2D(image.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    return np.clip(np.rint(sharpened), 0, 255).astype(np.uint8)


def _hsv_shift(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hsv = cv2.cvtColor(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[:, :, 0] = (hsv[:, :, 0] + rng.uniform(-0.1, 0.1) * 256.0 / 3.6) % 256.0
    hsv[:, :, 1:] *= 1.0 + rng.uniform(-0.1, 0.1, size=2).astype(np.float32)
    back = cv2.cvtColor(np.clip(np.rint(hsv), 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)
    return np.asarray(back, dtype=np.float32)
