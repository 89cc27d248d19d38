"""Per-epoch scores on real deepfakes (`streamguard.train.monitor`) and the epoch selection rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamguard.evaluate.metrics import roc_auc
from streamguard.train.data import CropSet
from streamguard.train.loop import selection_score
from streamguard.train.monitor import Monitor, video_level


def crop_set(rows: list[tuple[str, str, bool]]) -> CropSet:
    n = len(rows)
    return CropSet(
        crops=np.zeros((n, 8, 8, 3), np.uint8), masks=np.zeros((n, 8, 8), np.uint8), has_mask=np.zeros(n, bool),
        is_fake=np.array([fake for _, _, fake in rows]), sources=[s for s, _, _ in rows],
        groups=[g for _, g, _ in rows],
    )  # fmt: skip


# Two frames per video; a still image in a seen-generator fake group and in the reals.
ROWS = [
    ("real/a/r1.mp4", "a", False), ("real/a/r1.mp4", "a", False),
    ("real/b/r2.mp4", "b", False), ("real/b/r2.mp4", "b", False),
    ("real/b/r3.png", "b", False),
    ("fake/seen/f1.mp4", "seen", True), ("fake/seen/f1.mp4", "seen", True),
    ("fake/seen/f2.jpg", "seen", True),
    ("fake/new/f3.mp4", "new", True), ("fake/new/f3.mp4", "new", True),
]  # fmt: skip


def test_unseen_pool_keeps_every_real_and_the_unseen_fakes() -> None:
    monitor = Monitor("dev", crop_set(ROWS), frozenset({"seen"}))
    kept = [ROWS[i][0] for i in np.flatnonzero(monitor.unseen_rows())]
    assert kept == [r[0] for r in ROWS if not r[2] or r[1] != "seen"]


def test_scores_by_hand() -> None:
    monitor = Monitor("dev", crop_set(ROWS), frozenset({"seen"}))
    # Reals at 0.1-0.5; the seen fakes score high, the unseen fake between the reals.
    logits = np.array([0.1, 0.3, 0.2, 0.5, 0.4, 0.9, 0.8, 0.95, 0.35, 0.25])
    scores = monitor.scores(logits)
    labels = np.array([r[2] for r in ROWS])
    assert scores["dev_frame_auc"] == pytest.approx(roc_auc(labels, logits))
    # Videos: r1 0.2, r2 0.35, f1 0.85, f3 0.30 (stills left out).
    assert scores["dev_video_auc"] == pytest.approx(0.75)  # f1 above both reals, f3 above r1 only
    assert scores["dev_unseen_video_auc"] == pytest.approx(0.5)  # f3 vs r1 and r2
    unseen = monitor.unseen_rows()
    assert scores["dev_unseen_frame_auc"] == pytest.approx(roc_auc(labels[unseen], logits[unseen]))
    assert scores["dev_n"] == len(ROWS)


def test_video_level_averages_frames_and_leaves_stills_out() -> None:
    labels, scores = video_level(
        np.array([True, True, False, False]), np.array([1.0, 3.0, 5.0, 0.0]), ["v.mp4", "v.mp4", "s.png", "w.mkv"]
    )
    assert labels.tolist() == [True, False]
    assert scores.tolist() == [2.0, 0.0]


def test_selection_score_is_the_mean_of_the_defined_metrics() -> None:
    flat = {"val_auc": 0.8, "dev_unseen_video_auc": 0.6, "dev_frame_auc": math.nan}
    assert selection_score(flat, ("val_auc", "dev_unseen_video_auc")) == pytest.approx(0.7)
    assert selection_score(flat, ("val_auc", "dev_frame_auc")) == pytest.approx(0.8)
    assert selection_score(flat, ("dev_frame_auc",)) == -1.0
    with pytest.raises(KeyError, match="dev_unseen_frame_auc"):
        selection_score(flat, ("dev_unseen_frame_auc",))
