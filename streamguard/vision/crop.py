"""The one face-crop geometry shared by training, evaluation and the live daemon.

A face crop is a square region of the frame, ``scale`` times the larger side of the detected face box,
centred on the box and shifted (never cut) to lie inside the frame, then resized to ``size`` x ``size``.
`CropTransform` records that geometry so that the same region can be cut from other full-frame arrays
(ground-truth masks) and crop-space results (predicted masks, points) can be mapped back onto the frame.

Coordinates are continuous pixel coordinates: pixel ``(i, j)`` of an image covers ``[j, j+1) x [i, i+1)``
in ``(x, y)``, which is the convention of both the face detector and ``cv2.resize``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np
import numpy.typing as npt

DEFAULT_CROP_SIZE = 256
DEFAULT_CROP_SCALE = 1.3

FloatArray = npt.NDArray[np.float64]
ScalarT = TypeVar("ScalarT", bound=np.generic)


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A detected face in frame pixels.

    Attributes:
        x0: Left edge.
        y0: Top edge.
        x1: Right edge (exclusive, ``x1 >= x0``).
        y1: Bottom edge (exclusive, ``y1 >= y0``).
        score: Detector confidence in [0, 1].
        keypoints: Landmarks as ``(x, y)`` pixel pairs (BlazeFace: right eye, left eye, nose tip, mouth,
            right ear tragion, left ear tragion); empty when unknown.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    keypoints: tuple[tuple[float, float], ...] = ()

    @property
    def width(self) -> float:
        """The box width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        """The box height in pixels."""
        return self.y1 - self.y0

    @property
    def center(self) -> tuple[float, float]:
        """The box centre as ``(x, y)``."""
        return ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)


