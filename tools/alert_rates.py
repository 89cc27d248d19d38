"""Share of real and fake test frames at or above alert thresholds (the model card's operating point).

Reads the per-family test sets that `streamguard eval-families --out DIR` wrote (their reals are the same in
every family folder), scores every frame as the eval does, and prints the share at or above 0.5, 0.6 and 0.7.

Usage: .venv/bin/python tools/alert_rates.py CHECKPOINT EVAL_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from streamguard.datasets import scan_dataset
from streamguard.datasets.faces import iter_face_samples
from streamguard.evaluate.runner import EvalOptions, score_frames
from streamguard.model.detector import Detector
from streamguard.vision.detection import FaceDetector

THRESHOLDS = (0.5, 0.6, 0.7)


def rates(p_fake: np.ndarray) -> str:
    """``>=t: share`` for every threshold, and the mean."""
    shares = " ".join(f">={t}: {np.mean(p_fake >= t):.3f}" for t in THRESHOLDS)
    return f"{shares}  mean {p_fake.mean():.3f}"


def main() -> None:
    """Print one line for the reals and one per family's fakes."""
    detector = Detector.load(Path(sys.argv[1]), device="cpu")
    options = EvalOptions(frames_per_video=8)
    for index, family in enumerate(("self_blend", "face_swap", "region")):
        items = scan_dataset(Path(sys.argv[2]) / family)
        with FaceDetector(max_faces=options.max_faces) as faces:
            samples = iter_face_samples(items, faces, frames_per_video=8, size=256, max_faces=options.max_faces)
            frames = list(score_frames(detector, samples, options))
        p_fake = np.array([f.p_fake for f in frames])
        fake = np.array([f.item.is_fake for f in frames])
        if index == 0:
            print(f"real ({np.count_nonzero(~fake)} frames): {rates(p_fake[~fake])}")
        print(f"{family} ({np.count_nonzero(fake)} frames): {rates(p_fake[fake])}")


if __name__ == "__main__":
    main()
