"""Labelled real/fake media for training and evaluation: finding the files and decoding frames and masks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamguard.datasets.layout import MaskSource, MediaItem, scan_dataset, summarize

if TYPE_CHECKING:
    from streamguard.datasets.media import DecodedFrame, read_frames, read_mask, read_video_frame

__all__ = [
    "DecodedFrame",
    "MaskSource",
    "MediaItem",
    "read_frames",
    "read_mask",
    "read_video_frame",
    "scan_dataset",
    "summarize",
]

_MEDIA = frozenset({"DecodedFrame", "read_frames", "read_mask", "read_video_frame"})


def __getattr__(name: str) -> object:
    # Decoding needs PyAV; finding files does not, and a saved face bank trains where PyAV is missing.
    if name in _MEDIA:
        from streamguard.datasets import media

        return getattr(media, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
