"""Manipulation-mask shapes from face-mesh landmarks, their deformations, and the regions a mask covers.

Masks are ``(H, W)`` float32 arrays in [0, 1]. Landmarks are ``(468, 2)`` face-mesh points in continuous
pixel coordinates (pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from streamguard.forge import mesh
from streamguard.forge.records import REGIONS, BoolMask, FloatMask, label_mask

Shape = tuple[int, int]
PointArray = npt.NDArray[np.floating]

SBI_REFERENCE_FACE_PX = 300.0
"""Face size at which the SBI kernel sizes (5-25 px blur, elastic sigma 7) were set: SBI crops the face with a
small margin and resizes it to 380 px. Kernels here scale with the face."""

_SUBPIXEL_SHIFT = 4

HULL_SUBSETS: dict[str, tuple[int, ...]] = {
    "mesh": tuple(range(mesh.N_LANDMARKS)),
    "oval": mesh.FACE_OVAL,
    "inner": mesh.RIGHT_EYEBROW + mesh.LEFT_EYEBROW + mesh.RIGHT_EYE + mesh.LEFT_EYE + mesh.NOSE + mesh.LIPS_OUTER,
    "lower": mesh.NOSE + mesh.LIPS_OUTER + mesh.FACE_OVAL[9:28],
}
"""Landmark subsets whose convex hulls the self-blend chooses from (SBI uses the full hull and sub-hulls)."""

BROW_TO_CHIN: tuple[int, ...] = mesh.RIGHT_EYEBROW + mesh.LEFT_EYEBROW + mesh.FACE_OVAL[6:31]
"""The eyebrows and the face outline from temple to temple under the chin: the region dlib-style 68-point
face swaps (FaceSwap) paste, without the forehead."""


def face_size(points: PointArray) -> float:
    """The larger side of the points' bounding box (at least 1)."""
    extent = np.max(points, axis=0) - np.min(points, axis=0)
    return float(max(float(np.max(extent)), 1.0))


def _to_cv_points(points: PointArray) -> npt.NDArray[np.int32]:
    """Continuous coordinates to cv2's fixed-point pixel-index coordinates (``shift`` bits)."""
    scaled = (np.asarray(points, dtype=np.float64).reshape(-1, 2) - 0.5) * (1 << _SUBPIXEL_SHIFT)
    return np.rint(scaled).astype(np.int32)


def polygon_mask(shape: Shape, polygons: list[PointArray], convex: bool = False) -> FloatMask:
    """Filled polygons (or their convex hulls) as a {0, 1} mask.

    Args:
        shape: ``(height, width)``.
        polygons: ``(N, 2)`` vertex arrays in continuous pixel coordinates.
        convex: Fill the convex hull of each polygon instead of the polygon itself.
    """
    canvas = np.zeros(shape, dtype=np.uint8)
    for polygon in polygons:
        vertices = _to_cv_points(polygon)
        outline = np.asarray(cv2.convexHull(vertices), dtype=np.int32).reshape(-1, 2) if convex else vertices
        cv2.fillPoly(canvas, [outline], 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_SHIFT)
    return canvas.astype(np.float32)


def hull_mask(shape: Shape, points: PointArray) -> FloatMask:
    """The convex hull of the points as a {0, 1} mask."""
    return polygon_mask(shape, [points], convex=True)


def eye_axis_angle(points: PointArray) -> float:
    """Roll of the face: angle of the line from the subject's right outer eye corner to the left one."""
    right, left = points[mesh.RIGHT_EYE_OUTER_CORNER], points[mesh.LEFT_EYE_OUTER_CORNER]
    return math.atan2(float(left[1] - right[1]), float(left[0] - right[0]))


def rectangle_mask(shape: Shape, points: PointArray, margin: float = 0.0) -> FloatMask:
    """A rectangle aligned with the eye axis that bounds the points, grown by ``margin`` x its size.

    Args:
        shape: ``(height, width)``.
        points: ``(N, 2)`` points to bound.
        margin: Relative growth of each side (negative shrinks).
    """
    angle = eye_axis_angle(points) if len(points) == mesh.N_LANDMARKS else 0.0
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    levelled = np.asarray(points, dtype=np.float64) @ rotation  # rotated by -angle
    low, high = levelled.min(axis=0), levelled.max(axis=0)
    grow = (high - low) * margin / 2.0
    low, high = low - grow, high + grow
    corners = np.array([[low[0], low[1]], [high[0], low[1]], [high[0], high[1]], [low[0], high[1]]])
    return polygon_mask(shape, [corners @ rotation.T])


