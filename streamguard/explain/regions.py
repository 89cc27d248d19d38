"""Face regions of a crop from its face mesh, and how much of each a manipulation mask covers."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from streamguard.forge.landmarks import FaceMesh
from streamguard.forge.masks import region_masks
from streamguard.types import FaceRegion, RegionCoverage, RegionOutline
from streamguard.vision.crop import DEFAULT_CROP_SCALE, FaceBox

REPORTED_COVERAGE = 0.2
"""Regions covered less than this are left out of an explanation's list."""
NAMED_COVERAGE = 0.5
"""Regions covered at least this much are named in words; the forge labels a region at the same share
(`streamguard.forge.masks.regions_covered`), so region precision and recall compare like with like."""
MASK_LEVEL = 0.5
"""A pixel is manipulated where the mask's probability reaches this."""
MIN_PRESENCE = 0.5
"""Face-mesh presence below which a crop is taken to hold no face."""

RegionMasks = dict[FaceRegion, npt.NDArray[np.bool_]]


class RegionLocator:
    """Region masks of a face crop (the daemon's 1.3x square crop) from the 468-point face mesh.

    Not thread-safe (the LiteRT interpreter is not): call it from one thread.

    Args:
        mesh: The face-mesh model; the bundled one when None.
    """

    def __init__(self, mesh: FaceMesh | None = None) -> None:
        self._mesh = mesh

    def regions(self, crop: npt.NDArray[np.uint8]) -> RegionMasks | None:
        """The region masks of the face in `crop`, or None when the mesh finds no face there.

        The face box is taken as the crop's central square of side ``S / 1.3``: the crop was cut that way
        around the detected box.
        """
        if self._mesh is None:
            self._mesh = FaceMesh(num_threads=1)
        side = crop.shape[0] / DEFAULT_CROP_SCALE
        low, high = (crop.shape[0] - side) / 2.0, (crop.shape[0] + side) / 2.0
        landmarks = self._mesh.landmarks(crop, FaceBox(low, low, high, high, 1.0))
        if landmarks.presence < MIN_PRESENCE:
            return None
        masks = region_masks(crop.shape[:2], landmarks.xy)
        return {FaceRegion(name): region > 0 for name, region in masks.items()}

    def close(self) -> None:
        """Release the face-mesh model."""
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None


def region_coverage(
    mask: npt.NDArray[np.floating], regions: RegionMasks, min_coverage: float = REPORTED_COVERAGE
) -> tuple[RegionCoverage, ...]:
    """Share of each region's pixels where `mask` (probabilities, crop space) reaches `MASK_LEVEL`.

    Regions under `min_coverage`, and empty ones, are left out; the rest come most covered first (ties in
    `FaceRegion` order).
    """
    manipulated = np.asarray(mask) >= MASK_LEVEL
    found = []
    for region in FaceRegion:
        inside = regions.get(region)
        if inside is None or inside.shape != manipulated.shape:
            continue
        area = int(inside.sum())
        if area == 0:
            continue
        coverage = float(np.count_nonzero(manipulated & inside)) / area
        if coverage >= min_coverage:
            found.append(RegionCoverage(region, round(coverage, 4)))
    return tuple(sorted(found, key=lambda item: -item.coverage))


def named_regions(regions: tuple[RegionCoverage, ...]) -> frozenset[FaceRegion]:
    """The regions covered at least `NAMED_COVERAGE`."""
    return frozenset(item.region for item in regions if item.coverage >= NAMED_COVERAGE)


def region_outlines(regions: RegionMasks, named: frozenset[FaceRegion]) -> tuple[RegionOutline, ...]:
    """The outer contours of the `named` regions (the largest contour of each; eyes give two)."""
    outlines = []
    for region in FaceRegion:
        inside = regions.get(region)
        if region not in named or inside is None:
            continue
        contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:2]:
            outlines.append(RegionOutline(region, contour.reshape(-1, 2).astype(np.int32)))
    return tuple(outlines)
