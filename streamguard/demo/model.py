"""A detector the demo trains in under a minute when no shipped model is present.

It learns the demo's kind of forgery (a blended, re-coloured face edit) from frames drawn like the demo
clip's — same face, but other edit colours, positions and backgrounds (other seeds) — so the demo clip
itself stays unseen. It is a demonstration model, not a general deepfake detector.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamguard.demo.clip import FACE_SIDE, demo_edit, face_and_mask
from streamguard.model.network import YShapedAutoencoder
from streamguard.model.variants import get_variant
from streamguard.train.data import CropDataset, CropSet
from streamguard.train.loop import FitResult, TrainConfig, fit
from streamguard.vision.crop import FaceBox, square_crop_transform
from streamguard.vision.detection import FaceDetector

DEMO_VARIANT = "proposed_new"


def demo_crop_set(n_pairs: int, seed: int, frame_size: tuple[int, int] = (640, 360)) -> CropSet:
    """`n_pairs` real and `n_pairs` forged face crops (with exact masks) at random positions and colours."""
    rng = np.random.default_rng(seed)
    face, ellipse = face_and_mask()
    width, height = frame_size
    crops, masks, fakes, sources = [], [], [], []
    with FaceDetector() as detector:
        for i in range(n_pairs):
            for is_fake in (False, True):
                frame = np.full((height, width, 3), rng.integers(30, 220, size=3), dtype=np.uint8)
                full_mask = np.zeros((height, width), dtype=np.uint8)
                x = int(rng.integers(0, width - FACE_SIDE))
                y = int(rng.integers(0, height - FACE_SIDE))
                gain = rng.uniform(0.85, 1.15)
                content = demo_edit(face, ellipse, rng) if is_fake else face
                frame[y : y + FACE_SIDE, x : x + FACE_SIDE] = np.clip(content * gain, 0, 255).astype(np.uint8)
                if is_fake:
                    full_mask[y : y + FACE_SIDE, x : x + FACE_SIDE] = ellipse
                found = detector.detect(frame)
                box = found[0] if found else FaceBox(x, y, x + FACE_SIDE, y + FACE_SIDE, 0.0)
                transform = square_crop_transform(box, width, height)
                crops.append(transform.crop_region(frame))
                masks.append(transform.crop_region(full_mask))
                fakes.append(is_fake)
                sources.append(f"demo_{seed}_{i}")
    return CropSet(
        crops=np.stack(crops),
        masks=(np.stack(masks) > 0).astype(np.uint8),
        has_mask=np.ones(len(crops), dtype=bool),
        is_fake=np.array(fakes),
        sources=sources,
        groups=["demo"] * len(crops),
    )


def train_demo_model(
    out: Path,
    *,
    epochs: int = 16,
    n_pairs: int = 64,
    lr: float = 3e-3,
    device: str = "cpu",
    seed: int = 0,
    variant: str = DEMO_VARIANT,
) -> FitResult:
    """Train `DEMO_VARIANT` on demo-like crops and write a calibrated checkpoint to `out`."""
    import torch

    train_set = demo_crop_set(n_pairs, seed=1000 + seed)
    val_set = demo_crop_set(max(4, n_pairs // 6), seed=2000 + seed)
    torch.manual_seed(seed)
    model = YShapedAutoencoder(get_variant(variant))
    config = TrainConfig(epochs=epochs, batch_size=16, lr=lr, device=device, seed=seed)
    meta = {"data": "streamguard demo crops (astronaut, blended face edits)", "train": train_set.summary()}
    return fit(model, CropDataset(train_set, augment=True, seed=seed), val_set, config, out, training_meta=meta)