@dataclass(frozen=True, slots=True)
class CropTransform:
    """A square frame region resized to ``size`` x ``size``, and the mappings between the two spaces.

    Attributes:
        x0: Left column of the region in the frame.
        y0: Top row of the region in the frame.
        side: Side of the region in frame pixels (the region is ``[x0, x0+side) x [y0, y0+side)``).
        frame_width: Width of the frame the region was taken from.
        frame_height: Height of the frame the region was taken from.
        size: Side of the resized crop.

    Raises:
        ValueError: When the region is empty or does not lie inside the frame.
    """

    x0: int
    y0: int
    side: int
    frame_width: int
    frame_height: int
    size: int = DEFAULT_CROP_SIZE

    def __post_init__(self) -> None:
        if self.side < 1 or self.size < 1:
            raise ValueError(f"side ({self.side}) and size ({self.size}) must be at least 1")
        inside_x = 0 <= self.x0 and self.x0 + self.side <= self.frame_width
        inside_y = 0 <= self.y0 and self.y0 + self.side <= self.frame_height
        if not (inside_x and inside_y):
            raise ValueError(
                f"crop region x0={self.x0}, y0={self.y0}, side={self.side} is not inside the "
                f"{self.frame_width}x{self.frame_height} frame"
            )

    @property
    def scale(self) -> float:
        """Crop pixels per frame pixel (``size / side``)."""
        return self.size / self.side

    def frame_to_crop(self, points: npt.ArrayLike) -> FloatArray:
        """Map ``(N, 2)`` frame ``(x, y)`` points to crop coordinates (points outside map outside)."""
        return (_as_points(points) - self._origin()) * self.scale

    def crop_to_frame(self, points: npt.ArrayLike) -> FloatArray:
        """Map ``(N, 2)`` crop ``(x, y)`` points back to frame coordinates."""
        return _as_points(points) / self.scale + self._origin()

    def crop_region(self, image: npt.NDArray[ScalarT]) -> npt.NDArray[ScalarT]:
        """Cut this region from another full-frame array and resize it, e.g. a ground-truth mask.

        Args:
            image: ``(frame_height, frame_width)`` or ``(frame_height, frame_width, C)`` array of a dtype
                ``cv2.resize`` accepts (uint8, uint16, int16, float32, float64) or bool.

        Returns:
            A C-contiguous ``(size, size)`` or ``(size, size, C)`` array of the input's dtype. Bool arrays
            are resampled as float and thresholded at 0.5.

        Raises:
            ValueError: When the array does not have the frame's height and width.
        """
        self._check_frame_shape(image)
        region = image[self.y0 : self.y0 + self.side, self.x0 : self.x0 + self.side]
        return _resize_square(region, self.size)

    def paste_mask(self, mask: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Map a crop-space mask back onto the frame: the inverse of `crop_region` for masks.

        Args:
            mask: ``(size, size)`` array, e.g. a predicted manipulation probability map.

        Returns:
            ``(frame_height, frame_width)`` float32 array: the mask resized to the region, zeros elsewhere.

        Raises:
            ValueError: When the mask is not ``(size, size)``.
        """
        crop_mask = np.asarray(mask, dtype=np.float32)
        if crop_mask.shape != (self.size, self.size):
            raise ValueError(f"mask shape {crop_mask.shape} is not ({self.size}, {self.size})")
        frame_mask = np.zeros((self.frame_height, self.frame_width), dtype=np.float32)
        frame_mask[self.y0 : self.y0 + self.side, self.x0 : self.x0 + self.side] = _resize_square(crop_mask, self.side)
        return frame_mask

    def _origin(self) -> FloatArray:
        return np.array([self.x0, self.y0], dtype=np.float64)

    def _check_frame_shape(self, image: npt.NDArray[np.generic]) -> None:
        if image.ndim not in (2, 3) or image.shape[:2] != (self.frame_height, self.frame_width):
            raise ValueError(
                f"array shape {image.shape} does not match the {self.frame_width}x{self.frame_height} frame "
                "(expected HxW or HxWxC)"
            )


def square_crop_transform(
    box: FaceBox,
    frame_width: int,
    frame_height: int,
    scale: float = DEFAULT_CROP_SCALE,
    size: int = DEFAULT_CROP_SIZE,
) -> CropTransform:
    """The square crop region around a face box, kept inside the frame.

    The square has side ``scale * max(box.width, box.height)`` and is centred on the box centre. When it
    sticks out of the frame it is shifted inside, keeping its side; when the side exceeds the smaller frame
    dimension it is shrunk to that dimension. The side is at least 1 pixel.

    Args:
        box: The face box in frame pixels.
        frame_width: Frame width in pixels.
        frame_height: Frame height in pixels.
        scale: Side of the square relative to the larger side of the box.
        size: Side of the resized crop.

    Raises:
        ValueError: When the frame is empty or ``scale`` is not positive.
    """
    if frame_width < 1 or frame_height < 1:
        raise ValueError(f"frame size {frame_width}x{frame_height} is empty")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    wanted_side = round(scale * max(box.width, box.height))
    side = max(1, min(wanted_side, frame_width, frame_height))
    center_x, center_y = box.center
    return CropTransform(
        x0=_clamp(round(center_x - side / 2), 0, frame_width - side),
        y0=_clamp(round(center_y - side / 2), 0, frame_height - side),
        side=side,
        frame_width=frame_width,
        frame_height=frame_height,
        size=size,
    )


def center_crop_transform(frame_width: int, frame_height: int, size: int = DEFAULT_CROP_SIZE) -> CropTransform:
    """The largest centred square of the frame, resized to ``size`` (the fallback when no face is found).

    Raises:
        ValueError: When the frame is empty.
    """
    if frame_width < 1 or frame_height < 1:
        raise ValueError(f"frame size {frame_width}x{frame_height} is empty")
    side = min(frame_width, frame_height)
    return CropTransform(
        x0=(frame_width - side) // 2,
        y0=(frame_height - side) // 2,
        side=side,
        frame_width=frame_width,
        frame_height=frame_height,
        size=size,
    )


def crop_face(
    frame: npt.NDArray[np.uint8],
    box: FaceBox,
    scale: float = DEFAULT_CROP_SCALE,
    size: int = DEFAULT_CROP_SIZE,
) -> tuple[npt.NDArray[np.uint8], CropTransform]:
    """Cut the square face crop out of a frame.

    Args:
        frame: ``(H, W, 3)`` uint8 RGB frame.
        box: The face box in frame pixels.
        scale: Side of the square relative to the larger side of the box.
        size: Side of the returned crop.

    Returns:
        The C-contiguous ``(size, size, 3)`` uint8 crop and the transform that produced it.

    Raises:
        ValueError: When the frame is not an ``(H, W, 3)`` uint8 array.
    """
    _check_rgb_frame(frame)
    height, width = frame.shape[:2]
    transform = square_crop_transform(box, width, height, scale=scale, size=size)
    return _crop_rgb(frame, transform), transform


def center_crop(
    frame: npt.NDArray[np.uint8], size: int = DEFAULT_CROP_SIZE
) -> tuple[npt.NDArray[np.uint8], CropTransform]:
    """Cut the largest centred square out of a frame and resize it (the fallback when no face is found).

    Args:
        frame: ``(H, W, 3)`` uint8 RGB frame.
        size: Side of the returned crop.

    Returns:
        The C-contiguous ``(size, size, 3)`` uint8 crop and the transform that produced it.

    Raises:
        ValueError: When the frame is not an ``(H, W, 3)`` uint8 array.
    """
    _check_rgb_frame(frame)
    height, width = frame.shape[:2]
    transform = center_crop_transform(width, height, size=size)
    return _crop_rgb(frame, transform), transform


def _crop_rgb(frame: npt.NDArray[np.uint8], transform: CropTransform) -> npt.NDArray[np.uint8]:
    crop = transform.crop_region(frame)
    return np.ascontiguousarray(crop, dtype=np.uint8)


def _check_rgb_frame(frame: npt.NDArray[np.generic]) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got shape {frame.shape} dtype {frame.dtype}")


def _as_points(points: npt.ArrayLike) -> FloatArray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"expected an (N, 2) array of (x, y) points, got shape {array.shape}")
    return array


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def _resize_square(region: npt.NDArray[ScalarT], side: int) -> npt.NDArray[ScalarT]:
    """Resize a square region to ``side`` x ``side``: area averaging to shrink, bilinear to enlarge."""
    if region.dtype == np.bool_:
        resampled = _resize_square(region.astype(np.float32), side)
        return np.greater_equal(resampled, 0.5).astype(region.dtype)
    interpolation = cv2.INTER_AREA if region.shape[0] > side else cv2.INTER_LINEAR
    # cv2 wants a contiguous buffer, and drops a trailing channel axis of length 1.
    resized = cv2.resize(np.ascontiguousarray(region), (side, side), interpolation=interpolation)
    if region.ndim == 3 and resized.ndim == 2:
        resized = resized[:, :, np.newaxis]
    return np.ascontiguousarray(resized)
