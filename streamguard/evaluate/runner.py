"""`streamguard eval`: score a labelled dataset with a checkpoint and report frame, video and mask metrics.

Protocol (DeepfakeBench-style): up to N evenly spaced frames per video; a frame with several faces scores as
its most fake face; a video scores as the mean of its frame scores; a frame without a detected face is
scored on a centre crop and counted in `n_no_face`; a file that fails to decode is counted and named.
Per group (first folder under `real/` and `fake/`), a fake group is paired with the reals of the same group
when `real/<group>` exists, else with all reals.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamguard.datasets.faces import FaceSample, iter_face_samples
from streamguard.datasets.layout import MediaItem, scan_dataset
from streamguard.errors import MediaDecodeError
from streamguard.evaluate import metrics
from streamguard.model.detector import Detector
from streamguard.vision.detection import FaceDetector


@dataclass
class FrameScore:
    """Score of one frame (or still image): the max P(fake) over its faces, plus its mask metrics."""

    item: MediaItem
    frame_index: int
    p_fake: float
    no_face: bool
    pixel_acc: list[float] = field(default_factory=list)
    iou: list[float] = field(default_factory=list)


@dataclass
class EvalOptions:
    """Knobs of an evaluation run.

    Attributes:
        frames_per_video: Evenly spaced frames scored per video.
        batch_size: Crops per model call.
        max_faces: Faces scored per frame.
        save_masks: Folder for predicted masks as PNG (None = don't write).
        split: FaceForensics++ official split to evaluate (`train`, `val`, `test`), when the layout has one.
        seen_groups: Fake groups whose generators the model was trained on; when given, the report adds
            ``unseen_generators``: the other fake groups pooled against every real.
    """

    frames_per_video: int = 32
    batch_size: int = 32
    max_faces: int = 4
    save_masks: Path | None = None
    split: str | None = None
    seen_groups: tuple[str, ...] = ()


def evaluate_dataset(detector: Detector, root: Path, options: EvalOptions | None = None) -> dict[str, Any]:
    """Evaluate `detector` on the dataset at `root` and return the report (see `build_report`)."""
    options = options or EvalOptions()
    items = scan_dataset(root, split=options.split)
    failed: list[dict[str, str]] = []

    def on_error(item: MediaItem, error: MediaDecodeError) -> None:
        failed.append({"path": item.rel_path, "error": str(error)})

    with FaceDetector(max_faces=options.max_faces) as face_detector:
        samples = iter_face_samples(
            items, face_detector, frames_per_video=options.frames_per_video,
            size=detector.input_size, max_faces=options.max_faces, on_error=on_error,
        )  # fmt: skip
        frames = list(score_frames(detector, samples, options))
    report = build_report(frames, failed, options.seen_groups)
    report["checkpoint"] = {"version": detector.version, "variant": detector.meta.variant}
    report["dataset"] = {"root": str(root), "n_items": len(items), "frames_per_video": options.frames_per_video}
    return report


def score_frames(detector: Detector, samples: Iterable[FaceSample], options: EvalOptions) -> Iterator[FrameScore]:
    """Run the detector over face samples in batches and fold them into per-frame scores, in order."""
    current: FrameScore | None = None
    for sample, p_fake, mask in _predict_batched(detector, samples, options.batch_size):
        key = (sample.item.path, sample.frame_index)
        if current is None or (current.item.path, current.frame_index) != key:
            if current is not None:
                yield current
            current = FrameScore(sample.item, sample.frame_index, p_fake, sample.no_face)
        current.p_fake = max(current.p_fake, p_fake)
        if detector.has_masks and sample.mask is not None:
            current.pixel_acc.append(metrics.pixel_accuracy(mask, sample.mask))
            if sample.item.is_fake:
                current.iou.append(metrics.mask_iou(mask, sample.mask))
        if options.save_masks is not None:
            _write_mask(options.save_masks, sample, mask)
    if current is not None:
        yield current


def _predict_batched(
    detector: Detector, samples: Iterable[FaceSample], batch_size: int
) -> Iterator[tuple[FaceSample, float, np.ndarray]]:
    batch: list[FaceSample] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == batch_size:
            yield from _predict(detector, batch)
            batch = []
    if batch:
        yield from _predict(detector, batch)


def _predict(detector: Detector, batch: list[FaceSample]) -> Iterator[tuple[FaceSample, float, np.ndarray]]:
    p_fake, masks = detector.predict(np.stack([s.crop for s in batch]))
    for sample, p, mask in zip(batch, p_fake, masks, strict=True):
        yield sample, float(p), mask


def _write_mask(folder: Path, sample: FaceSample, mask: np.ndarray) -> None:
    stem = Path(sample.item.rel_path).with_suffix("")
    path = folder / stem / f"frame{sample.frame_index:05d}_face{sample.face_index}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8))


def build_report(
    frames: list[FrameScore], failed: list[dict[str, str]], seen_groups: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Overall and per-group metrics from frame scores.

    Keys (overall and in each `groups[name]`): `frame_auc, video_auc, eer, ap, acc, ece, seg_pixel_acc,
    seg_iou, n_frames, n_videos, n_images, n_no_face`; overall also `n_failed` and `failed`. Undefined
    values (one class only, no videos, no masks) are None. With `seen_groups`, `unseen_generators` holds
    the same keys for every real and the fakes of the other groups, and names those groups.
    """
    report = _summary(frames)
    report["n_failed"] = len(failed)
    report["failed"] = failed
    report["groups"] = {name: _summary(group_frames) for name, group_frames in _group_frames(frames).items()}
    if seen_groups:
        unseen = [f for f in frames if not f.item.is_fake or f.item.group not in seen_groups]
        report["unseen_generators"] = {
            **_summary(unseen),
            "seen_groups": sorted(seen_groups),
            "groups": sorted({f.item.group for f in unseen if f.item.is_fake}),
        }
    return report


def _group_frames(frames: list[FrameScore]) -> dict[str, list[FrameScore]]:
    reals_by_group: dict[str, list[FrameScore]] = defaultdict(list)
    fakes_by_group: dict[str, list[FrameScore]] = defaultdict(list)
    for frame in frames:
        (fakes_by_group if frame.item.is_fake else reals_by_group)[frame.item.group].append(frame)
    all_reals = [f for f in frames if not f.item.is_fake]
    groups = {g: fakes + reals_by_group.get(g, all_reals) for g, fakes in sorted(fakes_by_group.items())}
    for g, reals in sorted(reals_by_group.items()):
        groups.setdefault(g, reals)
    return groups


def _summary(frames: list[FrameScore]) -> dict[str, Any]:
    labels = np.array([f.item.is_fake for f in frames], dtype=bool)
    scores = np.array([f.p_fake for f in frames], dtype=np.float64)
    video_labels, video_scores = _video_scores(frames)
    detection = metrics.detection_metrics(labels, scores)
    pixel_acc = [v for f in frames for v in f.pixel_acc]
    iou = [v for f in frames for v in f.iou]
    items = {f.item.path: f.item for f in frames}
    summary = {
        "frame_auc": detection["auc"],
        "video_auc": metrics.roc_auc(video_labels, video_scores) if len(video_labels) else math.nan,
        "eer": detection["eer"],
        "ap": detection["ap"],
        "acc": detection["acc"],
        "ece": detection["ece"],
        "seg_pixel_acc": float(np.mean(pixel_acc)) if pixel_acc else math.nan,
        "seg_iou": float(np.mean(iou)) if iou else math.nan,
        "n_frames": len(frames),
        "n_videos": sum(item.kind == "video" for item in items.values()),
        "n_images": sum(item.kind == "image" for item in items.values()),
        "n_no_face": sum(f.no_face for f in frames),
        "n_real_frames": int((~labels).sum()),
        "n_fake_frames": int(labels.sum()),
    }
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in summary.items()}


def _video_scores(frames: list[FrameScore]) -> tuple[np.ndarray, np.ndarray]:
    per_video: dict[Path, list[float]] = defaultdict(list)
    labels: dict[Path, bool] = {}
    for frame in frames:
        if frame.item.kind == "video":
            per_video[frame.item.path].append(frame.p_fake)
            labels[frame.item.path] = frame.item.is_fake
    paths = sorted(per_video)
    return (
        np.array([labels[p] for p in paths], dtype=bool),
        np.array([np.mean(per_video[p]) for p in paths], dtype=np.float64),
    )
