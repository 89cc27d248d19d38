"""The faces stage of the live pipeline: detect faces in a sampled frame and cut their model crops.

Detection is blocking native code, so it runs in a thread pool; each pool thread owns its own
`FaceDetector` (mediapipe detectors are not thread-safe), created on first use and closed with the stage.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from streamguard.types import FaceCrop, Frame
from streamguard.vision.crop import DEFAULT_CROP_SCALE, DEFAULT_CROP_SIZE, FaceBox, crop_face
from streamguard.vision.detection import DetectorModel, FaceDetector
from streamguard.vision.follow import DetectReason, FaceFollower
from streamguard.vision.tracking import TrackedFace


@dataclass(frozen=True, slots=True)
class LocatedFaces:
    """The face boxes of a sample and how they were found.

    Attributes:
        boxes: The faces.
        detected: Why the face detector ran; None when the boxes were followed from the last detection.
    """

    boxes: list[FaceBox]
    detected: DetectReason | None


@dataclass(frozen=True, slots=True)
class FaceOptions:
    """Face detection and cropping settings.

    Attributes:
        model: BlazeFace variant, ``full_range`` (small, distant faces) or ``short_range``.
        min_confidence: Minimum detector score.
        min_face_px: Faces whose larger side is smaller than this are ignored.
        max_faces: At most this many faces per frame (highest scores first).
        crop_scale: Side of the square crop relative to the face box (the model was trained with 1.3).
        crop_size: Side of the crop fed to the model.
        threads: Detection threads shared by all streams.
    """

    model: DetectorModel = "full_range"
    min_confidence: float = 0.5
    min_face_px: int = 40
    max_faces: int = 4
    crop_scale: float = DEFAULT_CROP_SCALE
    crop_size: int = DEFAULT_CROP_SIZE
    threads: int = 1


class FaceStage:
    """Thread-pooled face detection plus cropping, shared by all streams."""

    def __init__(self, options: FaceOptions | None = None) -> None:
        self.options = options or FaceOptions()
        self.executor = ThreadPoolExecutor(max_workers=self.options.threads, thread_name_prefix="faces")
        self._local = threading.local()
        self._detectors: list[FaceDetector] = []
        self._lock = threading.Lock()

    def detect(self, frame: Frame) -> list[FaceBox]:
        """Detect the faces of a frame; call it in `executor` (it blocks)."""
        return self._thread_detector().detect(frame.image)

    def locate(self, frame: Frame, follower: FaceFollower) -> LocatedFaces:
        """The faces of a stream's sample: followed from its last detection, or detected when due or lost.

        Call it in `executor` (it blocks), one call at a time per follower.
        """
        if not follower.due():
            moved = follower.follow(frame.image)
            if moved is not None:
                return LocatedFaces(moved, None)
            reason = DetectReason.FACE_LOST
        else:
            reason = DetectReason.SCHEDULED
        boxes = self.detect(frame)
        follower.start(frame.image, boxes)
        return LocatedFaces(boxes, reason)

    def crops(self, frame: Frame, faces: list[TrackedFace]) -> list[FaceCrop]:
        """Cut the model crop of each tracked face (blocking; cheap, one resize per face)."""
        out = []
        for face in faces:
            pixels, transform = crop_face(
                frame.image, face.box, scale=self.options.crop_scale, size=self.options.crop_size
            )
            box = face.box
            out.append(
                FaceCrop(
                    stream_id=frame.stream_id,
                    track_id=face.track_id,
                    frame_index=frame.index,
                    wall_ts=frame.wall_ts,
                    mono_ts=frame.mono_ts,
                    box_xyxy=(box.x0, box.y0, box.x1, box.y1),
                    crop_xywh=(float(transform.x0), float(transform.y0), float(transform.side), float(transform.side)),
                    frame_size=frame.size,
                    det_score=box.score,
                    pixels=pixels,
                )
            )
        return out

    def warm_up(self) -> None:
        """Create a detector in a pool thread now, so a missing model fails at start-up, not on the first frame."""
        self.executor.submit(self._thread_detector).result()

    def close(self) -> None:
        """Stop the pool and release every detector; idempotent."""
        self.executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            detectors, self._detectors = self._detectors, []
        for detector in detectors:
            detector.close()

    def _thread_detector(self) -> FaceDetector:
        detector: FaceDetector | None = getattr(self._local, "detector", None)
        if detector is None:
            opts = self.options
            detector = FaceDetector(
                opts.model, min_confidence=opts.min_confidence, min_face_px=opts.min_face_px, max_faces=opts.max_faces
            )
            self._local.detector = detector
            with self._lock:
                self._detectors.append(detector)
        return detector
