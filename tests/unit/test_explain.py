"""Explanations: the attribute head, region coverage, words, the wire fields and the failure path."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from streamguard.datasets.methods import expected_attribute
from streamguard.datasets.toy import astronaut_rgb
from streamguard.explain import Explainer, RegionLocator, describe, region_coverage
from streamguard.explain.regions import named_regions
from streamguard.model.calibration import Calibration
from streamguard.model.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from streamguard.model.detector import Detector
from streamguard.model.factory import build_network, normalization_of
from streamguard.model.losses import attribute_loss
from streamguard.model.variants import get_variant
from streamguard.sinks.encoding import AlertEntry, overlay_jpeg
from streamguard.sinks.metrics import Metrics
from streamguard.types import (
    ATTRIBUTES,
    AlertPhase,
    Attribute,
    ExplainFailure,
    Explanation,
    FaceCrop,
    FaceRegion,
    RegionCoverage,
    Score,
)
from streamguard.vision.crop import crop_face
from streamguard.vision.detection import FaceDetector
from tests.support.alert_events import make_event, make_score

SIZE = 160


@pytest.fixture(scope="module")
def astronaut_crop() -> np.ndarray:
    """The astronaut's face as the daemon crops it (1.3x square, 160 px)."""
    image = astronaut_rgb()
    with FaceDetector(max_faces=1) as detector:
        box = detector.detect(image)[0]
    crop, _ = crop_face(image, box, size=SIZE)
    return crop


def _score(pixels: np.ndarray, mask: np.ndarray, attribute_p: tuple[float, ...] | None = None) -> Score:
    base = make_score(side=pixels.shape[0])
    face = dataclasses.replace(base.face, pixels=pixels)
    return Score(face=face, value=0.9, mask=mask, model_version="m", attribute_p=attribute_p)


def test_region_coverage_of_hand_made_masks() -> None:
    regions = {region: np.zeros((10, 10), bool) for region in FaceRegion}
    regions[FaceRegion.MOUTH][6:8, 3:7] = True  # 8 px
    regions[FaceRegion.EYE][2:3, 2:8] = True  # 6 px
    mask = np.zeros((10, 10), np.float32)
    mask[6:8, 3:7] = 0.8  # all of the mouth
    mask[2, 2:4] = 0.6  # a third of the eyes
    mask[2, 4:8] = 0.4  # under the 0.5 level: not manipulated
    found = region_coverage(mask, regions, min_coverage=0.2)
    assert found == (RegionCoverage(FaceRegion.MOUTH, 1.0), RegionCoverage(FaceRegion.EYE, 0.3333))
    assert named_regions(found) == {FaceRegion.MOUTH}
    assert region_coverage(mask, regions, min_coverage=0.5) == (RegionCoverage(FaceRegion.MOUTH, 1.0),)


def test_a_mouth_mask_on_a_real_face_names_mouth_and_lips_not_eyes(astronaut_crop: np.ndarray) -> None:
    locator = RegionLocator()
    regions = locator.regions(astronaut_crop)
    assert regions is not None
    mouth_only = (regions[FaceRegion.MOUTH] | regions[FaceRegion.LIP]).astype(np.float32)
    explainer = Explainer(locator=locator)
    p = (0.1, 0.85, 0.05)
    explanation = explainer.explain(_score(astronaut_crop, mouth_only, attribute_p=p))
    named = named_regions(explanation.regions)
    assert named == {FaceRegion.MOUTH, FaceRegion.LIP}
    assert explanation.attribute is Attribute.EXPRESSION and explanation.failure is None
    assert explanation.summary == "mouth and lips re-animated"
    assert {o.region for o in explanation.outlines} == {FaceRegion.MOUTH, FaceRegion.LIP}
    # A whole-face mask on a swap reads as the whole face.
    whole = np.maximum.reduce([m.astype(np.float32) for m in regions.values()])
    swap = explainer.explain(_score(astronaut_crop, whole, attribute_p=(0.9, 0.05, 0.05)))
    assert swap.summary == "identity swap — whole face"
    explainer.close()


def test_no_face_in_the_crop_leaves_the_regions_empty_and_is_counted() -> None:
    metrics = Metrics()
    explainer = Explainer(metrics)
    grey = np.full((SIZE, SIZE, 3), 128, np.uint8)
    mask = np.ones((SIZE, SIZE), np.float32)
    explanation = explainer.explain(_score(grey, mask, attribute_p=(0.7, 0.2, 0.1)))
    assert explanation.regions == () and explanation.failure is ExplainFailure.NO_LANDMARKS
    assert explanation.attribute is Attribute.IDENTITY  # the attribute does not need the landmarks
    no_mask = explainer.explain(_score(grey, np.zeros((SIZE, SIZE), np.float32)))
    assert no_mask.failure is ExplainFailure.NO_MASK and no_mask.attribute is None
    counts = {s.labels["result"]: s.value for m in metrics.registry.collect() for s in m.samples
              if s.name == "streamguard_explanations_total"}  # fmt: skip
    assert counts["no_landmarks"] == 1 and counts["no_mask"] == 1 and counts["ok"] == 0
    explainer.close()


def test_explainer_explains_start_and_update_events_only() -> None:
    explainer = Explainer()
    start = make_event(AlertPhase.START)
    end = make_event(AlertPhase.END, with_peak=False)
    explained = asyncio.run(explainer.explain_events([start, end]))
    assert explained[0].explanation is not None and explained[1].explanation is None
    assert explained[1] is end
    explainer.close()


