"""Detect less, track more: faces followed by template matching between face detections."""

from __future__ import annotations

import numpy as np
import pytest

from streamguard.datasets.toy import astronaut_rgb
from streamguard.types import Frame
from streamguard.vision.crop import FaceBox
from streamguard.vision.faces import FaceOptions, FaceStage
from streamguard.vision.follow import DetectReason, FaceFollower, FollowOptions


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """`image` moved by (dx, dy) pixels, the uncovered edge filled with grey."""
    out = np.full_like(image, 128)
    h, w = image.shape[:2]
    out[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)] = image[
        max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)
    ]
    return out


def face_box(image: np.ndarray) -> FaceBox:
    from streamguard.vision.detection import FaceDetector

    with FaceDetector(max_faces=1) as detector:
        return detector.detect(image)[0]


def test_a_followed_face_box_moves_with_the_face() -> None:
    image = astronaut_rgb()
    box = face_box(image)
    follower = FaceFollower(FollowOptions(detect_every=10))
    follower.start(image, [box])
    moved = follower.follow(shifted(image, 17, -9))
    assert moved is not None and len(moved) == 1
    side = box.x1 - box.x0
    tolerance = side / 24 + 1  # one template pixel
    assert moved[0].x0 - box.x0 == pytest.approx(17, abs=tolerance)
    assert moved[0].y0 - box.y0 == pytest.approx(-9, abs=tolerance)
    assert moved[0].keypoints[0][0] - box.keypoints[0][0] == pytest.approx(moved[0].x0 - box.x0)
    assert moved[0].score == box.score


def test_a_face_that_is_gone_is_lost() -> None:
    image = astronaut_rgb()
    follower = FaceFollower(FollowOptions(detect_every=10))
    follower.start(image, [face_box(image)])
    noise = np.random.default_rng(0).integers(0, 256, image.shape, dtype=np.uint8)
    assert follower.follow(noise) is None


def test_detection_is_due_every_n_samples_and_after_reset() -> None:
    image = astronaut_rgb()
    follower = FaceFollower(FollowOptions(detect_every=3))
    assert follower.due()
    follower.start(image, [face_box(image)])
    dues = []
    for _ in range(4):
        dues.append(follower.due())
        if not dues[-1]:
            assert follower.follow(image) is not None
        else:
            follower.start(image, [face_box(image)])
    assert dues == [False, False, True, False]
    follower.reset()
    assert follower.due()


def test_detect_every_one_detects_on_every_sample() -> None:
    follower = FaceFollower(FollowOptions(detect_every=1))
    follower.start(astronaut_rgb(), [])
    assert follower.due()


def test_detect_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FollowOptions(detect_every=0)


def test_the_face_stage_follows_between_scheduled_detections_and_redetects_a_lost_face() -> None:
    image = astronaut_rgb()
    stage = FaceStage(FaceOptions())
    follower = FaceFollower(FollowOptions(detect_every=3))
    try:
        reasons = []
        for index, picture in enumerate([image, shifted(image, 5, 0), shifted(image, 10, 0), image]):
            frame = Frame("cam", index, None, None, float(index), float(index), picture)
            located = stage.locate(frame, follower)
            assert len(located.boxes) == 1
            reasons.append(located.detected)
        assert reasons == [DetectReason.SCHEDULED, None, None, DetectReason.SCHEDULED]
        blank = np.full_like(image, 40)
        located = stage.locate(Frame("cam", 9, None, None, 9.0, 9.0, blank), follower)
        assert located.detected is DetectReason.FACE_LOST and located.boxes == []
    finally:
        stage.close()
