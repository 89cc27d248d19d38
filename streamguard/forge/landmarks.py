"""The 468-point face mesh, run offline with LiteRT (``ai-edge-litert``) on the bundled ``face_landmark.tflite``.

Recipe (tested, see the project guide section 2): a square of side ``1.5 * max(w, h)`` of the face box,
centred on it and rotated so that the two eye keypoints are level, is warped to 192 x 192 with edge
replication and scaled to float [0, 1] RGB. The model returns ``conv2d_21`` (1404 values: 468 points of
``x, y`` in crop pixels and a relative depth ``z``) and ``conv2d_31`` (a face-presence logit). Points are
mapped back to the frame with the inverse warp. A second pass re-crops on the landmarks' own box, levelled
on the outer eye corners (33, 263), as MediaPipe does when it tracks a face.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import cv2
import numpy as np
import numpy.typing as npt

from streamguard.assets import mediapipe_model
from streamguard.errors import ModelAssetError
from streamguard.forge.mesh import LEFT_EYE_OUTER_CORNER, N_LANDMARKS, RIGHT_EYE_OUTER_CORNER
from streamguard.vision.crop import FaceBox

MODEL_FILE = "face_landmark.tflite"
INPUT_SIZE = 192
CROP_SCALE = 1.5
_INPUT_NAME = "input_1"
_POINTS_OUTPUT = "conv2d_21"
_PRESENCE_OUTPUT = "conv2d_31"

Affine = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FaceLandmarks:
    """The face mesh of one face, in frame pixels.

    Attributes:
        points: ``(468, 3)`` float32: ``x, y`` in continuous frame pixel coordinates (the convention of
            `streamguard.vision.crop`), ``z`` a relative depth scaled like ``x`` (smaller is nearer).
        presence: Face-presence probability in [0, 1] (sigmoid of the model's logit).
    """

    points: npt.NDArray[np.float32]
    presence: float

    @property
    def xy(self) -> npt.NDArray[np.float32]:
        """The ``(468, 2)`` image coordinates."""
        return self.points[:, :2]

    def box(self, score: float | None = None) -> FaceBox:
        """The axis-aligned bounding box of the points, with the outer eye corners as its two keypoints.

        Args:
            score: The box score; the presence probability when None.
        """
        xy = self.xy
        keypoints = (
            (float(xy[RIGHT_EYE_OUTER_CORNER, 0]), float(xy[RIGHT_EYE_OUTER_CORNER, 1])),
            (float(xy[LEFT_EYE_OUTER_CORNER, 0]), float(xy[LEFT_EYE_OUTER_CORNER, 1])),
        )
        return FaceBox(
            x0=float(xy[:, 0].min()),
            y0=float(xy[:, 1].min()),
            x1=float(xy[:, 0].max()),
            y1=float(xy[:, 1].max()),
            score=self.presence if score is None else score,
            keypoints=keypoints,
        )


class FaceMesh:
    """LiteRT interpreter for the 468-point face-mesh model.

    Not thread-safe: create one instance per thread (or per DataLoader worker). Use it as a context manager
    or call `close`.

    Args:
        model_path: The ``.tflite`` file; the bundled ``models/mediapipe/face_landmark.tflite`` when None.
        num_threads: CPU threads of the interpreter.
        refine: Run the second pass (re-crop on the first pass's landmarks) by default.

    Raises:
        ModelAssetError: When the model file is missing or cannot be loaded, or has unexpected tensors.
    """

    def __init__(self, model_path: Path | None = None, num_threads: int = 1, refine: bool = True) -> None:
        path = model_path if model_path is not None else mediapipe_model(MODEL_FILE)
        self.refine = refine
        self._interpreter: Any = _load_interpreter(path, num_threads)
        inputs = {d["name"]: d for d in self._interpreter.get_input_details()}
        outputs = {d["name"]: d for d in self._interpreter.get_output_details()}
        if _INPUT_NAME not in inputs or not {_POINTS_OUTPUT, _PRESENCE_OUTPUT} <= outputs.keys():
            raise ModelAssetError(f"{path}: not the face-mesh model (tensors {sorted(inputs)} -> {sorted(outputs)})")
        self._input_index = int(inputs[_INPUT_NAME]["index"])
        self._points_index = int(outputs[_POINTS_OUTPUT]["index"])
        self._presence_index = int(outputs[_PRESENCE_OUTPUT]["index"])

    @property
    def closed(self) -> bool:
        """Whether `close` has been called."""
        return self._interpreter is None

    def landmarks(self, frame_rgb: npt.NDArray[np.uint8], box: FaceBox, refine: bool | None = None) -> FaceLandmarks:
        """The face mesh of the face in ``box``.

        Args:
            frame_rgb: ``(H, W, 3)`` uint8 RGB frame.
            box: The face box; its first two keypoints (the subject's right and left eye, as BlazeFace gives
                them) level the crop when present.
            refine: Run the second pass; `refine` of the instance when None.

        Returns:
            The landmarks in frame pixels and the presence probability of the last pass.

        Raises:
            ValueError: When the frame is not an ``(H, W, 3)`` uint8 array or the box is empty.
            RuntimeError: When the instance is closed.
        """
        _check_frame(frame_rgb)
        if box.width <= 0 or box.height <= 0:
            raise ValueError(f"empty face box {box}")
        angle = _eye_angle(box.keypoints)
        result = self._run(frame_rgb, box.center, CROP_SCALE * max(box.width, box.height), angle)
        if self.refine if refine is None else refine:
            center, side, angle = _roi_from_points(result.xy)
            result = self._run(frame_rgb, center, CROP_SCALE * side, angle)
        return result

    def _run(
        self, frame: npt.NDArray[np.uint8], center: tuple[float, float], side: float, angle: float
    ) -> FaceLandmarks:
        if self._interpreter is None:
            raise RuntimeError("FaceMesh is closed")
        crop_to_frame = crop_affine(center, side, angle, INPUT_SIZE)
        crop = warp_to_crop(frame, crop_to_frame, INPUT_SIZE)
        self._interpreter.set_tensor(self._input_index, (crop.astype(np.float32) / 255.0)[np.newaxis])
        self._interpreter.invoke()
        raw = np.asarray(self._interpreter.get_tensor(self._points_index), dtype=np.float64).reshape(N_LANDMARKS, 3)
        logit = float(np.asarray(self._interpreter.get_tensor(self._presence_index)).reshape(-1)[0])
        points = np.empty((N_LANDMARKS, 3), dtype=np.float32)
        points[:, :2] = apply_affine(crop_to_frame, raw[:, :2])
        points[:, 2] = raw[:, 2] * side / INPUT_SIZE
        return FaceLandmarks(points=points, presence=_sigmoid(logit))

    def close(self) -> None:
        """Release the interpreter; calling it again does nothing."""
        self._interpreter = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def crop_affine(center: tuple[float, float], side: float, angle: float, size: int) -> Affine:
    """The ``2 x 3`` map from crop to frame coordinates of a rotated square crop.

    The crop's x axis points along ``angle`` (radians, image coordinates: y down) in the frame; the square of
    side ``side`` frame pixels around ``center`` fills the ``size x size`` crop. Both sides use continuous
    pixel coordinates (pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``).
    """
    scale = side / size
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    half = size / 2.0
    cx, cy = center
    return np.array(
        [[cos, -sin, cx - cos * half + sin * half], [sin, cos, cy - sin * half - cos * half]], dtype=np.float64
    )


def apply_affine(affine: Affine, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Apply a ``2 x 3`` affine map to ``(N, 2)`` points."""
    xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    result: npt.NDArray[np.float64] = xy @ affine[:, :2].T + affine[:, 2]
    return result


def warp_to_crop(frame: npt.NDArray[np.uint8], crop_to_frame: Affine, size: int) -> npt.NDArray[np.uint8]:
    """Sample the crop whose pixels map into the frame by ``crop_to_frame`` (edges replicated)."""
    # cv2 addresses pixel centres by integer indices: index = continuous - 0.5 on both sides.
    to_index = crop_to_frame.copy()
    to_index[:, 2] += crop_to_frame[:, :2].sum(axis=1) * 0.5 - 0.5
    crop = cv2.warpAffine(
        frame,
        to_index,
        (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.ascontiguousarray(crop, dtype=np.uint8)


def _load_interpreter(path: Path, num_threads: int) -> Any:
    try:
        litert = importlib.import_module("ai_edge_litert.interpreter")  # untyped; imported on first use
    except ImportError as e:
        raise ModelAssetError(f"the face mesh needs the ai-edge-litert package: {e}") from e
    try:
        interpreter = litert.Interpreter(model_path=str(path), num_threads=num_threads)
        interpreter.allocate_tensors()
    except (OSError, ValueError, RuntimeError) as e:
        raise ModelAssetError(f"cannot load face-mesh model {path}: {e}") from e
    return interpreter


def _check_frame(frame: npt.NDArray[np.generic]) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got shape {frame.shape} dtype {frame.dtype}")


def _eye_angle(keypoints: tuple[tuple[float, float], ...]) -> float:
    """Angle of the line from the subject's right eye to the left eye (0 without keypoints)."""
    if len(keypoints) < 2:
        return 0.0
    (rx, ry), (lx, ly) = keypoints[0], keypoints[1]
    return math.atan2(ly - ry, lx - rx)


def _roi_from_points(xy: npt.NDArray[np.float32]) -> tuple[tuple[float, float], float, float]:
    """Centre, side (larger side of the box in the levelled frame) and angle of the landmarks' own crop."""
    right, left = xy[RIGHT_EYE_OUTER_CORNER].astype(np.float64), xy[LEFT_EYE_OUTER_CORNER].astype(np.float64)
    angle = math.atan2(left[1] - right[1], left[0] - right[0])
    cos, sin = math.cos(angle), math.sin(angle)
    levelled = xy.astype(np.float64) @ np.array([[cos, -sin], [sin, cos]])  # rotate by -angle
    low, high = levelled.min(axis=0), levelled.max(axis=0)
    mid = (low + high) / 2.0
    center = np.array([[cos, sin], [-sin, cos]]).T @ mid  # rotate back by +angle
    side = float(max(high - low))
    return (float(center[0]), float(center[1])), side, angle


def _sigmoid(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-min(max(logit, -60.0), 60.0)))
