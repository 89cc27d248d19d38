"""Issue 16's figures for checkpoints: are the explanations right?

1. Forgeries of held-out people (the *test* side of the committed person split: never trained on, never used to
   choose), one set per family: attribute accuracy, macro-F1 and confusion against the forge's exact labels, and
   the precision/recall of the regions an alert would name (face mesh of the crop, regions covered >= 50 % by
   the predicted mask) against the forge's exact regions; the same with the label mask in place of the
   prediction ("oracle"), the ceiling of the region step itself.
2. A real-deepfake set (``deepfakes_dev/val``): per group, the share of fake clips whose verdict (attribute
   probabilities averaged over the clip's 16 cached crops) is the attribute its manifest's method implies, and
   the confusion table.
3. The temporal cue (mouth variability minus rest-of-face variability of the mask over a clip's frames): its
   video AUC per fake group against all reals, beside the detector's own video AUC.

    python -m tools.explain_eval runs/attr/with.pt runs/attr/without.pt --out docs/bench/explanations.json
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from streamguard.evaluate import metrics
from streamguard.evaluate.explanations import (
    attribute_report,
    mouth_variability,
    region_means,
    region_scores,
    video_attributes,
)
from streamguard.explain.regions import RegionLocator, named_regions, region_coverage
from streamguard.forge.bank import build_face_bank
from streamguard.forge.dataset import CropSample, ForgeDataset
from streamguard.forge.realism import RealismConfig
from streamguard.forge.sources import forge_sources
from streamguard.model.checkpoint import load_checkpoint
from streamguard.model.detector import iter_batches
from streamguard.model.factory import DetectorNetwork
from streamguard.model.network import classifier_logit
from streamguard.model.preprocess import crops_to_tensor
from streamguard.train.loop import network_input
from streamguard.train.monitor import video_level
from streamguard.train.pipeline import REAL_DEEPFAKE_FRAMES, labelled_crop_set
from streamguard.types import ATTRIBUTES, Attribute, FaceRegion

FAMILIES = ("self_blend", "region", "face_swap")


@dataclass(frozen=True, slots=True)
class Outputs:
    """A network's outputs on crops.

    Attributes:
        logits: Uncalibrated fake logits.
        attribute_p: Attribute probabilities; None without the attribute head.
        masks: P(manipulated) per pixel, at the crops' size.
    """

    logits: np.ndarray
    attribute_p: np.ndarray | None
    masks: np.ndarray


def run_model(model: DetectorNetwork, crops: np.ndarray) -> Outputs:
    """The network's outputs on `crops`."""
    model.eval()
    logits, attributes, masks = [], [], []
    with torch.inference_mode():
        for chunk in iter_batches(len(crops), 64):
            out = model(network_input(model, crops_to_tensor(crops[chunk])))
            logits.append(classifier_logit(out, model.spec.classifier).float().numpy())
            if out.attribute_logits is not None:
                attributes.append(torch.softmax(out.attribute_logits.float(), dim=1).numpy())
            if out.seg_logits is not None:
                masks.append(torch.softmax(out.seg_logits.float(), dim=1)[:, 1].numpy())
    size = crops.shape[1]
    resized = [cv2.resize(m, (size, size)) if m.shape != (size, size) else m for m in np.concatenate(masks)]
    if not resized:
        raise ValueError(f"{model.spec.name}: the network has no mask decoder")
    return Outputs(np.concatenate(logits), np.concatenate(attributes) if attributes else None, np.stack(resized))


def forged_test_samples(real_dir: Path, cache: Path, family: str, n: int, size: int, seed: int) -> list[CropSample]:
    """`n` fakes of `family` forged from the test people, cut like training crops at `size`."""
    files, groups = forge_sources(real_dir, "test")
    bank = build_face_bank(real_dir, files, cache, groups=groups)
    dataset = ForgeDataset(bank, length=n, seed=seed, families=[family], realism=RealismConfig(), size=size)
    return [dataset.sample(i, fake=True) for i in range(n)]


def named_by_mask(locator: RegionLocator, crops: np.ndarray, masks: np.ndarray) -> list[frozenset[FaceRegion] | None]:
    """The regions an alert would name for each crop (None where the face mesh finds no face)."""
    named: list[frozenset[FaceRegion] | None] = []
    for crop, mask in zip(crops, masks, strict=True):
        regions = locator.regions(crop)
        named.append(None if regions is None else named_regions(region_coverage(mask, regions)))
    return named


