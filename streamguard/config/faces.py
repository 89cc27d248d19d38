"""Face detection settings (BlazeFace) and the face crop handed to the detector model."""

from __future__ import annotations

from pydantic import Field

from streamguard.config.base import StrictModel
from streamguard.vision.crop import DEFAULT_CROP_SCALE
from streamguard.vision.detection import DetectorModel

DEFAULT_DETECT_EVERY = 5
"""Measured in docs/performance.md: BlazeFace on a fifth of the samples, no fewer alerts on real deepfakes."""


class FacesConfig(StrictModel):
    """How faces are found in each analysed frame and cropped for scoring."""

    model: DetectorModel = Field(
        default="full_range",
        description=(
            "BlazeFace model: `full_range` finds small, distant faces (cameras); "
            "`short_range` is for faces within ~2 m."
        ),
    )
    min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="Face detections scoring below this confidence are ignored."
    )
    min_face_px: int = Field(
        default=40,
        ge=0,
        le=4096,
        description="Faces whose larger side is smaller than this many pixels are ignored (too small to judge).",
    )
    max_faces: int = Field(
        default=4, ge=1, le=64, description="At most this many faces per frame are scored (the most confident)."
    )
    crop_scale: float = Field(
        default=DEFAULT_CROP_SCALE,
        ge=1.0,
        le=2.0,
        description=(
            "Side of the square crop around a face, as a multiple of the detected box. "
            "Keep the default (1.3): the detector model was trained on this crop."
        ),
    )
    detect_every: int = Field(
        default=DEFAULT_DETECT_EVERY,
        ge=1,
        le=25,
        description=(
            "Run the face detector on every this-many analysed frames and follow the faces it found in between "
            "(template matching, about a millisecond a face); a face lost meanwhile triggers a detection at "
            "once. 1 detects on every analysed frame. New faces are found within this many analysed frames."
        ),
    )
    follow_min_match: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description=(
            "Smallest template match (normalised cross-correlation) that counts as the followed face found; "
            "below it the detector runs again."
        ),
    )
    detector_threads: int = Field(
        default=1, ge=1, le=64, description="Worker threads running face detection (one detector instance each)."
    )