def ellipse_mask(shape: Shape, points: PointArray, scale: float = 1.0) -> FloatMask:
    """The least-squares ellipse through the points (``cv2.fitEllipse``), its axes scaled by ``scale``."""
    (cx, cy), (width, height), angle = cv2.fitEllipse(np.asarray(points, dtype=np.float32).reshape(-1, 1, 2))
    canvas = np.zeros(shape, dtype=np.uint8)
    factor = 1 << _SUBPIXEL_SHIFT
    center = (round((cx - 0.5) * factor), round((cy - 0.5) * factor))
    axes = (max(1, round(width * scale / 2 * factor)), max(1, round(height * scale / 2 * factor)))
    cv2.ellipse(canvas, center, axes, angle, 0, 360, 1, thickness=-1, shift=_SUBPIXEL_SHIFT)
    return canvas.astype(np.float32)


def skin_ellipse_mask(shape: Shape, points: PointArray, scale: float = 0.85) -> FloatMask:
    """A smooth skin ellipse inside the face outline (the Face2Face-like mask shape, before blurring)."""
    return ellipse_mask(shape, points[list(mesh.FACE_OVAL)], scale)


def dilate(mask: FloatMask, radius: float) -> FloatMask:
    """Grow (``radius > 0``) or shrink (``< 0``) a binary mask by a disc of ``|radius|`` pixels."""
    r = round(abs(radius))
    if r < 1:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    operation = cv2.dilate if radius > 0 else cv2.erode
    return np.asarray(operation(mask, kernel), dtype=np.float32)


def region_masks(shape: Shape, points: PointArray) -> dict[str, FloatMask]:
    """Masks of the SOML regions of one face (binary, non-overlapping except where noted).

    ``eye``: both eye openings; ``eyebrow``: hulls of both brows; ``mouth``: the mouth opening (inner lip
    contour) widened by a band of 1.5 % of the face so that a closed mouth still has an area; ``lip``: the outer
    lip contour minus the mouth; ``nose``: hull of the nose points; ``skin``: the face outline minus all the
    others.
    """
    xy = np.asarray(points, dtype=np.float64)
    band = max(1, round(0.015 * face_size(xy)))
    eye = polygon_mask(shape, [xy[list(mesh.RIGHT_EYE)], xy[list(mesh.LEFT_EYE)]])
    eyebrow = polygon_mask(shape, [xy[list(mesh.RIGHT_EYEBROW)], xy[list(mesh.LEFT_EYEBROW)]], convex=True)
    inner = xy[list(mesh.LIPS_INNER)]
    mouth_canvas = polygon_mask(shape, [inner])
    cv2.polylines(mouth_canvas, [_to_cv_points(inner)], True, 1.0, thickness=2 * band + 1, shift=_SUBPIXEL_SHIFT)
    outer = polygon_mask(shape, [xy[list(mesh.LIPS_OUTER)]])
    mouth = np.minimum(mouth_canvas, dilate(outer, band))
    lip = outer * (1.0 - mouth)
    nose = hull_mask(shape, xy[list(mesh.NOSE)])
    face = polygon_mask(shape, [xy[list(mesh.FACE_OVAL)]])
    features = np.maximum.reduce([eye, eyebrow, outer, mouth, nose])
    skin = face * (1.0 - features)
    return {"eye": eye, "eyebrow": eyebrow, "lip": lip, "mouth": mouth, "nose": nose, "skin": skin}


