from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from skimage import data

from streamguard.assets import MODELS_DIR_ENV, mediapipe_model, models_dir
from streamguard.errors import ModelAssetError
from streamguard.vision import FaceBox, FaceDetector, crop_face

# Where the astronaut's face is in skimage.data.astronaut() (512x512), generously: the detector's box
# is about (173, 67)-(276, 170).
FACE_REGION = (150.0, 40.0, 300.0, 200.0)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    image = data.astronaut()  # type: ignore[no-untyped-call]
    assert image.shape == (512, 512, 3)
    assert image.dtype == np.uint8
    return np.ascontiguousarray(image)


@pytest.fixture(scope="module")
def detector() -> Iterator[FaceDetector]:
    with FaceDetector() as face_detector:
        yield face_detector


@pytest.fixture(scope="module")
def astronaut_face(detector: FaceDetector, astronaut: np.ndarray) -> FaceBox:
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    return faces[0]


def center_distance(a: FaceBox, b: FaceBox) -> float:
    return float(np.hypot(a.center[0] - b.center[0], a.center[1] - b.center[1]))


def assert_inside_frame(face: FaceBox, width: int, height: int) -> None:
    assert 0 <= face.x0 < face.x1 <= width
    assert 0 <= face.y0 < face.y1 <= height


# --- assets -------------------------------------------------------------------------------------------


def test_bundled_models_are_found() -> None:
    for name in ("face_detection_full_range_sparse.tflite", "face_detection_short_range.tflite"):
        path = mediapipe_model(name)
        assert path.is_file()
        assert path.parent == models_dir() / "mediapipe"


def test_models_dir_can_be_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    assert models_dir() == tmp_path.resolve()
    (tmp_path / "mediapipe").mkdir()
    (tmp_path / "mediapipe" / "x.tflite").write_bytes(b"")
    assert mediapipe_model("x.tflite") == tmp_path.resolve() / "mediapipe" / "x.tflite"


def test_missing_model_says_how_to_re_extract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    with pytest.raises(ModelAssetError, match=r"extract\.sh"):
        mediapipe_model("face_detection_short_range.tflite")
    with pytest.raises(ModelAssetError):
        FaceDetector()


@pytest.mark.parametrize("name", ["", "../face_landmark.tflite", "mediapipe/face_landmark.tflite"])
def test_model_names_with_folders_are_rejected(name: str) -> None:
    with pytest.raises(ModelAssetError):
        mediapipe_model(name)


def test_corrupt_model_raises_model_asset_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "mediapipe").mkdir()
    (tmp_path / "mediapipe" / "face_detection_full_range_sparse.tflite").write_bytes(b"not a model")
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    with pytest.raises(ModelAssetError, match="cannot load"):
        FaceDetector()


# --- detection ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["full_range", "short_range"])
def test_both_models_find_the_astronaut(astronaut: np.ndarray, model: str) -> None:
    with FaceDetector(model=model) as face_detector:  # type: ignore[arg-type]
        faces = face_detector.detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    x0, y0, x1, y1 = FACE_REGION
    assert x0 <= face.x0 < face.x1 <= x1
    assert y0 <= face.y0 < face.y1 <= y1
    assert 0.5 <= face.score <= 1.0


def test_keypoints_are_in_pixels_on_the_face(astronaut_face: FaceBox) -> None:
    face = astronaut_face
    assert len(face.keypoints) == 6
    right_eye, left_eye, nose, mouth = face.keypoints[:4]
    for x, y in (right_eye, left_eye, nose, mouth):
        assert face.x0 <= x <= face.x1
        assert face.y0 <= y <= face.y1
    assert right_eye[0] < left_eye[0]  # the subject's right eye is on the image's left
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]


def test_face_moves_with_the_image_on_a_larger_canvas(detector: FaceDetector, astronaut: np.ndarray) -> None:
    dx, dy = 300, 100
    canvas = np.zeros((900, 1200, 3), dtype=np.uint8)
    canvas[dy : dy + 512, dx : dx + 512] = astronaut
    faces = detector.detect(canvas)
    assert len(faces) == 1
    moved = faces[0]
    original = detector.detect(astronaut)[0]
    assert moved.x0 == pytest.approx(original.x0 + dx, abs=4)
    assert moved.y0 == pytest.approx(original.y0 + dy, abs=4)
    assert moved.width == pytest.approx(original.width, abs=4)
    assert moved.height == pytest.approx(original.height, abs=4)


