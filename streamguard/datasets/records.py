"""The records a dataset scan produces, and the media file types it recognises."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MediaKind = Literal["image", "video"]
MaskKind = Literal["image", "frames_dir", "video"]

STILL_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
"""Image files; a ``.webp`` holding several frames is a video."""

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg", ".gif"})
"""Video files; GIFs are always read as videos (a one-frame GIF gives one frame)."""

PILLOW_SUFFIXES = STILL_IMAGE_SUFFIXES | {".gif"}
"""Files decoded with Pillow (still and animated images); everything else goes to PyAV."""


@dataclass(frozen=True, slots=True)
class MaskSource:
    """Where the ground-truth manipulation masks of a fake item are stored.

    Attributes:
        kind: ``image``: one mask image for a still image; ``frames_dir``: a folder of ``<frame index>.png``
            masks for a video (0-based decode order); ``video``: a mask video, frame-aligned with the item
            (FaceForensics++).
        path: The mask image, folder or video.
    """

    kind: MaskKind
    path: Path


@dataclass(frozen=True, slots=True)
class MediaItem:
    """One labelled image or video of a dataset.

    Attributes:
        path: The media file.
        rel_path: ``path`` relative to the dataset root, in posix form (a stable identifier).
        is_fake: True for manipulated media.
        group: The source or manipulation method (e.g. ``faceswap``, ``Deepfakes``, ``youtube``); ``""`` when
            the file has none.
        kind: ``image`` for a still image, ``video`` for a video or an animated image.
        mask: Where its ground-truth masks are, or None (always None for reals).
    """

    path: Path
    rel_path: str
    is_fake: bool
    group: str
    kind: MediaKind
    mask: MaskSource | None = None
