"""Detection and segmentation metrics (positive class = fake), in plain numpy.

The definitions follow scikit-learn (AUC, AP) and DeepfakeBench (EER, accuracy at 0.5); the tests compare
them with scikit-learn on random scores.
"""

from __future__ import annotations

import math

import numpy as np


def _binary(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} differ in length")
    return y, s


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`, ties sharing the mean of their ranks (as `scipy.stats.rankdata`)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def has_both_classes(labels: np.ndarray) -> bool:
    """Whether ranking metrics are defined (at least one real and one fake)."""
    y = np.asarray(labels).astype(bool)
    return bool(y.any() and (~y).any())


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count one half)."""
    y, s = _binary(labels, scores)
    if not has_both_classes(y):
        return float("nan")
    ranks = average_ranks(s)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rates, true-positive rates and thresholds, one point per distinct score (descending)."""
    y, s = _binary(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last_of_each]
    fps = (last_of_each + 1) - tps
    tpr = np.r_[0.0, tps / max(int(y.sum()), 1)]
    fpr = np.r_[0.0, fps / max(int((~y).sum()), 1)]
    return fpr, tpr, np.r_[np.inf, s[last_of_each]]


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
    """The error rate where the false-negative rate equals the false-positive rate (linear interpolation)."""
    if not has_both_classes(labels):
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    diff = fnr - fpr  # starts at 1, decreases to -1: find the crossing
    i = int(np.flatnonzero(diff <= 0)[0])
    if i == 0 or diff[i] == 0:
        return float(fpr[i])
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: sum over thresholds of (recall step) x precision, as scikit-learn computes it."""
    y, s = _binary(labels, scores)
    if not y.any():
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last_of_each]
    precision = tps / (last_of_each + 1)
    recall = tps / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def accuracy(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction classified correctly when ``score >= threshold`` means fake."""
    y, s = _binary(labels, scores)
    return float(np.mean((s >= threshold) == y)) if len(y) else float("nan")


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """ECE of P(fake): bin by predicted probability (equal width), weight |mean p - fake rate| by bin size."""
    y, p = _binary(labels, probs)
    if not len(y):
        return float("nan")
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            total += in_bin.sum() * abs(p[in_bin].mean() - y[in_bin].mean())
    return float(total / len(y))


def pixel_accuracy(pred_mask: np.ndarray, true_mask: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of pixels where ``pred >= threshold`` agrees with ``true >= 0.5``."""
    return float(np.mean((pred_mask >= threshold) == (true_mask >= 0.5)))


def mask_iou(pred_mask: np.ndarray, true_mask: np.ndarray, threshold: float = 0.5) -> float:
    """Intersection over union of the manipulated areas; two empty masks agree perfectly (1.0)."""
    pred, true = pred_mask >= threshold, true_mask >= 0.5
    union = np.logical_or(pred, true).sum()
    return float(np.logical_and(pred, true).sum() / union) if union else 1.0


def detection_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """AUC, EER, AP, accuracy at 0.5 and ECE of one set of scores (NaN where undefined)."""
    return {
        "auc": roc_auc(labels, scores),
        "eer": equal_error_rate(labels, scores),
        "ap": average_precision(labels, scores),
        "acc": accuracy(labels, scores),
        "ece": expected_calibration_error(labels, scores),
    }


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """`(n_classes, n_classes)` counts: row = true class, column = predicted class."""
    table = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(table, (np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return table


def macro_f1(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    """Mean F1 over the classes that occur in `labels` or `predicted` (NaN for no rows)."""
    table = confusion_matrix(labels, predicted, n_classes)
    scores = []
    for k in range(n_classes):
        true_k, predicted_k, hits = table[k].sum(), table[:, k].sum(), table[k, k]
        if true_k == 0 and predicted_k == 0:
            continue
        scores.append(2.0 * hits / (true_k + predicted_k))
    return float(np.mean(scores)) if scores else math.nan


def attribute_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of `(N, K)` attribute probabilities over the rows labelled ``>= 0``."""
    labelled = np.asarray(labels) >= 0
    if not labelled.any():
        return {"attr_acc": math.nan, "attr_macro_f1": math.nan, "attr_n": 0}
    truth = np.asarray(labels)[labelled]
    predicted = np.asarray(probabilities)[labelled].argmax(axis=1)
    return {
        "attr_acc": float(np.mean(predicted == truth)),
        "attr_macro_f1": macro_f1(truth, predicted, probabilities.shape[1]),
        "attr_n": int(labelled.sum()),
    }
