"""The three families of synthetic forgeries, each blended into a real target with an exact mask.

1. ``self_blend`` (Self-Blended Images, Shiohara & Yamasaki 2022): the face is blended with a perturbed and
   slightly shifted copy of itself through a deformed, doubly blurred landmark-hull mask.
2. ``face_swap``: another person's face is carried onto the target's landmarks by a piecewise-affine mesh
   warp, colour-matched and blended with one of the three mask shapes of FaceForensics++: a landmark hull
   polygon (``swap_hull``, FaceSwap-like), an eye-aligned rectangle (``swap_rect``, Deepfakes-like) or a
   smooth skin ellipse (``swap_ellipse``, Face2Face-like).
3. ``region``: the mouth (``region_mouth``) or the eyes (``region_eyes``) replaced from another frame of the
   same person (aligned by a similarity on landmarks away from the region), or, for a still image, moved by
   a smooth expression warp (mouth opened, smiling or pressed; eyes closed or widened).

Every method returns a `ForgedSample` whose image is ``target + mask * (source - target)`` rounded to uint8,
where ``source`` is what is blended in. Source-only perturbations are applied to ``source``; the target is
never altered, so the fake equals the target exactly wherever the mask is 0. Stream realism
(`streamguard.forge.realism`) is applied afterwards to whole images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from streamguard.errors import StreamguardError
from streamguard.forge import mesh
from streamguard.forge.geometry import apply_affine, fit_similarity, mesh_warp_maps, remap, warp_affine
from streamguard.forge.masks import (
    BROW_TO_CHIN,
    HULL_SUBSETS,
    SBI_REFERENCE_FACE_PX,
    dilate,
    double_blur,
    elastic_deform,
    face_size,
    feather,
    hull_mask,
    odd_kernel,
    polygon_mask,
    rectangle_mask,
    regions_covered,
    skin_ellipse_mask,
)
from streamguard.forge.perturb import perturb_source
from streamguard.forge.records import Attribute, FloatMask, ForgedSample, LandmarkedFace, RgbImage

DonorKind = Literal["none", "other_person", "same_person"]
SwapShape = Literal["hull", "rect", "ellipse"]
Region = Literal["mouth", "eyes"]


class ForgeError(StreamguardError):
    """A forgery cannot be made from these inputs (a donor is missing, a mask is empty, no face was found)."""


@dataclass(frozen=True, slots=True)
class MethodInfo:
    """What a synthesis method needs and what it produces.

    Attributes:
        family: ``self_blend``, ``face_swap`` or ``region``.
        attribute: SOML global attribute of its fakes.
        donor: ``none``; ``other_person`` (required: another identity); ``same_person`` (optional: another
            frame of the same video; without it a still-image variant is used).
    """

    family: str
    attribute: Attribute
    donor: DonorKind


METHODS: dict[str, MethodInfo] = {
    "self_blend": MethodInfo("self_blend", "physical", "none"),
    "swap_hull": MethodInfo("face_swap", "identity", "other_person"),
    "swap_rect": MethodInfo("face_swap", "identity", "other_person"),
    "swap_ellipse": MethodInfo("face_swap", "identity", "other_person"),
    "region_mouth": MethodInfo("region", "expression", "same_person"),
    "region_eyes": MethodInfo("region", "expression", "same_person"),
}
"""The synthesis methods by name. Attributes: a self-blend changes colour and texture, not who or what
expression (``physical`` inconsistency); a swap changes the identity; a region edit changes the expression."""

FAMILIES: tuple[str, ...] = ("self_blend", "face_swap", "region")

SBI_BLEND_RATIOS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
MIN_REGION_MOTION = 0.01
"""A donor frame whose region moved less than this share of the face (mean landmark displacement after
alignment) is not used; the still-image warp is used instead, so that every fake really differs."""


def methods_of(families: list[str] | tuple[str, ...] | None) -> list[str]:
    """The method names of the given families (all methods for None), in `METHODS` order.

    Raises:
        ValueError: When a family is unknown.
    """
    if families is None:
        return list(METHODS)
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown families {unknown}; choose from {', '.join(FAMILIES)}")
    return [name for name, info in METHODS.items() if info.family in families]


def resolve_methods(names: list[str] | tuple[str, ...] | None) -> list[str] | None:
    """Method names from command-line values: comma-separated lists, method names or family names.

    Args:
        names: e.g. ``["self_blend,region"]`` or ``["swap_hull", "face_swap"]``; None or empty for all.

    Returns:
        The methods in `METHODS` order, or None (all) when nothing was given.

    Raises:
        ForgeError: When a name is neither a method nor a family.
    """
    wanted = {part.strip() for name in names or [] for part in name.split(",") if part.strip()}
    if not wanted:
        return None
    unknown = sorted(wanted - set(METHODS) - set(FAMILIES))
    if unknown:
        raise ForgeError(f"unknown forgery methods {unknown}; choose from {', '.join([*METHODS, *FAMILIES])}")
    return [m for m, info in METHODS.items() if m in wanted or info.family in wanted]


def blend(target: RgbImage, source: RgbImage, mask: FloatMask) -> RgbImage:
    """``round(target + mask * (source - target))``; pixels where ``mask == 0`` are the target's, exactly."""
    t = target.astype(np.float32)
    weights = mask[:, :, np.newaxis]
    mixed = np.clip(np.rint(t + weights * (source.astype(np.float32) - t)), 0, 255).astype(np.uint8)
    return np.where(weights > 0, mixed, target)


