"""Detection and segmentation metrics agree with scikit-learn and with hand-worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.evaluate.metrics import (
    accuracy,
    average_precision,
    average_ranks,
    detection_metrics,
    equal_error_rate,
    expected_calibration_error,
    has_both_classes,
    mask_iou,
    pixel_accuracy,
    roc_auc,
    roc_curve,
)


def random_sets(n_sets: int = 150, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random label/score sets with both classes; many with heavy ties (few distinct score values)."""
    rng = np.random.default_rng(seed)
    sets: list[tuple[np.ndarray, np.ndarray]] = []
    while len(sets) < n_sets:
        n = int(rng.integers(2, 120))
        labels = rng.integers(0, 2, n)
        if labels.min() == labels.max():
            continue
        kind = len(sets) % 3
        if kind == 0:
            scores = rng.uniform(size=n)
        elif kind == 1:
            scores = rng.integers(0, int(rng.integers(1, 6)), n).astype(float) / 4  # heavy ties
        else:
            scores = np.round(rng.normal(labels * 0.5, 1.0), 1)  # informative, some ties
        sets.append((labels, scores))
    return sets


RANDOM_SETS = random_sets()


def independent_eer(labels: np.ndarray, scores: np.ndarray) -> float:
    """FPR where the linearly interpolated FNR - FPR crosses zero, from scikit-learn's ROC points."""
    fpr, tpr, _ = skm.roc_curve(labels, scores, drop_intermediate=False)
    gap = (1 - tpr) - fpr  # strictly decreasing: every ROC point adds at least one sample
    assert np.all(np.diff(gap) < 0)
    return float(np.interp(0.0, -gap, fpr))


# ------------------------------------------------------------------------------------------ vs scikit-learn


def test_roc_auc_matches_sklearn() -> None:
    for labels, scores in RANDOM_SETS:
        assert roc_auc(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)


def test_average_precision_matches_sklearn() -> None:
    for labels, scores in RANDOM_SETS:
        assert average_precision(labels, scores) == pytest.approx(
            skm.average_precision_score(labels, scores), abs=1e-12
        )


def test_roc_curve_matches_sklearn() -> None:
    for labels, scores in RANDOM_SETS:
        fpr, tpr, thresholds = roc_curve(labels, scores)
        sk_fpr, sk_tpr, sk_thr = skm.roc_curve(labels, scores, drop_intermediate=False)
        np.testing.assert_allclose(fpr, sk_fpr, atol=1e-12)
        np.testing.assert_allclose(tpr, sk_tpr, atol=1e-12)
        np.testing.assert_array_equal(thresholds, sk_thr)


def test_equal_error_rate_matches_interpolated_crossing() -> None:
    for labels, scores in RANDOM_SETS:
        assert equal_error_rate(labels, scores) == pytest.approx(independent_eer(labels, scores), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=2, max_size=40).filter(
        lambda pairs: len({p[0] for p in pairs}) == 2
    )
)
def test_ranking_metrics_match_sklearn_property(pairs: list[tuple[bool, int]]) -> None:
    labels = np.array([p[0] for p in pairs], dtype=int)
    scores = np.array([p[1] for p in pairs], dtype=float) / 6
    assert roc_auc(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    assert average_precision(labels, scores) == pytest.approx(skm.average_precision_score(labels, scores), abs=1e-12)
    assert equal_error_rate(labels, scores) == pytest.approx(independent_eer(labels, scores), abs=1e-9)


def test_metrics_accept_bool_labels_and_2d_inputs() -> None:
    labels, scores = RANDOM_SETS[0]
    expected = skm.roc_auc_score(labels, scores)
    assert roc_auc(labels.astype(bool), scores) == pytest.approx(expected)
    n = len(labels) - len(labels) % 2
    assert roc_auc(labels[:n].reshape(2, -1), scores[:n].reshape(2, -1)) == pytest.approx(
        skm.roc_auc_score(labels[:n], scores[:n])
    )


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        roc_auc(np.array([0, 1, 1]), np.array([0.1, 0.2]))


def test_average_ranks_matches_sklearn_auc_definition_on_ties() -> None:
    np.testing.assert_array_equal(average_ranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])), [4.0, 1.0, 4.0, 2.0, 4.0])
    np.testing.assert_array_equal(average_ranks(np.array([0.5, 0.5])), [1.5, 1.5])


