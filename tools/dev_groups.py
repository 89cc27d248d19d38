"""Per-group frame and video AUC of checkpoints on the cached monitor crops of a real-deepfake set.

The crops are the ones `streamguard train --monitor` scores every epoch (16 frames per video, cut once and
cached under --cache), so this reproduces a run's monitor figures group by group in seconds. Every fake group is
scored against all the set's reals; video AUC is left blank for groups of still images.

    python -m tools.dev_groups models/streamguard-v2.pt runs/v3b/epoch1.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from streamguard.evaluate import metrics
from streamguard.model.checkpoint import load_checkpoint
from streamguard.train.loop import validate
from streamguard.train.monitor import video_level
from streamguard.train.pipeline import REAL_DEEPFAKE_FRAMES, labelled_crop_set

SEEN_GROUPS = ("ffpp_c40", "reenact_dpe")


def group_rows(groups: list[str], is_fake: np.ndarray, seen: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Rows of each pool: all, the unseen-generator pool, and each fake group, every one with all the reals."""
    names = np.array(groups)
    real = ~is_fake
    pools = {"all": np.ones(len(groups), bool), "unseen": real | ~np.isin(names, seen)}
    for group in sorted(set(names[is_fake])):
        pools[group] = real | (names == group)
    return pools


def main() -> None:
    """Print the per-group table of each checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/deepfakes_dev/val"))
    parser.add_argument("--cache", type=Path, default=Path("runs/face_cache"))
    args = parser.parse_args()
    for checkpoint in args.checkpoints:
        model, meta = load_checkpoint(checkpoint)
        crops = labelled_crop_set(args.data, args.cache, REAL_DEEPFAKE_FRAMES, model.spec.input_size)
        _, logits = validate(model, crops, torch.device("cpu"))
        print(f"{checkpoint} ({meta.variant})")
        for name, rows in group_rows(crops.groups, crops.is_fake, SEEN_GROUPS).items():
            labels = crops.is_fake[rows]
            sources = [s for s, keep in zip(crops.sources, rows, strict=True) if keep]
            video_labels, video_scores = video_level(labels, logits[rows], sources)
            frame_auc = metrics.roc_auc(labels, logits[rows])
            video_auc = metrics.roc_auc(video_labels, video_scores) if len(set(video_labels)) == 2 else float("nan")
            print(f"  {name:24s} frame {frame_auc:.3f}  video {video_auc:.3f}  fake crops {int(labels.sum())}")


if __name__ == "__main__":
    main()
