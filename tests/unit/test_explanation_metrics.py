"""The measures of explanations: region precision/recall, attribute verdicts, the mouth cue."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamguard.evaluate.explanations import (
    attribute_report,
    mouth_variability,
    region_means,
    region_scores,
    video_attributes,
)
from streamguard.types import ATTRIBUTES, Attribute, FaceRegion

EYE, LIP, MOUTH, SKIN = FaceRegion.EYE, FaceRegion.LIP, FaceRegion.MOUTH, FaceRegion.SKIN


def test_region_scores_count_each_item_region_pair() -> None:
    named = [{MOUTH, LIP}, {EYE}, set()]
    labelled = [{MOUTH, LIP}, {MOUTH}, {SKIN}]
    scores = region_scores(named, labelled)
    assert scores.micro_precision == pytest.approx(2 / 3)  # mouth, lip right; eye wrong
    assert scores.micro_recall == pytest.approx(2 / 4)  # mouth twice, lip, skin labelled
    precision, recall, count = scores.per_region[MOUTH]
    assert (precision, recall, count) == (1.0, 0.5, 2)
    assert scores.per_region[EYE][0] == 0.0 and math.isnan(scores.per_region[EYE][1])
    assert scores.n_items == 3


def test_region_scores_reject_unequal_lists() -> None:
    with pytest.raises(ValueError, match="2 named region sets for 1"):
        region_scores([set(), set()], [set()])


def test_video_attributes_pool_a_clips_frames() -> None:
    p = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.0, 0.0, 1.0]])
    verdicts = video_attributes(p, ["a", "b", "b", "c"])
    assert verdicts["b"] == pytest.approx([0.15, 0.75, 0.1])
    assert int(verdicts["a"].argmax()) == 0 and int(verdicts["c"].argmax()) == 2


def test_attribute_report_leaves_out_unknown_and_tabulates() -> None:
    identity, expression = ATTRIBUTES.index(Attribute.IDENTITY), ATTRIBUTES.index(Attribute.EXPRESSION)
    expected = np.array([identity, identity, expression, -1])
    p = np.eye(3)[[identity, expression, expression, identity]]
    report = attribute_report(expected, p)
    assert report.n == 3 and report.accuracy == pytest.approx(2 / 3)
    assert report.confusion[identity, expression] == 1 and report.confusion[expression, expression] == 1
    table = report.as_dict()["confusion"]
    assert isinstance(table, dict) and table["identity"]["expression"] == 1


def test_region_means_split_mouth_from_rest_of_face() -> None:
    mask = np.zeros((10, 10), np.float32)
    mask[6:, :] = 1.0
    mouth = np.zeros((10, 10), bool)
    mouth[6:8, 3:7] = True
    skin = np.zeros((10, 10), bool)
    skin[:6, :] = True
    assert region_means(mask, {MOUTH: mouth, SKIN: skin}) == (1.0, 0.0)
    assert region_means(mask, {SKIN: skin}) is None  # no mouth found


def test_mouth_variability_is_positive_when_only_the_mouth_flickers() -> None:
    flicker = [(0.9, 0.2), (0.1, 0.2), (0.8, 0.2), (0.2, 0.2)]
    steady = [(0.5, 0.1), (0.5, 0.9), (0.5, 0.2), (0.5, 0.8)]
    assert mouth_variability(flicker) > 0 > mouth_variability(steady)
    assert math.isnan(mouth_variability([(0.5, 0.5)]))
