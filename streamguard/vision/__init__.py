"""Face detection and the face-crop geometry shared by training, evaluation and the live daemon."""

from __future__ import annotations

from streamguard.vision.crop import (
    DEFAULT_CROP_SCALE,
    DEFAULT_CROP_SIZE,
    CropTransform,
    FaceBox,
    center_crop,
    center_crop_transform,
    crop_face,
    square_crop_transform,
)
from streamguard.vision.detection import MODEL_FILES, DetectorModel, FaceDetector

__all__ = [
    "DEFAULT_CROP_SCALE",
    "DEFAULT_CROP_SIZE",
    "MODEL_FILES",
    "CropTransform",
    "DetectorModel",
    "FaceBox",
    "FaceDetector",
    "center_crop",
    "center_crop_transform",
    "crop_face",
    "square_crop_transform",
]