@pytest.mark.parametrize(("height", "width", "dx", "dy"), [(560, 700, 100, 30), (700, 560, 30, 100)])
def test_keypoints_move_with_the_image_on_a_non_square_canvas(
    detector: FaceDetector, astronaut: np.ndarray, height: int, width: int, dx: int, dy: int
) -> None:
    # Non-square, so a mix-up of width and height in the keypoint conversion shows. The canvas is kept
    # small: the detector sees a downscaled frame and its keypoints get coarser on large canvases.
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas[dy : dy + 512, dx : dx + 512] = astronaut
    faces = detector.detect(canvas)
    assert len(faces) == 1
    expected = np.array(detector.detect(astronaut)[0].keypoints) + np.array([dx, dy])
    np.testing.assert_allclose(np.array(faces[0].keypoints), expected, atol=6)


@pytest.mark.parametrize("value", [0, 128, 255])
def test_blank_frame_has_no_faces(detector: FaceDetector, value: int) -> None:
    assert detector.detect(np.full((480, 640, 3), value, dtype=np.uint8)) == []


def test_boxes_cut_by_the_frame_edge_are_clipped(astronaut: np.ndarray) -> None:
    # The face sticks out of the left edge; the box must still lie inside the frame.
    cut = np.ascontiguousarray(astronaut[:, 200:])
    with FaceDetector(min_confidence=0.3) as face_detector:
        faces = face_detector.detect(cut)
    assert faces
    assert faces[0].x0 == 0.0
    for face in faces:
        assert_inside_frame(face, cut.shape[1], cut.shape[0])


def fake_detection(x: float, y: float, w: float, h: float, score: float | None) -> SimpleNamespace:
    """A stand-in for a mediapipe detection (pixel box, normalised keypoints)."""
    return SimpleNamespace(
        bounding_box=SimpleNamespace(origin_x=x, origin_y=y, width=w, height=h),
        categories=[SimpleNamespace(score=score)],
        keypoints=[SimpleNamespace(x=0.5, y=0.25)],
    )


class FakeMediapipeDetector:
    def __init__(self, detections: list[SimpleNamespace]) -> None:
        self.detections = detections

    def detect(self, image: object) -> SimpleNamespace:
        return SimpleNamespace(detections=self.detections)

    def close(self) -> None:
        pass


def test_raw_boxes_are_clipped_to_the_frame_and_boxes_outside_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    # mediapipe may already clip; the wrapper must guarantee it whatever the native side returns.
    face_detector = FaceDetector()
    face_detector.close()  # the native detector is replaced by the fake below
    raw = [
        fake_detection(-30, -10, 100, 80, 0.6),
        fake_detection(600, 400, 100, 120, None),
        fake_detection(700, 10, 50, 50, 0.9),  # wholly right of the frame
    ]
    monkeypatch.setattr(face_detector, "_detector", FakeMediapipeDetector(raw))
    faces = face_detector.detect(np.zeros((480, 640, 3), dtype=np.uint8))
    assert faces == [
        FaceBox(0.0, 0.0, 70.0, 70.0, 0.6, keypoints=((320.0, 120.0),)),
        FaceBox(600.0, 400.0, 640.0, 480.0, 0.0, keypoints=((320.0, 120.0),)),
    ]


@pytest.fixture(scope="module")
def two_faces(astronaut: np.ndarray) -> np.ndarray:
    """A large astronaut (face ~100 px) and a half-size one (face ~50 px) side by side."""
    canvas = np.zeros((600, 900, 3), dtype=np.uint8)
    canvas[44:556, 20:532] = astronaut
    canvas[150:406, 600:856] = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    return canvas


def test_all_faces_are_found_best_first(detector: FaceDetector, two_faces: np.ndarray) -> None:
    faces = detector.detect(two_faces)
    assert len(faces) == 2
    assert faces[0].score >= faces[1].score
    sides = sorted(max(face.width, face.height) for face in faces)
    assert sides[0] < 70 < 80 < sides[1]
    for face in faces:
        assert_inside_frame(face, two_faces.shape[1], two_faces.shape[0])


