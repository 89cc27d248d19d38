"""How right an explanation is: attribute verdicts, named regions, and the mouth-versus-face temporal cue.

Pure functions on arrays; ``tools/explain_eval.py`` feeds them a checkpoint's outputs on forgeries of held-out
people (exact attribute and region labels) and on a real-deepfake set (the attribute its manifest's method
implies).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamguard.evaluate import metrics
from streamguard.types import ATTRIBUTES, FaceRegion

MOUTH_REGIONS = frozenset({FaceRegion.MOUTH, FaceRegion.LIP})
"""Where a lip-sync fake puts its evidence."""


@dataclass(frozen=True, slots=True)
class RegionScores:
    """Precision and recall of the regions an explanation names against the labelled ones.

    Attributes:
        per_region: ``{region: (precision, recall, labelled count)}``; NaN where undefined.
        micro_precision: Over every (item, region) pair.
        micro_recall: Over every (item, region) pair.
        n_items: Items scored.
    """

    per_region: dict[FaceRegion, tuple[float, float, int]]
    micro_precision: float
    micro_recall: float
    n_items: int


def region_scores(named: Sequence[Iterable[FaceRegion]], labelled: Sequence[Iterable[FaceRegion]]) -> RegionScores:
    """Per-region and micro precision/recall of `named` region sets against `labelled` ones (same items)."""
    if len(named) != len(labelled):
        raise ValueError(f"{len(named)} named region sets for {len(labelled)} labelled ones")
    hits = dict.fromkeys(FaceRegion, 0)
    said = dict.fromkeys(FaceRegion, 0)
    truth = dict.fromkeys(FaceRegion, 0)
    for predicted, actual in zip(named, labelled, strict=True):
        predicted_set, actual_set = set(predicted), set(actual)
        for region in predicted_set:
            said[region] += 1
        for region in actual_set:
            truth[region] += 1
        for region in predicted_set & actual_set:
            hits[region] += 1
    per_region = {
        region: (_ratio(hits[region], said[region]), _ratio(hits[region], truth[region]), truth[region])
        for region in FaceRegion
    }
    return RegionScores(
        per_region,
        _ratio(sum(hits.values()), sum(said.values())),
        _ratio(sum(hits.values()), sum(truth.values())),
        len(named),
    )


def video_attributes(
    probabilities: npt.NDArray[np.floating], sources: Sequence[str]
) -> dict[str, npt.NDArray[np.float64]]:
    """``{source: mean attribute probabilities over its rows}``: a clip's verdict pools its frames."""
    rows: dict[str, list[int]] = {}
    for row, source in enumerate(sources):
        rows.setdefault(source, []).append(row)
    return {source: np.asarray(probabilities)[index].mean(axis=0) for source, index in rows.items()}


@dataclass(frozen=True, slots=True)
class AttributeReport:
    """Attribute verdicts against expected attributes.

    Attributes:
        confusion: ``(K, K)`` counts in `ATTRIBUTES` order, row = expected, column = said.
        accuracy: Share of items whose verdict is the expected attribute (NaN for none).
        macro_f1: Mean F1 over the attributes that occur.
        n: Items.
    """

    confusion: npt.NDArray[np.int64]
    accuracy: float
    macro_f1: float
    n: int

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, the confusion with named rows and columns."""
        names = [a.value for a in ATTRIBUTES]
        table = {names[i]: {names[j]: int(self.confusion[i, j]) for j in range(len(names))} for i in range(len(names))}
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1, "n": self.n, "confusion": table}


def attribute_report(expected: npt.NDArray[np.integer], probabilities: npt.NDArray[np.floating]) -> AttributeReport:
    """Compare the argmax of `(N, K)` `probabilities` with `expected` indices (rows with ``-1`` left out)."""
    labelled = np.asarray(expected) >= 0
    truth = np.asarray(expected)[labelled]
    said = np.asarray(probabilities)[labelled].argmax(axis=1) if labelled.any() else np.zeros(0, np.int64)
    k = len(ATTRIBUTES)
    return AttributeReport(
        metrics.confusion_matrix(truth, said, k),
        float(np.mean(truth == said)) if len(truth) else float("nan"),
        metrics.macro_f1(truth, said, k),
        len(truth),
    )


def region_means(
    mask: npt.NDArray[np.floating], regions: dict[FaceRegion, npt.NDArray[np.bool_]]
) -> tuple[float, float] | None:
    """Mean mask probability inside the mouth and lips, and over the rest of the face; None without both."""
    mouth = np.zeros(mask.shape, bool)
    face = np.zeros(mask.shape, bool)
    for region, inside in regions.items():
        if inside.shape != mask.shape:
            continue
        face |= inside
        if region in MOUTH_REGIONS:
            mouth |= inside
    rest = face & ~mouth
    if not mouth.any() or not rest.any():
        return None
    return float(mask[mouth].mean()), float(mask[rest].mean())


def mouth_variability(series: Sequence[tuple[float, float]]) -> float:
    """The temporal cue of one track: std over frames of the mouth's mean mask minus that of the rest of the face.

    A lip-sync fake re-renders the mouth frame by frame, so its mouth evidence should vary more than the rest of
    the face; NaN with fewer than two frames.
    """
    if len(series) < 2:
        return float("nan")
    values = np.asarray(series, dtype=np.float64)
    return float(values[:, 0].std() - values[:, 1].std())


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")
