"""Detect less, track more: carry face boxes between face detections by matching each face's template.

BlazeFace costs about as much per sample as the detector model. Between detections, each face found at the last
detection is looked for near its last box by normalised cross-correlation of a small grey template (OpenCV
``matchTemplate``, about a millisecond per face), and its box is moved by the match. Detection runs
again every `FollowOptions.detect_every` samples (so new faces are found within that many samples), and at
once when a face's match is weak: it turned, left, was covered, or the scene cut. The tracker receives the
followed boxes like detections, so track identities and timing are unchanged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from streamguard.vision.crop import FaceBox

TEMPLATE_PX = 24
"""Side of a face's grey template: the face box shrunk to this many pixels."""
SEARCH_MARGIN = 0.5
"""The search window is the face's last box grown by this share of its side on each side."""


class DetectReason(enum.StrEnum):
    """Why the face detector ran on a sample (``streamguard_face_detector_runs_total{reason}``)."""

    SCHEDULED = "scheduled"
    """`FollowOptions.detect_every` samples since the last detection (or the first sample)."""
    FACE_LOST = "face_lost"
    """A followed face's template match fell below `FollowOptions.min_match`."""


@dataclass(frozen=True, slots=True)
class FollowOptions:
    """How faces are followed between detections.

    Attributes:
        detect_every: Run the face detector on every this-many samples; 1 detects on every sample.
        min_match: Smallest normalised cross-correlation of a face's template that counts as found.
    """

    detect_every: int = 5
    min_match: float = 0.6

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {self.detect_every}")


@dataclass(frozen=True, slots=True)
class _Followed:
    box: FaceBox
    template: npt.NDArray[np.uint8]


class FaceFollower:
    """One stream's followed faces: `due` says whether to detect, `start` after a detection, `follow` otherwise.

    Example:
        >>> follower = FaceFollower(FollowOptions(detect_every=3))
        >>> follower.due()  # nothing detected yet
        True
    """

    def __init__(self, options: FollowOptions | None = None) -> None:
        self.options = options or FollowOptions()
        self._faces: list[_Followed] = []
        self._since_detection: int | None = None

    def due(self) -> bool:
        """Whether this sample is a scheduled detection."""
        return self._since_detection is None or self._since_detection + 1 >= self.options.detect_every

    def start(self, image: npt.NDArray[np.uint8], boxes: list[FaceBox]) -> None:
        """Remember the faces a detection found in `image` (RGB), to follow them in the next samples."""
        self._faces = [_Followed(box, template) for box in boxes if (template := _template(image, box)) is not None]
        self._since_detection = 0

    def follow(self, image: npt.NDArray[np.uint8]) -> list[FaceBox] | None:
        """The faces' boxes moved to where their templates match in `image`, or None when one is lost."""
        moved = []
        for face in self._faces:
            box = _match(image, face, self.options.min_match)
            if box is None:
                return None
            moved.append(box)
        self._faces = [replace(face, box=box) for face, box in zip(self._faces, moved, strict=True)]
        self._since_detection = (self._since_detection or 0) + 1
        return moved

    def reset(self) -> None:
        """Forget every face (the stream went down or its time restarted): the next sample detects."""
        self._faces = []
        self._since_detection = None


def _grey_region(
    image: npt.NDArray[np.uint8], corners: tuple[int, int, int, int], size: tuple[int, int]
) -> npt.NDArray[np.uint8]:
    """The region ``(x0, y0, x1, y1)`` of an RGB image, shrunk to `size` and in grey (only that region is read)."""
    x0, y0, x1, y1 = corners
    small = cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))


def _scale(box: FaceBox) -> float:
    """Template pixels per image pixel for `box`."""
    return TEMPLATE_PX / max(box.x1 - box.x0, box.y1 - box.y0, 1.0)


def _template(image: npt.NDArray[np.uint8], box: FaceBox) -> npt.NDArray[np.uint8] | None:
    x0, y0, x1, y1 = corners = _clip(image, box.x0, box.y0, box.x1, box.y1)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    s = _scale(box)
    return _grey_region(image, corners, (max(4, round((x1 - x0) * s)), max(4, round((y1 - y0) * s))))


def _match(image: npt.NDArray[np.uint8], face: _Followed, min_match: float) -> FaceBox | None:
    box = face.box
    margin = SEARCH_MARGIN * max(box.x1 - box.x0, box.y1 - box.y0)
    x0, y0, x1, y1 = corners = _clip(image, box.x0 - margin, box.y0 - margin, box.x1 + margin, box.y1 + margin)
    s = _scale(box)
    window_size = (round((x1 - x0) * s), round((y1 - y0) * s))
    height, width = face.template.shape
    if window_size[0] < width or window_size[1] < height:
        return None  # the face has left the picture
    scores = cv2.matchTemplate(_grey_region(image, corners, window_size), face.template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (tx, ty) = cv2.minMaxLoc(scores)
    if not np.isfinite(best) or best < min_match:
        return None
    # The template was cut at the box's clipped corner; its match moves that corner.
    cx0, cy0, _, _ = _clip(image, box.x0, box.y0, box.x1, box.y1)
    dx, dy = x0 + tx / s - cx0, y0 + ty / s - cy0
    keypoints = tuple((x + dx, y + dy) for x, y in box.keypoints)
    return FaceBox(box.x0 + dx, box.y0 + dy, box.x1 + dx, box.y1 + dy, box.score, keypoints)


def _clip(image: npt.NDArray[np.uint8], x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
    height, width = image.shape[:2]
    return (
        max(0, round(x0)),
        max(0, round(y0)),
        min(width, round(x1)),
        min(height, round(y1)),
    )
