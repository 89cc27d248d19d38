"""How a checkpoint scores the demo clip's self-blend, per seed, with the source resampled or sharpened.

Frames of a 4 s clip (5 fps, forged from 2 s) are cropped as the daemon crops them; prints the frame AUC of
forged against real frames and their mean calibrated P(fake). The demo itself uses seed 0, resampled.

Usage: .venv/bin/python tools/demo_forgery_probe.py CHECKPOINT [SEEDS]
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

import streamguard.demo.clip as demo_clip
from streamguard.evaluate.metrics import detection_metrics
from streamguard.model.detector import Detector
from streamguard.vision.crop import square_crop_transform
from streamguard.vision.detection import FaceDetector


def clip_scores(detector: Detector, clip: demo_clip.ClipTruth) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated P(fake) of every frame's face, and whether the frame is forged."""
    crops, forged = [], []
    with av.open(str(clip.path)) as container, FaceDetector() as faces:
        for i, frame in enumerate(container.decode(video=0)):
            image: np.ndarray = frame.to_ndarray(format="rgb24")
            box = faces.detect(image)[0]
            crops.append(square_crop_transform(box, image.shape[1], image.shape[0]).crop_region(image))
            forged.append(clip.forged_boxes[i] is not None)
    return detector.predict(np.stack(crops))[0], np.array(forged)


def main() -> None:
    """Print one line per (kind, seed)."""
    detector = Detector.load(Path(sys.argv[1]), device="cpu")
    seeds = range(int(sys.argv[2]) if len(sys.argv) > 2 else 4)
    folder = Path(tempfile.mkdtemp())
    original = demo_clip.demo_self_blend
    for kind, resample in (("resampled", True), ("sharpened", False)):
        demo_clip.demo_self_blend = functools.partial(original, resample=resample)
        for seed in seeds:
            clip = demo_clip.write_demo_clip(
                folder / "clip.mp4", seconds=4.0, fps=5, forged_span=(2.0, 4.0), forgery="self_blend", seed=seed
            )
            p_fake, forged = clip_scores(detector, clip)
            auc = detection_metrics(forged, p_fake)["auc"]
            print(f"{kind} seed {seed}: frame AUC {auc:.3f}, mean P(fake) real {p_fake[~forged].mean():.3f} "
                  f"forged {p_fake[forged].mean():.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
