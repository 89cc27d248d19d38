"""Labelled real/fake media for training and evaluation: finding the files and decoding frames and masks."""

from __future__ import annotations

from streamguard.datasets.layout import MaskSource, MediaItem, scan_dataset, summarize
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