def test_alert_entry_carries_the_explanation_and_reads_old_entries() -> None:
    explanation = Explanation(
        attribute=Attribute.EXPRESSION, attribute_p=(0.1, 0.8, 0.1),
        regions=(RegionCoverage(FaceRegion.MOUTH, 0.9), RegionCoverage(FaceRegion.LIP, 0.6)),
        summary="mouth and lips re-animated",
    )  # fmt: skip
    event = dataclasses.replace(make_event(AlertPhase.START), explanation=explanation)
    entry = AlertEntry.from_event(event, "m", "o")
    fields = entry.to_fields()
    assert fields["attribute"] == "expression"
    assert fields["regions"] == '[{"region": "mouth", "coverage": 0.9}, {"region": "lip", "coverage": 0.6}]'
    assert '"expression": 0.8' in fields["attribute_p"]
    assert AlertEntry.from_fields(fields) == entry
    old = {k: v for k, v in fields.items() if k not in {"attribute", "attribute_p", "regions", "explanation"}}
    read = AlertEntry.from_fields(old)
    assert read.attribute is None and read.regions is None and read.explanation == ""
    plain = AlertEntry.from_event(make_event(AlertPhase.START), "m", "o").to_fields()
    assert plain["attribute"] == plain["attribute_p"] == plain["regions"] == plain["explanation"] == ""


def test_overlay_draws_the_outlines() -> None:
    crop = np.full((32, 32, 3), 100, np.uint8)
    mask = np.zeros((32, 32), np.float32)
    from streamguard.types import RegionOutline

    square = RegionOutline(FaceRegion.NOSE, np.array([[8, 8], [24, 8], [24, 24], [8, 24]], np.int32))
    assert overlay_jpeg(crop, mask, (square,)) != overlay_jpeg(crop, mask)


def test_words_for_each_attribute() -> None:
    eyes = (RegionCoverage(FaceRegion.EYE, 0.8),)
    assert describe(Explanation(Attribute.EXPRESSION, (0, 1, 0), eyes)) == "eyes re-animated"
    assert describe(Explanation(Attribute.PHYSICAL, (0, 0, 1), eyes)) == "appearance edited — eyes"
    assert describe(Explanation(None, None, eyes)) == "manipulated — eyes"
    assert describe(Explanation(Attribute.IDENTITY, (1, 0, 0), ())) == "identity swap"
    assert describe(None) == ""


def test_attribute_head_shapes_and_loss(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_network(get_variant("effnet_lite0_linear"), pretrained=False, attribute_head=True).eval()
    x = torch.randn(4, 3, SIZE, SIZE)
    with torch.no_grad():
        out = model(x)
    assert out.attribute_logits is not None and out.attribute_logits.shape == (4, len(ATTRIBUTES))
    logits = torch.randn(4, 3, requires_grad=True)
    labels = torch.tensor([-1, 0, 2, -1])
    expected = torch.nn.functional.cross_entropy(logits[[1, 2]], labels[[1, 2]])
    torch.testing.assert_close(attribute_loss(logits, labels), expected)
    none = attribute_loss(logits, torch.full((4,), -1))
    assert float(none) == 0.0 and none.requires_grad
    meta = CheckpointMeta(variant=model.spec.name, input_size=SIZE, normalization=normalization_of(model.spec),
                          calibration=Calibration(), attribute_head=True)  # fmt: skip
    save_checkpoint(tmp_path / "head.pt", model, meta)
    loaded, loaded_meta = load_checkpoint(tmp_path / "head.pt")
    assert loaded_meta.attribute_head and loaded.attribute_head is not None
    detector = Detector.load(tmp_path / "head.pt", device="cpu")
    crops = np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    prediction = detector.infer(crops)
    assert prediction.attribute_p is not None and prediction.attribute_p.shape == (3, 3)
    np.testing.assert_allclose(prediction.attribute_p.sum(axis=1), 1.0, atol=1e-5)


def test_a_model_without_the_head_gives_no_attribute(tmp_path: Path) -> None:
    from streamguard.inference.engine import DetectorEngine

    model = build_network(get_variant("effnet_lite0_linear"), pretrained=False).eval()
    meta = CheckpointMeta(variant=model.spec.name, input_size=SIZE, normalization=normalization_of(model.spec))
    save_checkpoint(tmp_path / "plain.pt", model, meta)
    engine = DetectorEngine(Detector.load(tmp_path / "plain.pt", device="cpu"))
    face = FaceCrop("cam", 1, 0, 0.0, 0.0, (0, 0, 10, 10), (0, 0, 10, 10), (10, 10), 0.9,
                    np.zeros((SIZE, SIZE, 3), np.uint8))  # fmt: skip
    (score,) = engine.process([face])
    assert score.attribute_p is None
    explanation = Explainer().explain(dataclasses.replace(score, mask=np.zeros((SIZE, SIZE), np.float32)))
    assert explanation.attribute is None and explanation.attribute_p is None


@pytest.mark.parametrize(
    ("method", "attribute"),
    [
        ("FF++ Deepfakes (c40), target 183, source 253", Attribute.IDENTITY),
        ("FF++ Face2Face (c40), target 183, source 253", Attribute.EXPRESSION),
        ("FF++ NeuralTextures frame", Attribute.EXPRESSION),
        ("lip-sync output (wav2lip)", Attribute.EXPRESSION),
        ("DPE expression reenactment output", Attribute.EXPRESSION),
        ("inswapper_128 + CodeFormer result", Attribute.IDENTITY),
        ("DeepFaceLab de-ageing: after", Attribute.PHYSICAL),
        ("FF++ manipulation (method not stated)", None),
    ],
)
def test_expected_attribute_of_dataset_methods(method: str, attribute: Attribute | None) -> None:
    assert expected_attribute(method) is attribute
