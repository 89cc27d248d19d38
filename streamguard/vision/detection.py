"""Face detection with the BlazeFace models bundled in ``models/mediapipe/`` (mediapipe Tasks API).

The native library logs a few dozen INFO/WARNING lines to stderr when a detector is created (LiteRT
start-up, "Sparsity tensors may not yet be fully supported"). They are harmless; neither mediapipe's
Python API nor ``GLOG_minloglevel`` silences them, and redirecting file descriptor 2 would also swallow
other threads' output, so they are left alone.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt

from streamguard.assets import mediapipe_model
from streamguard.errors import ModelAssetError
from streamguard.vision.crop import FaceBox

DetectorModel = Literal["full_range", "short_range"]

MODEL_FILES: dict[DetectorModel, str] = {
    "full_range": "face_detection_full_range_sparse.tflite",
    "short_range": "face_detection_short_range.tflite",
}


class FaceDetector:
    """BlazeFace face detector returning `FaceBox` records in frame pixels.

    Thread safety: create one instance per thread. mediapipe serialises the calls into one native detector,
    so a shared instance would be a bottleneck, and `close` on one thread races with `detect` on another.
    Use it as a context manager or call `close` when done.

    Args:
        model: ``full_range`` (default; finds small, distant faces) or ``short_range`` (faces within ~2 m of
            the camera; misses small faces).
        min_confidence: Detections scoring below this are dropped by the detector.
        min_face_px: Faces whose larger side (after clipping to the frame) is below this many pixels are
            dropped.
        max_faces: Keep at most this many faces, the highest-scoring ones; ``None`` keeps all.

    Raises:
        ValueError: When an argument is out of range.
        ModelAssetError: When the model file is missing or cannot be loaded.
    """

    def __init__(
        self,
        model: DetectorModel = "full_range",
        min_confidence: float = 0.5,
        min_face_px: int = 0,
        max_faces: int | None = None,
    ) -> None:
        _check_arguments(model, min_confidence, min_face_px, max_faces)
        self.model: DetectorModel = model
        self.min_confidence = min_confidence
        self.min_face_px = min_face_px
        self.max_faces = max_faces
        self._detector: Any = _create_detector(model, min_confidence)

    @property
    def closed(self) -> bool:
        """Whether `close` has been called."""
        return self._detector is None

    def detect(self, frame_rgb: npt.NDArray[np.uint8]) -> list[FaceBox]:
        """Find the faces in one frame.

        Args:
            frame_rgb: ``(H, W, 3)`` uint8 RGB frame.

        Returns:
            The faces, highest score first, boxes clipped to the frame, keypoints in pixels; faces smaller
            than ``min_face_px`` are dropped and at most ``max_faces`` are returned.

        Raises:
            ValueError: When the frame is not an ``(H, W, 3)`` uint8 array.
            RuntimeError: When the detector has been closed.
        """
        if self._detector is None:
            raise RuntimeError("FaceDetector is closed")
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
            raise ValueError(
                f"expected an (H, W, 3) uint8 RGB frame, got shape {frame_rgb.shape} dtype {frame_rgb.dtype}"
            )
        import mediapipe as mp

        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame_rgb))
        height, width = frame_rgb.shape[:2]
        faces = [_to_face_box(d, width, height) for d in self._detector.detect(image).detections]
        kept = [f for f in faces if f is not None and max(f.width, f.height) >= self.min_face_px]
        kept.sort(key=lambda face: face.score, reverse=True)
        return kept if self.max_faces is None else kept[: self.max_faces]

    def close(self) -> None:
        """Release the native detector; calling it again does nothing."""
        detector, self._detector = self._detector, None
        if detector is not None:
            detector.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _check_arguments(model: str, min_confidence: float, min_face_px: int, max_faces: int | None) -> None:
    if model not in MODEL_FILES:
        raise ValueError(f"unknown detector model {model!r}; choose one of {', '.join(MODEL_FILES)}")
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    if min_face_px < 0:
        raise ValueError(f"min_face_px must be >= 0, got {min_face_px}")
    if max_faces is not None and max_faces < 1:
        raise ValueError(f"max_faces must be >= 1 or None, got {max_faces}")


def _create_detector(model: DetectorModel, min_confidence: float) -> Any:
    path = mediapipe_model(MODEL_FILES[model])
    # Imported here: mediapipe takes about a second to import, and crop-only users never need it.
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceDetectorOptions(
        base_options=BaseOptions(model_asset_path=str(path)),
        min_detection_confidence=min_confidence,
    )
    try:
        return vision.FaceDetector.create_from_options(options)
    except (OSError, ValueError, RuntimeError) as e:
        raise ModelAssetError(f"cannot load face detector model {path}: {e}") from e


def _to_face_box(detection: Any, frame_width: int, frame_height: int) -> FaceBox | None:
    """Convert one mediapipe detection; ``None`` when its box lies entirely outside the frame."""
    bbox = detection.bounding_box
    x0, x1 = _clip_span(bbox.origin_x, bbox.origin_x + bbox.width, frame_width)
    y0, y1 = _clip_span(bbox.origin_y, bbox.origin_y + bbox.height, frame_height)
    if x1 <= x0 or y1 <= y0:
        return None
    categories = detection.categories or []
    score = categories[0].score if categories and categories[0].score is not None else 0.0
    keypoints = tuple((float(kp.x) * frame_width, float(kp.y) * frame_height) for kp in (detection.keypoints or []))
    return FaceBox(x0=x0, y0=y0, x1=x1, y1=y1, score=float(score), keypoints=keypoints)


def _clip_span(low: float, high: float, limit: int) -> tuple[float, float]:
    return float(min(max(low, 0), limit)), float(min(max(high, 0), limit))
