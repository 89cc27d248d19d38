"""The per-stream face tracker adapter (norfair)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.vision.crop import FaceBox
from streamguard.vision.tracking import FaceTracker, TrackingOptions


def box(x: float, y: float, side: float = 80, score: float = 0.9) -> FaceBox:
    return FaceBox(x, y, x + side, y + side, score)


def test_a_moving_face_keeps_its_id_and_two_faces_get_two_ids() -> None:
    tracker = FaceTracker()
    ids_a, ids_b = set(), set()
    for k in range(20):
        faces = tracker.update([box(10 + 3 * k, 10), box(400 - 2 * k, 200)], ts=k * 0.2)
        assert len(faces) == 2
        by_x = sorted(faces, key=lambda f: f.box.x0)
        ids_a.add(by_x[0].track_id)
        ids_b.add(by_x[1].track_id)
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_streams_never_share_state() -> None:
    one, two = FaceTracker(), FaceTracker()
    for k in range(5):
        one.update([box(10, 10)], ts=k * 0.2)
    assert two.update([box(300, 300)], ts=0.0)[0].box.x0 == 300
    assert two.active_ids and one.active_ids


def test_unconfirmed_tracks_are_left_out() -> None:
    tracker = FaceTracker(TrackingOptions(minimum_consecutive_frames=3))
    assert tracker.update([box(10, 10)], ts=0.0) == []
    assert tracker.update([box(11, 10)], ts=0.2) == []
    assert len(tracker.update([box(12, 10)], ts=0.4)) == 1


def test_low_scores_do_not_start_tracks() -> None:
    tracker = FaceTracker(TrackingOptions(track_activation_threshold=0.6))
    for k in range(3):
        assert tracker.update([box(10, 10, score=0.3)], ts=k * 0.2) == []


def test_lost_tracks_expire_after_max_age_and_predictions_are_not_matches() -> None:
    tracker = FaceTracker(TrackingOptions(max_age_s=1.0))
    track_id = tracker.update([box(10, 10)], ts=0.0)[0].track_id
    assert tracker.update([], ts=0.2) == []  # the track is still alive, but nothing was matched
    assert tracker.expire(0.9) == set()
    assert tracker.expire(1.3) == {track_id}
    assert tracker.active_ids == set()


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=4))
def test_ids_are_never_reused_after_reset(resets: int) -> None:
    tracker = FaceTracker()
    seen: list[int] = []
    for r in range(resets + 1):
        for k in range(3):
            seen.extend(f.track_id for f in tracker.update([box(10 + k, 10)], ts=r * 10 + k * 0.2))
        tracker.reset()
    assert len(set(seen)) == resets + 1
