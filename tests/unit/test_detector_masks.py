"""`Detector.infer(mask_min_p=...)`: masks decoded only where they can matter, identical where decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from streamguard.model import CheckpointMeta, Detector, YShapedAutoencoder, get_variant, save_checkpoint
from streamguard.model.calibration import Calibration
from streamguard.model.network import fuse_batchnorm


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    torch.manual_seed(3)
    path = Path(tmp_path_factory.mktemp("ckpt")) / "m.pt"
    # A fresh network's half activations are ~1e-10 apart; a steep calibration spreads its scores over (0, 1).
    steep = Calibration(scale=1e11, bias=0.0, method="test", n_samples=0)
    meta = CheckpointMeta(variant="proposed_new", calibration=steep)
    save_checkpoint(path, YShapedAutoencoder(get_variant("proposed_new")), meta)
    return Detector.load(path, device="cpu")


def crops(n: int, seed: int = 0) -> np.ndarray:
    """Noise over a different flat colour per crop, so a random network scores them apart."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(n, 1, 1, 3))
    noise = rng.integers(-40, 41, size=(n, 256, 256, 3))
    batch: np.ndarray = np.clip(base + noise, 0, 255).astype(np.uint8)
    return batch


def test_masks_match_the_full_forward_pass(detector: Detector) -> None:
    batch = crops(3)
    _, masks = detector.predict(batch)
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor(detector.meta.normalization["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(detector.meta.normalization["std"]).view(1, 3, 1, 1)
    with torch.inference_mode():
        out = fuse_batchnorm(detector.model).eval()((x - mean) / std)
    expected = torch.softmax(out.seg_logits, dim=1)[:, 1].numpy()
    np.testing.assert_allclose(masks, expected, atol=1e-4)


def test_mask_min_p_skips_only_faces_below_it(detector: Detector) -> None:
    batch = crops(6, seed=1)
    p_all, masks_all = detector.predict(batch)
    ordered = np.sort(p_all)
    assert ordered[2] < ordered[3], p_all
    threshold = float((ordered[2] + ordered[3]) / 2)
    p_some, masks_some = detector.predict(batch, mask_min_p=threshold)
    np.testing.assert_array_equal(p_some, p_all)
    decoded = p_all >= threshold
    assert decoded.any() and not decoded.all()
    np.testing.assert_allclose(masks_some[decoded], masks_all[decoded], atol=1e-5)
    assert not masks_some[~decoded].any()
    assert masks_all[~decoded].any()  # the skipped masks would not have been zero


def test_mask_min_p_above_one_decodes_nothing(detector: Detector) -> None:
    p_fake, masks = detector.predict(crops(2, seed=2), mask_min_p=1.01)
    assert p_fake.shape == (2,) and not masks.any()