def regions_covered(mask: FloatMask | BoolMask, points: PointArray, min_fraction: float = 0.5) -> frozenset[str]:
    """The SOML regions at least ``min_fraction`` of whose pixels lie in the mask.

    Args:
        mask: ``(H, W)`` blend weights (binarised at their half maximum, as `ForgedSample.label_mask`) or a
            boolean label mask.
        points: ``(468, 2)`` face-mesh points of the face in the same image.
        min_fraction: Share of a region's pixels the mask must cover.

    Returns:
        A subset of ``{"eye", "eyebrow", "lip", "mouth", "nose", "skin"}``.
    """
    binary: BoolMask = (
        np.asarray(mask, dtype=np.bool_) if mask.dtype == np.bool_ else label_mask(np.asarray(mask, dtype=np.float32))
    )
    if not binary.any():
        return frozenset()
    covered = set()
    for name, region in region_masks(binary.shape[:2], points).items():
        inside = region > 0
        area = int(inside.sum())
        if area and np.count_nonzero(binary & inside) >= min_fraction * area:
            covered.add(name)
    return frozenset(n for n in REGIONS if n in covered)


def elastic_deform(mask: FloatMask, rng: np.random.Generator, alpha: float, sigma: float) -> FloatMask:
    """Displace the mask by a smooth random field (the SBI mask deformation; the image is left alone).

    Args:
        mask: ``(H, W)`` mask.
        rng: Random source.
        alpha: Displacement scale in pixels (SBI: 50 at its face size).
        sigma: Smoothness of the field, the Gaussian's standard deviation in pixels (SBI: 7).
    """
    height, width = mask.shape
    fields = rng.uniform(-1.0, 1.0, size=(2, height, width)).astype(np.float32)
    dx = cv2.GaussianBlur(fields[0], (0, 0), sigmaX=sigma) * alpha
    dy = cv2.GaussianBlur(fields[1], (0, 0), sigmaX=sigma) * alpha
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    moved = cv2.remap(mask, grid_x + dx, grid_y + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return np.clip(np.asarray(moved, dtype=np.float32), 0.0, 1.0)


def odd_kernel(value: float) -> int:
    """The odd kernel size (at least 3) nearest to ``value``, rounding up from even."""
    k = max(3, round(value))
    return k if k % 2 else k + 1


def double_blur(mask: FloatMask, rng: np.random.Generator, face_px: float) -> FloatMask:
    """SBI's blend mask: blur, keep only the fully-inside part, blur again, normalise to a peak of 1.

    Kernel sizes are drawn from 5-25 px and the second blur's sigma from 5-45 px at `SBI_REFERENCE_FACE_PX`,
    scaled to the face.
    """
    if not mask.any():
        return np.zeros_like(mask, dtype=np.float32)
    scale = face_px / SBI_REFERENCE_FACE_PX
    k1 = odd_kernel((int(rng.integers(2, 13)) * 2 + 1) * scale)
    k2 = odd_kernel((int(rng.integers(2, 13)) * 2 + 1) * scale)
    sigma2 = float(rng.integers(5, 46)) * scale
    first = np.asarray(cv2.GaussianBlur(mask.astype(np.float32), (k1, k1), 0), dtype=np.float32)
    first /= max(float(first.max()), 1e-6)
    core = (first >= 1.0 - 1e-5).astype(np.float32)
    if not core.any():
        core = mask.astype(np.float32)
    return normalise_peak(np.asarray(cv2.GaussianBlur(core, (k2, k2), sigma2), dtype=np.float32))


def feather(mask: FloatMask, sigma: float) -> FloatMask:
    """Soften a mask's edge with a Gaussian of ``sigma`` pixels (kernel of 3 sigma each side), peak 1."""
    if sigma <= 0 or not mask.any():
        return mask.astype(np.float32)
    k = odd_kernel(6 * sigma + 1)
    return normalise_peak(np.asarray(cv2.GaussianBlur(mask.astype(np.float32), (k, k), sigma), dtype=np.float32))


def normalise_peak(mask: npt.NDArray[np.floating]) -> FloatMask:
    """Scale a mask to a peak of 1 and zero the weights too small to change an 8-bit pixel (< 1/510)."""
    peak = float(mask.max()) if mask.size else 0.0
    if peak <= 0:
        return np.zeros(mask.shape, dtype=np.float32)
    scaled: FloatMask = np.clip(mask.astype(np.float32) / peak, 0.0, 1.0)
    scaled[scaled < 1.0 / 510.0] = 0.0
    return scaled