ROI_PAD = 0.4
"""`forge` works on the landmarks' box grown by this share of the face each side (every mask fits in it)."""


def forge(
    method: str, target: LandmarkedFace, rng: np.random.Generator, donor: LandmarkedFace | None = None
) -> ForgedSample:
    """Make one fake of ``target`` with the named method.

    The method runs on the face's neighbourhood (`ROI_PAD`) only, which is pasted back into the full image;
    the mask is 0 and the image is the target's everywhere else.

    Args:
        method: A key of `METHODS`.
        target: The real face to manipulate.
        rng: Random source (the result is a pure function of its state and the inputs).
        donor: Another person's face for the swaps (required); another frame of the same person for the region
            edits (optional); ignored by the self-blend.

    Raises:
        ValueError: When the method is unknown.
        ForgeError: When a required donor is missing or the mask comes out empty.
    """
    if method not in METHODS:
        raise ValueError(f"unknown forgery method {method!r}; choose from {', '.join(METHODS)}")
    x0, y0, x1, y1 = target.roi(ROI_PAD)
    part = target.crop(x0, y0, x1, y1)
    makers: dict[str, Callable[[], ForgedSample]] = {
        "self_blend": lambda: self_blend(part, rng),
        "swap_hull": lambda: face_swap(part, _required(donor, method), rng, "hull"),
        "swap_rect": lambda: face_swap(part, _required(donor, method), rng, "rect"),
        "swap_ellipse": lambda: face_swap(part, _required(donor, method), rng, "ellipse"),
        "region_mouth": lambda: region_edit(part, rng, "mouth", donor),
        "region_eyes": lambda: region_edit(part, rng, "eyes", donor),
    }
    sample = makers[method]()
    image = target.image.copy()
    image[y0:y1, x0:x1] = sample.image
    mask = np.zeros(target.shape, dtype=np.float32)
    mask[y0:y1, x0:x1] = sample.mask
    return replace(sample, image=image, mask=mask)


def _required(donor: LandmarkedFace | None, method: str) -> LandmarkedFace:
    if donor is None:
        raise ForgeError(f"method {method!r} needs a donor face of another person")
    return donor


def _finish(
    method: str, target: LandmarkedFace, source: RgbImage, mask: FloatMask, donor: LandmarkedFace | None = None
) -> ForgedSample:
    mask = np.clip(mask, 0.0, 1.0).astype(np.float32)
    if not mask.any():
        raise ForgeError(f"{method}: the mask is empty (is the face inside the image?)")
    info = METHODS[method]
    sources = (target.source,) if donor is None else (target.source, donor.source)
    return ForgedSample(
        image=blend(target.image, source, mask),
        mask=mask,
        method=method,
        family=info.family,
        attribute=info.attribute,
        regions=regions_covered(mask, target.points),
        sources=sources,
    )


# --- 1. Self-blended images ---------------------------------------------------------------------------------


