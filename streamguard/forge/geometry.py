"""Warps fitted on face-mesh landmarks: similarity transforms and the piecewise-affine mesh warp.

All points are in continuous pixel coordinates (pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``); sampling
maps returned here are in cv2's pixel-index coordinates, ready for ``cv2.remap``.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from streamguard.forge.mesh import MESH_TRIANGLES

Affine = npt.NDArray[np.float64]
Maps = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]
_SUBPIXEL_SHIFT = 4
_TRIANGLE_INDEX = np.asarray(MESH_TRIANGLES, dtype=np.int64)


def fit_similarity(src: npt.ArrayLike, dst: npt.ArrayLike) -> Affine:
    """Least-squares similarity (rotation, uniform scale, translation) taking ``src`` points onto ``dst``.

    Umeyama's closed form, deterministic (no RANSAC).

    Args:
        src: ``(N, 2)`` points, ``N >= 2``.
        dst: ``(N, 2)`` corresponding points.

    Returns:
        The ``2 x 3`` affine matrix ``A`` with ``dst ~ A @ [x, y, 1]``.
    """
    p = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    q = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    mean_p, mean_q = p.mean(axis=0), q.mean(axis=0)
    pc, qc = p - mean_p, q - mean_q
    covariance = qc.T @ pc / len(p)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rotation = u @ sign @ vt
    variance = float((pc**2).sum() / len(p))
    scale = float(np.trace(np.diag(singular) @ sign)) / max(variance, 1e-12)
    affine = np.empty((2, 3), dtype=np.float64)
    affine[:, :2] = scale * rotation
    affine[:, 2] = mean_q - scale * rotation @ mean_p
    return affine


def apply_affine(affine: Affine, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Apply a ``2 x 3`` affine map to ``(N, 2)`` points."""
    xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    result: npt.NDArray[np.float64] = xy @ affine[:, :2].T + affine[:, 2]
    return result


def warp_affine(image: npt.NDArray[np.uint8], affine: Affine, shape: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """Resample ``image`` onto an output of ``shape`` where output point ``p`` shows ``image`` at ``affine(p)``.

    Borders are reflected, so that every output pixel holds image content.
    """
    to_index = affine.astype(np.float64).copy()
    to_index[:, 2] += affine[:, :2].sum(axis=1) * 0.5 - 0.5
    warped = cv2.warpAffine(
        image, to_index, (shape[1], shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT_101,
    )  # fmt: skip
    return np.ascontiguousarray(warped, dtype=np.uint8)


def affine_maps(affine: Affine, shape: tuple[int, int]) -> Maps:
    """``cv2.remap`` maps sampling the source at ``affine(p)`` for every output pixel ``p``."""
    height, width = shape
    xs = np.arange(width, dtype=np.float64) + 0.5
    ys = np.arange(height, dtype=np.float64) + 0.5
    map_x = affine[0, 0] * xs[np.newaxis, :] + affine[0, 1] * ys[:, np.newaxis] + affine[0, 2] - 0.5
    map_y = affine[1, 0] * xs[np.newaxis, :] + affine[1, 1] * ys[:, np.newaxis] + affine[1, 2] - 0.5
    return map_x.astype(np.float32), map_y.astype(np.float32)


def mesh_warp_maps(target_points: npt.ArrayLike, donor_points: npt.ArrayLike, shape: tuple[int, int]) -> Maps:
    """Piecewise-affine ``cv2.remap`` maps that carry a donor face onto the target's landmarks.

    Each face-mesh triangle (`MESH_TRIANGLES`: the tessellation plus the eye and mouth openings) of the target
    samples the corresponding donor triangle by the affine map between them; outside the mesh the
    least-squares similarity between the two point sets is used, so that the maps are defined everywhere.

    Args:
        target_points: ``(468, 2)`` landmarks in the output (target) image.
        donor_points: ``(468, 2)`` landmarks in the donor image.
        shape: ``(height, width)`` of the output.

    Returns:
        ``(map_x, map_y)`` float32 arrays of ``shape``, donor pixel-index coordinates for ``cv2.remap``.
    """
    target = np.asarray(target_points, dtype=np.float64).reshape(-1, 2)
    donor = np.asarray(donor_points, dtype=np.float64).reshape(-1, 2)
    labels = _rasterise_triangles(target, shape)
    inside = labels >= 0
    similarity = fit_similarity(target, donor)
    map_x, map_y = affine_maps(similarity, shape)
    if not inside.any():
        return map_x, map_y
    coefficients = _triangle_affines(target, donor, similarity)  # (T, 3, 2): donor = [x, y, 1] @ C
    rows, cols = np.nonzero(inside)
    chosen = coefficients[labels[rows, cols]]
    x, y = cols + 0.5, rows + 0.5
    map_x[rows, cols] = (x * chosen[:, 0, 0] + y * chosen[:, 1, 0] + chosen[:, 2, 0] - 0.5).astype(np.float32)
    map_y[rows, cols] = (x * chosen[:, 0, 1] + y * chosen[:, 1, 1] + chosen[:, 2, 1] - 0.5).astype(np.float32)
    return map_x, map_y


def remap(image: npt.NDArray[np.uint8], maps: Maps) -> npt.NDArray[np.uint8]:
    """Sample ``image`` at the maps (bilinear, borders reflected)."""
    warped = cv2.remap(image, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(warped, dtype=np.uint8)


def _rasterise_triangles(points: npt.NDArray[np.float64], shape: tuple[int, int]) -> npt.NDArray[np.int32]:
    """Index of the mesh triangle covering each pixel centre, -1 outside the mesh."""
    labels = np.full(shape, -1, dtype=np.int32)
    fixed = np.rint((points - 0.5) * (1 << _SUBPIXEL_SHIFT)).astype(np.int32)
    for index, triangle in enumerate(_TRIANGLE_INDEX):
        cv2.fillConvexPoly(labels, fixed[triangle], index, lineType=cv2.LINE_8, shift=_SUBPIXEL_SHIFT)
    return labels


def _triangle_affines(
    target: npt.NDArray[np.float64], donor: npt.NDArray[np.float64], fallback: Affine
) -> npt.NDArray[np.float64]:
    """Per triangle, the ``(3, 2)`` coefficients ``C`` with ``donor = [x, y, 1] @ C`` on its vertices.

    Degenerate (flat) target triangles get the ``fallback`` affine map.
    """
    corners = np.concatenate([target[_TRIANGLE_INDEX], np.ones((len(_TRIANGLE_INDEX), 3, 1))], axis=2)
    donor_corners = donor[_TRIANGLE_INDEX]
    determinants = np.linalg.det(corners)
    degenerate = np.abs(determinants) < 1e-6
    corners[degenerate] = np.eye(3)
    solved: npt.NDArray[np.float64] = np.linalg.solve(corners, donor_corners)
    solved[degenerate] = fallback.T
    return solved