def forged_part(model: DetectorNetwork, args: argparse.Namespace, locator: RegionLocator) -> dict[str, Any]:
    """Attribute and region figures on forgeries of held-out people, per family and pooled."""
    result: dict[str, Any] = {}
    pooled_expected, pooled_p = [], []
    for family in args.families:
        samples = forged_test_samples(args.real_faces, args.cache, family, args.n, model.spec.input_size, args.seed)
        crops = np.stack([s.crop for s in samples])
        out = run_model(model, crops)
        expected = np.array([ATTRIBUTES.index(Attribute(s.context.attribute or "")) for s in samples])
        row: dict[str, Any] = {"n": len(samples)}
        if out.attribute_p is not None:
            row["attribute"] = attribute_report(expected, out.attribute_p).as_dict()
            pooled_expected.append(expected)
            pooled_p.append(out.attribute_p)
        labelled = [frozenset(FaceRegion(r) for r in s.context.regions) for s in samples]
        truth_masks = np.stack([s.mask for s in samples]).astype(np.float32)
        for name, masks in (("regions", out.masks), ("regions_oracle_mask", truth_masks)):
            named = named_by_mask(locator, crops, masks)
            found = [i for i, regions in enumerate(named) if regions is not None]
            scores = region_scores([named[i] or frozenset() for i in found], [labelled[i] for i in found])
            row[name] = {
                "micro_precision": scores.micro_precision, "micro_recall": scores.micro_recall,
                "per_region": {r.value: {"precision": p, "recall": q, "labelled": k}
                               for r, (p, q, k) in scores.per_region.items()},
                "no_landmarks": len(samples) - len(found),
            }  # fmt: skip
        result[family] = row
    if pooled_p:
        pooled = attribute_report(np.concatenate(pooled_expected), np.concatenate(pooled_p))
        result["all"] = {"attribute": pooled.as_dict()}
    return result


def dev_part(model: DetectorNetwork, args: argparse.Namespace, locator: RegionLocator) -> dict[str, Any]:
    """Clip verdicts per group of the real-deepfake set, and the temporal cue's video AUC beside the detector's."""
    crops = labelled_crop_set(args.dev, args.cache, REAL_DEEPFAKE_FRAMES, model.spec.input_size)
    out = run_model(model, crops.crops)
    sources, groups = crops.sources, np.array(crops.groups)
    group_of = dict(zip(sources, groups, strict=True))
    fake_of = dict(zip(sources, crops.is_fake.tolist(), strict=True))
    expected_of = dict(zip(sources, crops.attribute_labels.tolist(), strict=True))
    result: dict[str, Any] = {"groups": {}}
    verdicts = video_attributes(out.attribute_p, sources) if out.attribute_p is not None else {}
    cue = _cue_per_video(locator, crops.crops, out.masks, sources)
    real_videos = [s for s in cue if not fake_of[s]]
    for group in sorted(set(groups[crops.is_fake])):
        videos = [s for s in dict.fromkeys(sources) if fake_of[s] and group_of[s] == group]
        row: dict[str, Any] = {"fake_clips": len(videos)}
        known = [s for s in videos if expected_of[s] >= 0]
        if verdicts and known:
            report = attribute_report(np.array([expected_of[s] for s in known]), np.stack([verdicts[s] for s in known]))
            row["attribute"] = report.as_dict()
        rows = ~crops.is_fake | (groups == group)
        kept = [s for s, keep in zip(sources, rows, strict=True) if keep]
        video_labels, video_scores = video_level(crops.is_fake[rows], out.logits[rows], kept)
        row["detector_video_auc"] = _auc(video_labels, video_scores)
        cue_videos = [s for s in videos if s in cue]
        labels = np.array([1] * len(cue_videos) + [0] * len(real_videos))
        values = np.array([cue[s] for s in cue_videos] + [cue[s] for s in real_videos])
        row["mouth_cue_video_auc"] = _auc(labels, values)
        row["mouth_cue_mean"] = float(np.mean([cue[s] for s in cue_videos])) if cue_videos else math.nan
        result["groups"][group] = row
    result["real_mouth_cue_mean"] = float(np.mean([cue[s] for s in real_videos])) if real_videos else math.nan
    if verdicts:
        known = [s for s in verdicts if fake_of[s] and expected_of[s] >= 0]
        pooled = attribute_report(np.array([expected_of[s] for s in known]), np.stack([verdicts[s] for s in known]))
        result["all"] = pooled.as_dict()
    return result


def _cue_per_video(
    locator: RegionLocator, crops: np.ndarray, masks: np.ndarray, sources: Sequence[str]
) -> dict[str, float]:
    series: dict[str, list[tuple[float, float]]] = {}
    for crop, mask, source in zip(crops, masks, sources, strict=True):
        regions = locator.regions(crop)
        means = None if regions is None else region_means(mask, regions)
        if means is not None:
            series.setdefault(source, []).append(means)
    values = {source: mouth_variability(s) for source, s in series.items()}
    return {source: v for source, v in values.items() if not math.isnan(v)}


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return metrics.roc_auc(labels, scores) if len(set(np.asarray(labels).tolist())) == 2 else math.nan


def main() -> None:
    """Measure each checkpoint and write one JSON report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--real-faces", type=Path, default=Path("../shared/data/real_faces"))
    parser.add_argument("--dev", type=Path, default=Path("../shared/data/deepfakes_dev/val"))
    parser.add_argument("--cache", type=Path, default=Path("runs/face_cache"))
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--n", type=int, default=150, help="fakes forged per family")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)
    locator = RegionLocator()
    report: dict[str, Any] = {"forged_per_family": args.n, "seed": args.seed, "checkpoints": {}}
    for checkpoint in args.checkpoints:
        model, meta = load_checkpoint(checkpoint)
        entry = {
            "variant": meta.variant, "attribute_head": meta.attribute_head,
            "forged_test_people": forged_part(model, args, locator), "dev": dev_part(model, args, locator),
        }  # fmt: skip
        report["checkpoints"][str(checkpoint)] = entry
        print(json.dumps({str(checkpoint): entry}, indent=1, default=float)[:4000])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    locator.close()


if __name__ == "__main__":
    main()