def self_blend(
    target: LandmarkedFace,
    rng: np.random.Generator,
    *,
    hull: str | None = None,
    ratio: float | None = None,
    resample: bool | None = None,
) -> ForgedSample:
    """A self-blended image (SBI recipe).

    Mask: the convex hull of all landmarks or of a subset (face outline, inner features, lower face), shifted
    with the source, elastically deformed (mask only), blurred twice with random kernels, and scaled by a
    blend ratio from ``{.25, .5, .75, 1, 1, 1}``. Source: the target with random RGB shift, hue/saturation/
    value and brightness/contrast changes, then always either down-and-up scaling (x2 or x4) or sharpening,
    then a small affine shift (x +-3 %, y +-1.5 % of the face, scale 0.95-1.05).

    ``hull`` (a key of `HULL_SUBSETS`), ``ratio`` and ``resample`` (scaling rather than sharpening, see
    `perturb_source`) fix those draws, e.g. for a demo's clearly visible forgery. Hull and ratio are still
    drawn, so fixing them leaves the rest of the result as it was.
    """
    shape, face = target.shape, target.face_px
    subsets = list(HULL_SUBSETS)
    subset = subsets[int(rng.choice(len(subsets), p=[0.4, 0.3, 0.15, 0.15]))]
    if hull is not None:
        if hull not in HULL_SUBSETS:
            raise ValueError(f"unknown hull {hull!r}; choose from {', '.join(HULL_SUBSETS)}")
        subset = hull
    mask = hull_mask(shape, target.points[list(HULL_SUBSETS[subset])])
    source = perturb_source(target.image, rng, face, resample)
    shift = _random_shift(rng, target.points, face)
    source = warp_affine(source, shift, shape)
    mask = _warp_mask(mask, shift, shape)
    scale = face / SBI_REFERENCE_FACE_PX
    mask = elastic_deform(mask, rng, alpha=50.0 * scale * scale, sigma=7.0 * scale)
    mask = double_blur(mask, rng, face)
    drawn_ratio = SBI_BLEND_RATIOS[int(rng.integers(len(SBI_BLEND_RATIOS)))]
    return _finish("self_blend", target, source, mask * np.float32(drawn_ratio if ratio is None else ratio))


def _random_shift(rng: np.random.Generator, points: npt.NDArray[np.float32], face: float) -> npt.NDArray[np.float64]:
    """Output-to-source affine map: scale 0.95-1/0.95 about the face centre and a shift of a few % of the face."""
    center = points.mean(axis=0).astype(np.float64)
    scale = rng.uniform(0.95, 1.0 / 0.95)
    offset = np.array([rng.uniform(-0.03, 0.03), rng.uniform(-0.015, 0.015)]) * face
    affine = np.zeros((2, 3), dtype=np.float64)
    affine[0, 0] = affine[1, 1] = 1.0 / scale
    affine[:, 2] = center - center / scale - offset
    return affine


