"""The shipped detector (`models/streamguard-yae-v1.pt`): it loads, and it tells forged clips from their source.

The margins below are well inside what the shipped weights measure (see models/README.md), and far outside
what an untrained or label-flipped model gives (mean difference near 0 or negative, AUC near or below 0.5).
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamguard.datasets.toy import astronaut_rgb
from streamguard.demo.clip import ClipTruth, write_demo_clip
from streamguard.demo.live import SHIPPED_MODEL
from streamguard.evaluate.metrics import detection_metrics
from streamguard.forge.bank import build_face_bank
from streamguard.forge.dataset import ForgeDataset
from streamguard.forge.realism import RealismConfig
from streamguard.model.detector import Detector
from streamguard.vision.crop import square_crop_transform
from streamguard.vision.detection import FaceDetector

FRAMES = 12


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.load(SHIPPED_MODEL, device="cpu")


def test_shipped_checkpoint_is_the_documented_model(detector: Detector) -> None:
    assert detector.input_size == 256 and detector.has_masks
    assert detector.meta.variant == "proposed_res"
    assert detector.meta.calibration.method == "platt"
    methods = detector.meta.training["forge"]["methods"]
    assert "self_blend" in methods and not any(m.startswith("region") for m in methods)  # region: the unseen family


def _clip_crops(clip: ClipTruth) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face crops of every frame as the daemon makes them, whether each is forged, and its forged-region mask."""
    crops, forged, masks = [], [], []
    with av.open(str(clip.path)) as container, FaceDetector() as faces:
        for i, frame in enumerate(container.decode(video=0)):
            image: np.ndarray = frame.to_ndarray(format="rgb24")
            transform = square_crop_transform(faces.detect(image)[0], image.shape[1], image.shape[0])
            truth = np.zeros(image.shape[:2], np.uint8)
            box = clip.forged_boxes[i]
            if box is not None:
                truth[box[1] : box[3], box[0] : box[2]] = 1
            crops.append(transform.crop_region(image))
            masks.append(transform.crop_region(truth))
            forged.append(box is not None)
    return np.stack(crops), np.array(forged), np.stack(masks)


def test_shipped_checkpoint_flags_the_demo_clips_forged_part(detector: Detector, tmp_path: Path) -> None:
    clip = write_demo_clip(tmp_path / "demo.mp4", seconds=4.0, fps=5, forged_span=(2.0, 4.0), forgery="self_blend")
    crops, forged, truth = _clip_crops(clip)
    p_fake, masks = detector.predict(crops)
    assert p_fake[forged].mean() > p_fake[~forged].mean() + 0.2
    assert detection_metrics(forged, p_fake)["auc"] >= 0.9
    # The predicted mask of a forged frame lies on the forged face, not on the background around it.
    inside = [m[t > 0].mean() for m, t in zip(masks[forged], truth[forged], strict=True)]
    outside = [m[t == 0].mean() for m, t in zip(masks[forged], truth[forged], strict=True)]
    assert np.mean(inside) > np.mean(outside)


def _astronaut_clip(n: int) -> list[np.ndarray]:
    """A short 'clip' of the astronaut photo: the face drifts and zooms a little from frame to frame."""
    image = astronaut_rgb()
    frames = []
    for k in range(n):
        matrix = cv2.getRotationMatrix2D((256, 256), 2.0 * np.sin(k / 3), 0.9 + 0.01 * k)
        matrix[:, 2] += (4 * k - 20, 3 * np.cos(k / 2))
        frames.append(cv2.warpAffine(image, matrix, (512, 512), borderMode=cv2.BORDER_REFLECT_101))
    return frames


def test_shipped_checkpoint_scores_self_blends_of_a_clip_above_their_sources(
    detector: Detector, tmp_path: Path
) -> None:
    names = []
    for k, frame in enumerate(_astronaut_clip(FRAMES)):
        names.append(f"astronaut_clip__{k:02d}.png")
        cv2.imwrite(str(tmp_path / names[-1]), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    bank = build_face_bank(tmp_path, names, tmp_path / "cache", groups=dict.fromkeys(names, "astronaut"))
    # A good camera feed: H.264 at a low CRF, no other degradation; every frame gets its own random self-blend.
    light = RealismConfig(p_flip=0.5, p_jitter=0.0, p_blur=0.0, p_rescale=0.0, p_noise=0.0, p_h264=1.0, crf=(20, 23))
    pairs = ForgeDataset(bank, length=2 * FRAMES, seed=0, methods=["self_blend"], realism=light, paired=True)
    real, fake = zip(*(pairs.sample_pair(k) for k in range(FRAMES)), strict=True)
    p_real, _ = detector.predict(np.stack([s.crop for s in real]))
    p_fake, _ = detector.predict(np.stack([s.crop for s in fake]))
    assert p_fake.mean() > p_real.mean() + 0.05
    assert detection_metrics(np.r_[np.zeros(FRAMES), np.ones(FRAMES)], np.r_[p_real, p_fake])["auc"] >= 0.7
