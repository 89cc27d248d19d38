"""The shipped detectors: v2 (`models/streamguard-v2.pt`, the default) and v1 (`models/streamguard-yae-v1.pt`,
loadable by path). Each loads, and tells forged clips from their source.

The margins below are well inside what the shipped weights measure (see models/README.md and
models/streamguard-yae-v1.md), and far outside what an untrained or label-flipped model gives (mean difference
near 0 or negative, AUC near or below 0.5).
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamguard.config import DEFAULT_MODEL_PATH
from streamguard.datasets.toy import astronaut_rgb
from streamguard.demo.clip import ClipTruth, write_demo_clip
from streamguard.demo.live import REPO, SHIPPED_MODEL, V1_MODEL
from streamguard.evaluate.metrics import detection_metrics
from streamguard.forge.bank import build_face_bank
from streamguard.forge.dataset import ForgeDataset
from streamguard.forge.realism import RealismConfig
from streamguard.model.detector import Detector
from streamguard.vision.crop import square_crop_transform
from streamguard.vision.detection import FaceDetector

FRAMES = 12


# Per model: the margin its forged demo frames score above the real ones, and the frame AUC on the clip.
DEMO_CLIP_MARGINS = {"v2": (0.4, 0.95), "v1": (0.2, 0.9)}
SELF_BLEND_MARGINS = {"v2": (0.1, 0.7), "v1": (0.05, 0.7)}


@pytest.fixture(scope="module", params=["v2", "v1"])
def shipped(request: pytest.FixtureRequest) -> tuple[str, Detector]:
    name: str = request.param
    return name, Detector.load(SHIPPED_MODEL if name == "v2" else V1_MODEL, device="cpu")


def test_the_daemon_and_the_demo_default_to_v2() -> None:
    assert REPO / DEFAULT_MODEL_PATH == SHIPPED_MODEL and SHIPPED_MODEL.name == "streamguard-v2.pt"


def test_v2_is_the_documented_model() -> None:
    detector = Detector.load(SHIPPED_MODEL, device="cpu")
    assert detector.input_size == 160 and detector.has_masks
    assert detector.meta.variant == "effnet_lite0_linear"
    assert detector.meta.calibration.method == "platt"
    forge = detector.meta.training["forge"]
    assert "self_blend" in forge["methods"] and "face_swap" not in forge["methods"]  # face_swap: the unseen family
    assert forge["extra_real"] == ["../shared/data/deepfakes_dev/train/real"]
    assert detector.meta.training["monitor"]["seen_groups"] == ["ffpp_c40", "reenact_dpe"]


def test_v1_is_the_documented_model() -> None:
    detector = Detector.load(V1_MODEL, device="cpu")
    assert detector.input_size == 256 and detector.has_masks
    assert detector.meta.variant == "proposed_res"
    assert detector.meta.calibration.method == "platt"
    methods = detector.meta.training["forge"]["methods"]
    assert "self_blend" in methods and not any(m.startswith("region") for m in methods)  # region: the unseen family


def _clip_crops(clip: ClipTruth, size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face crops of every frame as the daemon makes them, whether each is forged, and its forged-region mask."""
    crops, forged, masks = [], [], []
    with av.open(str(clip.path)) as container, FaceDetector() as faces:
        for i, frame in enumerate(container.decode(video=0)):
            image: np.ndarray = frame.to_ndarray(format="rgb24")
            transform = square_crop_transform(faces.detect(image)[0], image.shape[1], image.shape[0], size=size)
            truth = np.zeros(image.shape[:2], np.uint8)
            box = clip.forged_boxes[i]
            if box is not None:
                truth[box[1] : box[3], box[0] : box[2]] = 1
            crops.append(transform.crop_region(image))
            masks.append(transform.crop_region(truth))
            forged.append(box is not None)
    return np.stack(crops), np.array(forged), np.stack(masks)


def test_shipped_checkpoint_flags_the_demo_clips_forged_part(shipped: tuple[str, Detector], tmp_path: Path) -> None:
    name, detector = shipped
    margin, min_auc = DEMO_CLIP_MARGINS[name]
    clip = write_demo_clip(tmp_path / "demo.mp4", seconds=4.0, fps=5, forged_span=(2.0, 4.0), forgery="self_blend")
    crops, forged, truth = _clip_crops(clip, detector.input_size)
    p_fake, masks = detector.predict(crops)
    assert p_fake[forged].mean() > p_fake[~forged].mean() + margin
    assert detection_metrics(forged, p_fake)["auc"] >= min_auc
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
    shipped: tuple[str, Detector], tmp_path: Path
) -> None:
    name, detector = shipped
    margin, min_auc = SELF_BLEND_MARGINS[name]
    names = []
    for k, frame in enumerate(_astronaut_clip(FRAMES)):
        names.append(f"astronaut_clip__{k:02d}.png")
        cv2.imwrite(str(tmp_path / names[-1]), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    bank = build_face_bank(tmp_path, names, tmp_path / "cache", groups=dict.fromkeys(names, "astronaut"))
    # A good camera feed: H.264 at a low CRF, no other degradation; every frame gets its own random self-blend.
    light = RealismConfig(p_flip=0.5, p_jitter=0.0, p_blur=0.0, p_rescale=0.0, p_noise=0.0, p_h264=1.0, crf=(20, 23))
    pairs = ForgeDataset(
        bank, length=2 * FRAMES, seed=0, methods=["self_blend"], realism=light, paired=True, size=detector.input_size
    )
    real, fake = zip(*(pairs.sample_pair(k) for k in range(FRAMES)), strict=True)
    p_real, _ = detector.predict(np.stack([s.crop for s in real]))
    p_fake, _ = detector.predict(np.stack([s.crop for s in fake]))
    assert p_fake.mean() > p_real.mean() + margin
    assert detection_metrics(np.r_[np.zeros(FRAMES), np.ones(FRAMES)], np.r_[p_real, p_fake])["auc"] >= min_auc