def _warp_mask(mask: FloatMask, affine: npt.NDArray[np.float64], shape: tuple[int, int]) -> FloatMask:
    """Move a mask with the content warped by ``affine`` (output-to-source map); outside is 0."""
    to_index = affine.copy()
    to_index[:, 2] += affine[:, :2].sum(axis=1) * 0.5 - 0.5
    moved = cv2.warpAffine(
        mask, to_index, (shape[1], shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )  # fmt: skip
    return np.asarray(moved, dtype=np.float32)


# --- 2. Cross-identity face swaps ---------------------------------------------------------------------------


def face_swap(
    target: LandmarkedFace, donor: LandmarkedFace, rng: np.random.Generator, shape: SwapShape = "hull"
) -> ForgedSample:
    """Another person's face warped onto the target's landmarks, colour-matched and blended.

    The donor is carried over by the piecewise-affine mesh warp (`mesh_warp_maps`), its colours are matched to
    the target inside the mask (Reinhard transfer in Lab, random strength 0.6-1), and it is blended through:

    - ``hull``: the convex hull of the eyebrows and the face outline below them, edge softened by 1-3 % of the
      face (FaceSwap-like polygon);
    - ``rect``: an eye-aligned rectangle around the same points shrunk by 5-15 %, edge softened by 1-3 %
      (Deepfakes-like);
    - ``ellipse``: an ellipse fitted to the face outline, 75-90 % of its size, blurred by 5-10 % of the face
      (Face2Face-like smooth skin mask).
    """
    face = target.face_px
    hw = target.shape
    warped = remap(donor.image, mesh_warp_maps(target.points, donor.points, hw))
    brow_to_chin = target.points[list(BROW_TO_CHIN)]
    if shape == "hull":
        base, sigma = hull_mask(hw, brow_to_chin), rng.uniform(0.01, 0.03) * face
    elif shape == "rect":
        base, sigma = rectangle_mask(hw, brow_to_chin, margin=-rng.uniform(0.05, 0.15)), rng.uniform(0.01, 0.03) * face
    elif shape == "ellipse":
        base, sigma = skin_ellipse_mask(hw, target.points, rng.uniform(0.75, 0.9)), rng.uniform(0.05, 0.1) * face
    else:
        raise ValueError(f"unknown swap mask shape {shape!r}; choose hull, rect or ellipse")
    source = match_colours(warped, target.image, base > 0, strength=rng.uniform(0.6, 1.0))
    return _finish(f"swap_{shape}", target, source, feather(base, sigma), donor)


def match_colours(
    image: RgbImage, reference: RgbImage, region: npt.NDArray[np.bool_], strength: float = 1.0
) -> RgbImage:
    """Reinhard colour transfer: give ``image`` the per-channel Lab mean and spread of ``reference`` in ``region``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB to recolour (all of it, with statistics taken inside ``region``).
        reference: ``(H, W, 3)`` uint8 RGB whose statistics to copy.
        region: ``(H, W)`` bool, where the statistics are measured.
        strength: 0 leaves the image alone, 1 is the full transfer.
    """
    if not region.any() or strength <= 0:
        return image
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    ref = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float32)
    mean_i, std_i = lab[region].mean(axis=0), lab[region].std(axis=0) + 1e-3
    mean_r, std_r = ref[region].mean(axis=0), ref[region].std(axis=0) + 1e-3
    transferred = (lab - mean_i) * (std_r / std_i) + mean_r
    mixed = lab + strength * (transferred - lab)
    out = cv2.cvtColor(np.clip(np.rint(mixed), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    return np.ascontiguousarray(out, dtype=np.uint8)


# --- 3. Region-local edits ----------------------------------------------------------------------------------

_REGION_LOOPS: dict[str, tuple[tuple[int, ...], ...]] = {
    "mouth": (mesh.LIPS_OUTER,),
    "eyes": (mesh.RIGHT_EYE, mesh.LEFT_EYE),
}
_ANCHORS: dict[str, tuple[int, ...]] = {
    "mouth": mesh.RIGHT_EYE + mesh.LEFT_EYE + mesh.NOSE + mesh.FACE_OVAL[:9] + mesh.FACE_OVAL[27:],
    "eyes": mesh.NOSE + mesh.LIPS_OUTER + mesh.FACE_OVAL,
}
"""Landmarks that a region edit leaves in place: they align another frame of the same person (similarity)."""
_DILATION = {"mouth": 0.06, "eyes": 0.04}
"""How far the mask reaches around the region, as a share of the face."""


def region_edit(
    target: LandmarkedFace, rng: np.random.Generator, region: Region = "mouth", donor: LandmarkedFace | None = None
) -> ForgedSample:
    """Replace the mouth or the eyes, from another frame of the same person or by an expression warp.

    With ``donor`` (another frame of the same video) whose region moved by at least `MIN_REGION_MOTION` of the
    face, the donor frame is aligned to the target by a similarity fitted on landmarks away from the region and
    its region is blended in; otherwise the target's own region is warped (mouth opened, smiling or pressed;
    eyes closed or widened). The mask is the hull of the region before and after, grown by 6 % (mouth) or
    4 % (eyes) of the face and feathered by 1.5-3 %.
    """
    if region not in _REGION_LOOPS:
        raise ValueError(f"unknown region {region!r}; choose mouth or eyes")
    face, hw = target.face_px, target.shape
    moved = None
    if donor is not None:
        donor_to_target = fit_similarity(donor.points[list(_ANCHORS[region])], target.points[list(_ANCHORS[region])])
        moved = apply_affine(donor_to_target, donor.points).astype(np.float32)
        if _region_motion(target.points, moved, region) < MIN_REGION_MOTION * face:
            moved = None
    used_donor = donor if moved is not None else None
    if moved is not None:
        source = warp_affine(_required(donor, "region").image, _invert(donor_to_target), hw)
    else:
        moved = expression_points(target.points, rng, region)
        source = warp_to_points(target.image, target.points, moved, region)
        if region == "mouth":
            source = paint_mouth_gap(source, target.points, moved, rng)
    loops = _REGION_LOOPS[region]
    polygons = [np.concatenate([target.points[list(loop)], moved[list(loop)]]) for loop in loops]
    base = dilate(polygon_mask(hw, polygons, convex=True), _DILATION[region] * face)
    mask = feather(base, rng.uniform(0.015, 0.03) * face)
    return _finish(f"region_{region}", target, source, mask, used_donor)


def _invert(affine: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    inverse: npt.NDArray[np.float64] = cv2.invertAffineTransform(affine).astype(np.float64)
    return inverse


def _region_motion(before: npt.NDArray[np.float32], after: npt.NDArray[np.float32], region: str) -> float:
    index = [i for loop in _REGION_LOOPS[region] for i in loop]
    return float(np.linalg.norm(before[index] - after[index], axis=1).mean())


def expression_points(
    points: npt.NDArray[np.float32], rng: np.random.Generator, region: Region
) -> npt.NDArray[np.float32]:
    """The landmarks after a random expression change of one region (the other points stay put).

    Mouth: ``open`` (lower lip down by 4-9 % of the face), ``smile`` (corners out and up by 2-5 %, lips
    following) or ``press`` (the lips closed towards their middle line). Eyes: ``close`` (upper lids 50-95 % of
    the way to the lower lids) or ``widen`` (upper lids up by 30-60 % of the eye opening). Directions follow
    the face's roll.
    """
    moved = points.astype(np.float64).copy()
    eye_line = points[mesh.LEFT_EYE_OUTER_CORNER].astype(np.float64) - points[mesh.RIGHT_EYE_OUTER_CORNER]
    angle = float(np.arctan2(eye_line[1], eye_line[0]))
    right = np.array([np.cos(angle), np.sin(angle)])  # along the eye line, towards the subject's left
    down = np.array([-np.sin(angle), np.cos(angle)])
    face = face_size(points)
    if region == "mouth":
        _move_mouth(moved, rng, right, down, face)
    else:
        _move_eyes(moved, rng, down)
    return moved.astype(np.float32)


def _move_mouth(
    moved: npt.NDArray[np.float64], rng: np.random.Generator, right: npt.NDArray[np.float64],
    down: npt.NDArray[np.float64], face: float,
) -> None:  # fmt: skip
    lower = sorted(set(mesh.LIPS_OUTER_LOWER[1:-1] + mesh.LIPS_INNER_LOWER[1:-1]))
    upper = sorted(set(mesh.LIPS_OUTER_UPPER[1:-1] + mesh.LIPS_INNER_UPPER[1:-1]))
    kind = ("open", "smile", "press")[int(rng.integers(3))]
    if kind == "open":
        # Jaw drop: the lower lip moves down fully, the skin below it fades in over 6 % of the face.
        drop = down * rng.uniform(0.04, 0.09) * face
        below = (moved - (moved[61] + moved[291]) / 2.0) @ down
        moved += np.clip(below / (0.06 * face), 0.0, 1.0)[:, np.newaxis] * drop
        moved[lower] = moved[lower] - np.clip(below[lower] / (0.06 * face), 0.0, 1.0)[:, np.newaxis] * drop + drop
        return
    if kind == "smile":
        lift = rng.uniform(0.02, 0.05) * face
        for corner, side in ((61, -1.0), (291, 1.0), (78, -1.0), (308, 1.0)):
            moved[corner] += (side * right - 0.6 * down) * lift
        moved[upper + lower] -= down * 0.3 * lift
        return
    middle = (moved[13] + moved[14]) / 2.0
    for chain in (upper, lower):
        along_down = (middle - moved[chain]) @ down
        moved[chain] += 0.8 * along_down[:, np.newaxis] * down


def _move_eyes(moved: npt.NDArray[np.float64], rng: np.random.Generator, down: npt.NDArray[np.float64]) -> None:
    upper = list(mesh.RIGHT_EYE_UPPER[1:-1] + mesh.LEFT_EYE_UPPER[1:-1])
    lower = list(mesh.RIGHT_EYE_LOWER[1:-1] + mesh.LEFT_EYE_LOWER[1:-1])
    if rng.random() < 0.6:
        moved[upper] += (moved[lower] - moved[upper]) * rng.uniform(0.5, 0.95)
    else:
        opening = np.linalg.norm(moved[lower] - moved[upper], axis=1, keepdims=True)
        moved[upper] -= down * opening * rng.uniform(0.3, 0.6)


def paint_mouth_gap(
    image: RgbImage, before: npt.NDArray[np.float32], after: npt.NDArray[np.float32], rng: np.random.Generator
) -> RgbImage:
    """Paint the strip the inner lower lip vacated when it moved down (the opened mouth) a dark cavity colour."""
    chain = list(mesh.LIPS_INNER_LOWER)
    down_shift = float(np.mean(np.linalg.norm(after[chain] - before[chain], axis=1)))
    if down_shift < 1.0:
        return image
    strip = np.concatenate([before[chain], after[chain][::-1]])
    alpha = feather(polygon_mask(image.shape[:2], [strip]), 0.8)
    if not alpha.any():
        return image
    colour = np.array([rng.uniform(35, 75), rng.uniform(12, 30), rng.uniform(15, 35)], dtype=np.float32)
    weights = alpha[:, :, np.newaxis]
    painted = image.astype(np.float32) * (1.0 - weights) + colour * weights
    result: RgbImage = np.clip(np.rint(painted), 0, 255).astype(np.uint8)
    return result


def warp_to_points(
    image: RgbImage, before: npt.NDArray[np.float32], after: npt.NDArray[np.float32], region: Region
) -> RgbImage:
    """Warp the image so that content at ``before`` moves to ``after``, smoothly, near the region only.

    The displacement field is a normalised Gaussian interpolation of the landmark displacements (moved points
    and the still ones around them, splatted on the pixel grid), evaluated in a box around the region; each
    output pixel samples the image at its position minus the displacement there.
    """
    face = face_size(before)
    sigma = 0.03 * face
    index = [i for loop in _REGION_LOOPS[region] for i in loop]
    region_xy = np.concatenate([before[index], after[index]])
    pad = 6.0 * sigma
    height, width = image.shape[:2]
    x0, y0 = (np.floor(region_xy.min(axis=0) - pad)).astype(int).clip(0, [width, height])
    x1, y1 = (np.ceil(region_xy.max(axis=0) + pad)).astype(int).clip(0, [width, height])
    out = image.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    near = np.all((after >= [x0 - pad, y0 - pad]) & (after <= [x1 + pad, y1 + pad]), axis=1)
    dx, dy = _splat_displacement((after - before)[near], after[near] - [x0, y0], (y1 - y0, x1 - x0), sigma)
    grid_x, grid_y = np.meshgrid(np.arange(x0, x1, dtype=np.float32) + 0.5, np.arange(y0, y1, dtype=np.float32) + 0.5)
    map_x = (grid_x - dx - 0.5).astype(np.float32)
    map_y = (grid_y - dy - 0.5).astype(np.float32)
    out[y0:y1, x0:x1] = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out


def _splat_displacement(
    displacement: npt.NDArray[np.floating], at: npt.NDArray[np.floating], shape: tuple[int, int], sigma: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Gaussian-weighted mean of point displacements at every pixel: blur(sum d) / blur(count)."""
    height, width = shape
    cols = np.clip(np.floor(at[:, 0]).astype(int), 0, width - 1)
    rows = np.clip(np.floor(at[:, 1]).astype(int), 0, height - 1)
    planes = np.zeros((3, height, width), dtype=np.float32)
    np.add.at(planes[0], (rows, cols), displacement[:, 0].astype(np.float32))
    np.add.at(planes[1], (rows, cols), displacement[:, 1].astype(np.float32))
    np.add.at(planes[2], (rows, cols), np.float32(1.0))
    kernel = odd_kernel(6.0 * sigma + 1.0)
    blurred = [cv2.GaussianBlur(plane, (kernel, kernel), sigma, borderType=cv2.BORDER_CONSTANT) for plane in planes]
    floor = np.float32(1e-3 / (2.0 * np.pi * sigma * sigma))
    return blurred[0] / (blurred[2] + floor), blurred[1] / (blurred[2] + floor)