# ------------------------------------------------------------------------------------------ hand examples


def test_auc_hand_examples() -> None:
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert roc_auc(np.array([0, 1]), np.array([0.2, 0.9])) == 1.0
    assert roc_auc(np.array([0, 1]), np.array([0.9, 0.2])) == 0.0
    assert roc_auc(np.array([0, 1, 0, 1]), np.full(4, 0.3)) == 0.5  # all tied: one half


def test_equal_error_rate_hand_examples() -> None:
    # ROC points (0,0) (0,.5) (.5,.5) (.5,1) (1,1): FNR = FPR = 0.5 exactly at a point
    assert equal_error_rate(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.5
    # perfectly separated: 0
    assert equal_error_rate(np.array([0, 1]), np.array([0.2, 0.9])) == 0.0
    # perfectly inverted: 1
    assert equal_error_rate(np.array([1, 0]), np.array([0.2, 0.9])) == 1.0
    # a tie of one fake and one real at the top, two reals below: points (0,0) (1/3,1) (2/3,1) (1,1);
    # on the first segment FPR = s/3, FNR = 1 - s, equal at s = 3/4 → EER = 1/4 (interpolated)
    labels = np.array([1, 0, 0, 0])
    scores = np.array([0.5, 0.5, 0.1, 0.2])
    assert equal_error_rate(labels, scores) == pytest.approx(0.25, abs=1e-15)


def test_roc_curve_hand_example() -> None:
    fpr, tpr, thr = roc_curve(np.array([1, 0, 0, 0]), np.array([0.5, 0.5, 0.1, 0.2]))
    np.testing.assert_allclose(fpr, [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 1, 1, 1])
    np.testing.assert_array_equal(thr, [np.inf, 0.5, 0.2, 0.1])


def test_average_precision_hand_example() -> None:
    # ranking fake, real, fake: precision 1 at recall 1/2, 2/3 at recall 1 → AP = 1/2 + 1/3
    assert average_precision(np.array([1, 0, 1]), np.array([0.9, 0.5, 0.1])) == pytest.approx(0.5 + 1 / 3)


def test_accuracy_at_half_is_inclusive() -> None:
    labels = np.array([1, 1, 0, 0, 1])
    scores = np.array([0.5, 0.9, 0.49, 0.5, 0.1])
    # predicted fake: 0.5, 0.9, 0.5 → correct: items 0, 1, 2 → 3/5
    assert accuracy(labels, scores) == pytest.approx(0.6)
    assert accuracy(labels, scores, threshold=0.05) == pytest.approx(0.6)  # all fake → 3/5
    assert accuracy(labels, scores, threshold=0.95) == pytest.approx(0.4)  # all real → 2/5
    assert math.isnan(accuracy(np.array([]), np.array([])))


# ------------------------------------------------------------------------------------------ calibration error


def test_ece_of_perfectly_calibrated_data_is_small() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(size=40_000)
    labels = rng.uniform(size=p.size) < p
    assert expected_calibration_error(labels, p) < 0.015


def test_ece_of_overconfident_data_is_large() -> None:
    rng = np.random.default_rng(2)
    p_true = rng.uniform(0.05, 0.95, size=40_000)
    labels = rng.uniform(size=p_true.size) < p_true
    logit = np.log(p_true / (1 - p_true))
    overconfident = 1 / (1 + np.exp(-5 * logit))
    assert expected_calibration_error(labels, overconfident) > 0.1
    assert expected_calibration_error(labels, overconfident) > 5 * expected_calibration_error(labels, p_true)


def test_ece_hand_examples() -> None:
    # one bin: mean p 0.9, fake rate 0.5 → 0.4
    assert expected_calibration_error(np.array([1, 0]), np.array([0.9, 0.9])) == pytest.approx(0.4)
    # two bins, weighted by size: bin of p=0.1 (3 items, fake rate 1/3) and bin of p=1.0 (1 item, rate 1)
    labels = np.array([1, 0, 0, 1])
    probs = np.array([0.1, 0.1, 0.1, 1.0])
    expected = (3 * abs(0.1 - 1 / 3) + 1 * 0.0) / 4
    assert expected_calibration_error(labels, probs) == pytest.approx(expected)
    assert math.isnan(expected_calibration_error(np.array([]), np.array([])))


def test_ece_bins_are_equal_width() -> None:
    # 0.05 and 0.1 fall in different bins when n_bins = 15 (edges at multiples of 1/15) but the same with 5
    labels = np.array([0, 1])
    probs = np.array([0.05, 0.1])
    assert expected_calibration_error(labels, probs, n_bins=15) == pytest.approx((0.05 + 0.9) / 2)
    assert expected_calibration_error(labels, probs, n_bins=5) == pytest.approx(abs(0.075 - 0.5))


# ------------------------------------------------------------------------------------------ masks


def test_pixel_accuracy_and_iou_hand_cases() -> None:
    pred = np.array([[0.6, 0.4], [0.5, 0.1]])
    true = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert pixel_accuracy(pred, true) == pytest.approx(0.75)  # (1,0) is a false positive at >= 0.5
    assert mask_iou(pred, true) == pytest.approx(0.5)  # intersection 1, union 2
    assert pixel_accuracy(pred, true, threshold=0.55) == 1.0
    assert mask_iou(pred, true, threshold=0.55) == 1.0


def test_mask_iou_edge_cases() -> None:
    empty = np.zeros((4, 4))
    full = np.ones((4, 4))
    assert mask_iou(empty, empty) == 1.0  # both empty agree perfectly
    assert pixel_accuracy(empty, empty) == 1.0
    assert mask_iou(empty, full) == 0.0
    assert mask_iou(full, empty) == 0.0
    assert pixel_accuracy(full, empty) == 0.0
    half = np.zeros((4, 4))
    half[:2] = 1.0
    assert mask_iou(full, half) == pytest.approx(0.5)
    assert mask_iou(half, np.full((4, 4), 0.5)) == pytest.approx(0.5)  # true binarised at >= 0.5


# ------------------------------------------------------------------------------------------ undefined


def test_one_class_gives_nan() -> None:
    only_fake = np.ones(5)
    only_real = np.zeros(5)
    scores = np.linspace(0, 1, 5)
    assert not has_both_classes(only_fake)
    assert has_both_classes(np.array([0, 1]))
    for labels in (only_fake, only_real):
        assert math.isnan(roc_auc(labels, scores))
        assert math.isnan(equal_error_rate(labels, scores))
    assert math.isnan(average_precision(only_real, scores))
    assert average_precision(only_fake, scores) == pytest.approx(1.0)  # defined: every item is fake
    m = detection_metrics(only_real, scores)
    assert math.isnan(m["auc"])
    assert math.isnan(m["eer"])
    assert math.isnan(m["ap"])
    assert m["acc"] == pytest.approx(accuracy(only_real, scores))
    assert not math.isnan(m["ece"])


def test_detection_metrics_bundle() -> None:
    labels, scores = RANDOM_SETS[2]
    scores = 1 / (1 + np.exp(-scores))
    m = detection_metrics(labels, scores)
    assert set(m) == {"auc", "eer", "ap", "acc", "ece"}
    assert m["auc"] == pytest.approx(skm.roc_auc_score(labels, scores))
    assert m["ap"] == pytest.approx(skm.average_precision_score(labels, scores))
    assert m["acc"] == pytest.approx(skm.accuracy_score(labels, scores >= 0.5))
    assert m["eer"] == pytest.approx(independent_eer(labels, scores), abs=1e-9)
    assert m["ece"] == pytest.approx(expected_calibration_error(labels, scores))
