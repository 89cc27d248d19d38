"""The records of forgery synthesis: a face with its landmarks in, a forged sample with its mask and labels out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from streamguard.types import FaceRegion

Attribute = Literal["identity", "expression", "physical"]
"""Global attribute of a fake in the SOML hierarchy (Zou et al. 2024)."""

REGIONS: tuple[str, ...] = tuple(region.value for region in FaceRegion)
"""Local regions of the SOML hierarchy, the vocabulary of `ForgedSample.regions`."""

LABEL_LEVEL = 128
"""A pixel belongs to the label mask when its blend weight, scaled to 0-255 by the mask's peak, rounds to at
least this value: the half-maximum contour of the blend. Mask PNGs store ``round(255 * mask / peak)``, and
`streamguard.datasets.read_mask` binarises them at the same level, so the files read back as the label mask."""

RgbImage = npt.NDArray[np.uint8]
FloatMask = npt.NDArray[np.float32]
BoolMask = npt.NDArray[np.bool_]
Points = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class LandmarkedFace:
    """An image with the face mesh of the face to forge.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        points: ``(468, 2)`` float32 face-mesh ``x, y`` in the image's continuous pixel coordinates.
        source: Identifier of where the image came from (a file, with ``#frame`` for a video frame).
        person: The identity group the face belongs to (e.g. a split group); ``""`` when unknown.
    """

    image: RgbImage
    points: Points
    source: str = ""
    person: str = ""

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 image, got {self.image.shape} {self.image.dtype}")
        if self.points.shape != (468, 2):
            raise ValueError(f"expected (468, 2) face-mesh points, got {self.points.shape}")

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the image."""
        return (int(self.image.shape[0]), int(self.image.shape[1]))

    def crop(self, x0: int, y0: int, x1: int, y1: int) -> LandmarkedFace:
        """The part ``[x0, x1) x [y0, y1)`` of the image, with the points moved into it."""
        image = np.ascontiguousarray(self.image[y0:y1, x0:x1])
        points = (self.points - np.array([x0, y0], dtype=np.float32)).astype(np.float32)
        return LandmarkedFace(image, points, self.source, self.person)

    def roi(self, pad: float) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)``: the landmarks' bounding box grown by ``pad`` x `face_px` each side, in the image."""
        grow = pad * self.face_px
        low = np.floor(self.points.min(axis=0) - grow).astype(int)
        high = np.ceil(self.points.max(axis=0) + grow).astype(int)
        height, width = self.shape
        x0, y0 = max(0, int(low[0])), max(0, int(low[1]))
        x1, y1 = min(width, int(high[0])), min(height, int(high[1]))
        return x0, y0, max(x0 + 1, x1), max(y0 + 1, y1)

    @property
    def face_px(self) -> float:
        """The larger side of the landmarks' bounding box, in pixels (the scale of the face)."""
        extent = self.points.max(axis=0) - self.points.min(axis=0)
        return float(max(extent.max(), 1.0))


@dataclass(frozen=True, slots=True)
class ForgedSample:
    """One synthesised fake.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB fake, the size of the target.
        mask: ``(H, W)`` float32 blend weights in [0, 1]: exactly the pixels that may differ from the target
            (where it is 0 the fake equals the target bit for bit; where the fake differs it is > 0).
        method: The synthesis method (a key of `streamguard.forge.families.METHODS`).
        family: ``self_blend``, ``face_swap`` or ``region``.
        attribute: SOML global attribute.
        regions: SOML local regions the label mask covers (see `streamguard.forge.masks.regions_covered`).
        sources: Identifiers of the target, then of the donor when there is one.
    """

    image: RgbImage
    mask: FloatMask
    method: str
    family: str
    attribute: Attribute
    regions: frozenset[str]
    sources: tuple[str, ...]

    @property
    def peak(self) -> float:
        """The largest blend weight (the blend ratio of a self-blend)."""
        return float(self.mask.max()) if self.mask.size else 0.0

    def label_mask(self) -> BoolMask:
        """The binary manipulation mask used as segmentation target: the blend's half-maximum region."""
        return label_mask(self.mask)

    def mask_png(self) -> npt.NDArray[np.uint8]:
        """The mask scaled by its peak to 0-255 (what the eval layout stores; reads back as `label_mask`)."""
        return mask_to_uint8(self.mask)


def mask_to_uint8(mask: FloatMask) -> npt.NDArray[np.uint8]:
    """``round(255 * mask / peak)`` as uint8 (all zeros for an empty mask)."""
    peak = float(mask.max()) if mask.size else 0.0
    if peak <= 0.0:
        return np.zeros(mask.shape, dtype=np.uint8)
    scaled: npt.NDArray[np.uint8] = np.rint(np.clip(mask, 0.0, None) * (255.0 / peak)).astype(np.uint8)
    return scaled


def label_mask(mask: FloatMask) -> BoolMask:
    """The half-maximum region of blend weights (see `LABEL_LEVEL`); all False for an empty mask."""
    binary: BoolMask = mask_to_uint8(mask) >= LABEL_LEVEL
    return binary