def test_min_face_px_drops_small_faces(two_faces: np.ndarray) -> None:
    with FaceDetector(min_face_px=80) as face_detector:
        faces = face_detector.detect(two_faces)
    assert len(faces) == 1
    assert faces[0].x1 < 532  # the large copy
    assert max(faces[0].width, faces[0].height) >= 80


def test_max_faces_keeps_the_best(detector: FaceDetector, two_faces: np.ndarray) -> None:
    every_face = detector.detect(two_faces)
    with FaceDetector(max_faces=1) as face_detector:
        faces = face_detector.detect(two_faces)
    assert faces == every_face[:1]


# --- crop round trip on a real face -------------------------------------------------------------------


def test_crop_round_trip_on_a_real_face(astronaut: np.ndarray, astronaut_face: FaceBox) -> None:
    face = astronaut_face
    crop, transform = crop_face(astronaut, face, scale=1.3, size=256)
    assert crop.shape == (256, 256, 3)

    # In crop space, mark the face box, then paste the mask back onto the frame.
    (cx0, cy0), (cx1, cy1) = np.rint(transform.frame_to_crop([[face.x0, face.y0], [face.x1, face.y1]]))
    assert 0 <= cx0 < cx1 <= 256
    assert 0 <= cy0 < cy1 <= 256
    mask = np.zeros((256, 256), dtype=np.float32)
    mask[int(cy0) : int(cy1), int(cx0) : int(cx1)] = 1.0
    pasted = transform.paste_mask(mask)
    assert pasted.shape == astronaut.shape[:2]

    bright = pasted >= 0.5
    ys, xs = np.nonzero(bright)
    assert xs.min() >= face.x0 - 2
    assert xs.max() + 1 <= face.x1 + 2
    assert ys.min() >= face.y0 - 2
    assert ys.max() + 1 <= face.y1 + 2
    box_mask = np.zeros_like(bright)
    box_mask[int(face.y0) : int(face.y1), int(face.x0) : int(face.x1)] = True
    assert np.logical_and(bright, box_mask).sum() / np.logical_or(bright, box_mask).sum() > 0.9
    assert xs.mean() + 0.5 == pytest.approx(face.center[0], abs=2)
    assert ys.mean() + 0.5 == pytest.approx(face.center[1], abs=2)


def test_face_detected_in_the_crop_maps_back_onto_the_frame_face(
    detector: FaceDetector, astronaut: np.ndarray, astronaut_face: FaceBox
) -> None:
    crop, transform = crop_face(astronaut, astronaut_face, scale=1.3, size=256)
    faces = detector.detect(crop)
    assert len(faces) == 1
    (x0, y0), (x1, y1) = transform.crop_to_frame([[faces[0].x0, faces[0].y0], [faces[0].x1, faces[0].y1]])
    mapped = FaceBox(float(x0), float(y0), float(x1), float(y1), score=faces[0].score)
    assert center_distance(mapped, astronaut_face) < 5
    assert mapped.width == pytest.approx(astronaut_face.width, rel=0.2)


# --- lifecycle and arguments --------------------------------------------------------------------------


def test_close_is_idempotent_and_detect_after_close_fails(astronaut: np.ndarray) -> None:
    face_detector = FaceDetector()
    assert not face_detector.closed
    face_detector.close()
    face_detector.close()
    assert face_detector.closed
    with pytest.raises(RuntimeError, match="closed"):
        face_detector.detect(astronaut)


def test_context_manager_closes() -> None:
    with FaceDetector() as face_detector:
        assert not face_detector.closed
    assert face_detector.closed


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": "long_range"},
        {"min_confidence": -0.1},
        {"min_confidence": 1.5},
        {"min_face_px": -1},
        {"max_faces": 0},
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FaceDetector(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "frame", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 4), np.uint8), np.zeros((64, 64, 3), np.float32)]
)
def test_detect_rejects_non_rgb_frames(detector: FaceDetector, frame: np.ndarray) -> None:
    with pytest.raises(ValueError):
        detector.detect(frame)


def test_detect_accepts_a_non_contiguous_frame(detector: FaceDetector, astronaut: np.ndarray) -> None:
    padded = np.zeros((512, 1024, 3), dtype=np.uint8)
    padded[:, ::2] = astronaut
    faces = detector.detect(padded[:, ::2])
    assert len(faces) == 1
    assert center_distance(faces[0], detector.detect(astronaut)[0]) < 1
