"""Face crops of a labelled dataset, made with the same detector and crop as the live path.

Training and evaluation both walk a dataset through `iter_face_samples`: decode up to N evenly spaced frames
per video, detect faces (BlazeFace full-range), crop each (square, 1.3x, resized) and crop the ground-truth
mask with the same geometry. A frame without a detected face is scored on a centre crop and flagged, so a
set never shrinks silently; a file that fails to decode is reported through `on_error` and skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from streamguard.datasets.layout import MediaItem
from streamguard.datasets.media import DecodedFrame, read_frames, read_mask
from streamguard.errors import MediaDecodeError
from streamguard.vision.crop import CropTransform, FaceBox, center_crop, crop_face
from streamguard.vision.detection import FaceDetector

ErrorHandler = Callable[[MediaItem, MediaDecodeError], None]


@dataclass(frozen=True, slots=True)
class FaceSample:
    """One face crop of one frame of a dataset item.

    Attributes:
        item: The file it came from.
        frame_index: Decode-order index of the frame (0 for a still image).
        face_index: Rank of the face in the frame by detector score (0 = most confident).
        crop: `(S, S, 3)` uint8 RGB crop.
        mask: `(S, S)` float32 ground-truth mask in {0, 1} in crop space (zeros for reals), or None for a fake
            without a mask.
        transform: Crop geometry, to map a predicted mask back to the frame.
        no_face: True when no face was detected and the crop is the frame's centre.
    """

    item: MediaItem
    frame_index: int
    face_index: int
    crop: np.ndarray
    mask: np.ndarray | None
    transform: CropTransform
    no_face: bool


def iter_face_samples(
    items: Iterable[MediaItem],
    detector: FaceDetector,
    *,
    frames_per_video: int | None,
    size: int = 256,
    max_faces: int | None = None,
    on_error: ErrorHandler | None = None,
) -> Iterator[FaceSample]:
    """Yield face crops of every item, frame by frame.

    Args:
        items: Dataset items (see `scan_dataset`).
        detector: Face detector; its `max_faces`/`min_face_px` settings apply.
        frames_per_video: Evenly spaced frames per video (None = all).
        size: Crop side in pixels (the model's input size).
        max_faces: Keep at most this many faces per frame (None = all the detector returns).
        on_error: Called with each item that fails to decode; without it the error propagates.
    """
    for item in items:
        try:
            frames = read_frames(item.path, max_frames=frames_per_video)
        except MediaDecodeError as e:
            if on_error is None:
                raise
            on_error(item, e)
            continue
        for frame in frames:
            yield from _frame_samples(item, frame, detector, size, max_faces)


def _frame_samples(
    item: MediaItem, frame: DecodedFrame, detector: FaceDetector, size: int, max_faces: int | None
) -> Iterator[FaceSample]:
    boxes: list[FaceBox] = detector.detect(frame.image)[:max_faces]
    full_mask = _frame_mask(item, frame)
    if not boxes:
        crop, transform = center_crop(frame.image, size=size)
        yield FaceSample(item, frame.index, 0, crop, _crop_mask(full_mask, transform), transform, no_face=True)
        return
    for rank, box in enumerate(boxes):
        crop, transform = crop_face(frame.image, box, size=size)
        yield FaceSample(item, frame.index, rank, crop, _crop_mask(full_mask, transform), transform, no_face=False)


def _frame_mask(item: MediaItem, frame: DecodedFrame) -> np.ndarray | None:
    height, width = frame.image.shape[:2]
    if not item.is_fake:
        return np.zeros((height, width), dtype=np.float32)
    return read_mask(item, frame.index, (height, width))


def _crop_mask(full_mask: np.ndarray | None, transform: CropTransform) -> np.ndarray | None:
    if full_mask is None:
        return None
    cropped: np.ndarray = (transform.crop_region(full_mask) >= 0.5).astype(np.float32)
    return cropped
