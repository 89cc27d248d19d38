"""Per-epoch scores on real deepfakes (e.g. ``deepfakes_dev/val``) beside the synthetic validation set.

A monitor holds the face crops of a labelled dataset, cut once (with the daemon's detector and crop) and
cached, and reports frame AUC and video AUC (mean frame score per video, stills left out, as
`streamguard eval` does) overall and on the *unseen-generator* pool: the fakes of every group not in
``seen_groups`` against all reals. Its logits also join the calibration fit, so that P(fake) is calibrated on
real manipulations and not only on synthetic ones.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.datasets.folder_layout import media_kind
from streamguard.evaluate import metrics
from streamguard.train.data import CropSet


@dataclass(frozen=True)
class Monitor:
    """A labelled crop set scored every epoch.

    Attributes:
        name: Prefix of its metrics (``dev`` gives ``dev_frame_auc``, ``dev_unseen_video_auc``, ...).
        crops: The crops (``groups`` and ``sources`` as `streamguard.train.pipeline.load_crop_set` sets them).
        seen_groups: Fake groups made by generators the training data shares; the rest are unseen.
    """

    name: str
    crops: CropSet
    seen_groups: frozenset[str] = field(default_factory=frozenset)

    def unseen_rows(self) -> np.ndarray:
        """Boolean rows of the unseen-generator pool: every real, and the fakes of unseen groups."""
        seen = np.array([g in self.seen_groups for g in self.crops.groups], dtype=bool)
        return np.asarray(~self.crops.is_fake | ~seen)

    def scores(self, logits: np.ndarray) -> dict[str, Any]:
        """Metrics of one epoch's uncalibrated logits (one per crop)."""
        result: dict[str, Any] = {}
        for pool, rows in (("", np.ones(len(self.crops), bool)), ("unseen_", self.unseen_rows())):
            labels, frame_logits = self.crops.is_fake[rows], logits[rows]
            sources = [s for s, keep in zip(self.crops.sources, rows, strict=True) if keep]
            video_labels, video_scores = video_level(labels, frame_logits, sources)
            result[f"{self.name}_{pool}frame_auc"] = metrics.roc_auc(labels, frame_logits)
            result[f"{self.name}_{pool}video_auc"] = metrics.roc_auc(video_labels, video_scores)
        result[f"{self.name}_n"] = len(self.crops)
        return result


def video_level(labels: np.ndarray, scores: np.ndarray, sources: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-video labels and mean scores, videos only (a still image is not a video), sorted by path."""
    per_video: dict[str, list[float]] = defaultdict(list)
    label_of: dict[str, bool] = {}
    for label, score, source in zip(labels, scores, sources, strict=True):
        if media_kind(Path(source)) == "video":
            per_video[source].append(float(score))
            label_of[source] = bool(label)
    names = sorted(per_video)
    return np.array([label_of[n] for n in names], bool), np.array([np.mean(per_video[n]) for n in names])
