"""Training losses: activation loss, logit-level segmentation cross-entropy, [-1, 1] reconstruction targets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from streamguard.model import get_variant
from streamguard.model.losses import (
    activation_loss,
    reconstruction_loss,
    reconstruction_target,
    segmentation_loss,
    total_loss,
)
from streamguard.model.network import YNetOutput
from tests.unit.reference_impl import numpy_binomial_residual

DOUBLE_SOFTMAX_FLOOR = math.log1p(math.exp(-1.0))  # ≈ 0.3133: CE of a one-hot *probability* vector


def hand_cross_entropy(logits: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per-pixel ``-log softmax(logits)[true class]`` with the mask binarised at 0.5: `(N, H, W)`."""
    z = logits - logits.max(axis=1, keepdims=True)
    log_softmax = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    target = (masks >= 0.5).astype(int)
    return -np.take_along_axis(log_softmax, target[:, None], axis=1)[:, 0]


# ------------------------------------------------------------------------------------------ activation


def test_activation_loss_by_hand() -> None:
    activations = torch.tensor([[0.2, 0.7], [0.9, 0.1]])  # columns: fake half, real half
    is_real = torch.tensor([1, 0])
    # real item: |0.7 - 1| + |0.2 - 0| = 0.5; fake item: |0.1 - 0| + |0.9 - 1| = 0.2
    assert activation_loss(activations, is_real).item() == pytest.approx(0.35)


def test_activation_loss_is_zero_at_the_target_and_accepts_bool_labels() -> None:
    perfect = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert activation_loss(perfect, torch.tensor([True, False, True])).item() == 0.0
    # swapping the labels gives the maximal loss 2 per item
    assert activation_loss(perfect, torch.tensor([False, True, False])).item() == pytest.approx(2.0)


def test_activation_loss_gradient_pushes_the_right_half() -> None:
    activations = torch.tensor([[0.5, 0.5]], requires_grad=True)
    activation_loss(activations, torch.tensor([1])).backward()  # type: ignore[no-untyped-call]
    assert activations.grad is not None
    # real sample: the fake half should shrink (positive grad), the real half grow (negative grad)
    assert activations.grad[0, 0] > 0
    assert activations.grad[0, 1] < 0


# ------------------------------------------------------------------------------------------ segmentation


def test_segmentation_loss_is_cross_entropy_on_logits() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(3, 2, 5, 4))
    masks = rng.uniform(size=(3, 5, 4))  # soft masks: binarised at 0.5
    got = segmentation_loss(torch.from_numpy(logits), torch.from_numpy(masks)).item()
    assert got == pytest.approx(hand_cross_entropy(logits, masks).mean(), rel=1e-9)
    probs = torch.softmax(torch.from_numpy(logits), dim=1)
    double = F.cross_entropy(probs, torch.from_numpy((masks >= 0.5).astype(np.int64))).item()
    assert got != pytest.approx(double, rel=1e-3)


def test_segmentation_mask_threshold_is_inclusive_at_half() -> None:
    logits = torch.zeros(1, 2, 1, 2)
    logits[0, 1] = 10.0  # confident "manipulated" everywhere
    at_half = segmentation_loss(logits, torch.full((1, 1, 2), 0.5))
    below = segmentation_loss(logits, torch.full((1, 1, 2), 0.49))
    assert at_half.item() < 1e-3
    assert below.item() == pytest.approx(10.0, abs=1e-3)


def test_confident_correct_logits_reach_zero_loss_unlike_double_softmax() -> None:
    masks = torch.zeros(2, 8, 8)
    masks[0, 2:6, 2:6] = 1.0
    logits = torch.stack([(1 - masks) * 30.0, masks * 30.0], dim=1)  # correct class at +30
    loss = segmentation_loss(logits, masks).item()
    assert loss < 1e-6
    double = F.cross_entropy(torch.softmax(logits, dim=1), masks.long()).item()
    assert double == pytest.approx(DOUBLE_SOFTMAX_FLOOR, abs=1e-6)
    assert loss < DOUBLE_SOFTMAX_FLOOR - 0.3


def test_has_mask_excludes_items() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 2, 4, 4)
    masks = (torch.rand(3, 4, 4) > 0.5).float()
    has_mask = torch.tensor([True, False, True])
    got = segmentation_loss(logits, masks, has_mask)
    per_item = hand_cross_entropy(logits.numpy().astype(np.float64), masks.numpy()).reshape(3, -1).mean(1)
    assert got.item() == pytest.approx((per_item[0] + per_item[2]) / 2, rel=1e-6)
    # the excluded item's logits and mask do not matter at all
    logits2, masks2 = logits.clone(), masks.clone()
    logits2[1] = torch.randn(2, 4, 4) * 10
    masks2[1] = 1 - masks2[1]
    assert segmentation_loss(logits2, masks2, has_mask).item() == pytest.approx(got.item(), rel=1e-6)
    # all present: same as no has_mask (equal-size items)
    everything = segmentation_loss(logits, masks, torch.ones(3, dtype=torch.bool))
    assert everything.item() == pytest.approx(segmentation_loss(logits, masks).item(), rel=1e-6)


def test_has_mask_all_false_gives_zero_and_no_nan() -> None:
    logits = torch.randn(2, 2, 3, 3, requires_grad=True)
    loss = segmentation_loss(logits, torch.ones(2, 3, 3), torch.zeros(2, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()  # type: ignore[no-untyped-call]
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad == 0).all()


# ------------------------------------------------------------------------------------------ reconstruction


@pytest.mark.parametrize("name", ["proposed_new", "proposed_old", "ft", "deeper_ft"])
def test_reconstruction_target_of_image_variants_is_scaled_to_tanh_range(name: str) -> None:
    images = torch.rand(2, 3, 6, 6)
    images[0, 0, 0, 0] = 0.0
    images[0, 0, 0, 1] = 1.0
    images[0, 0, 0, 2] = 0.5
    target = reconstruction_target(images, get_variant(name))
    assert target.shape == images.shape
    assert target[0, 0, 0, 0].item() == -1.0
    assert target[0, 0, 0, 1].item() == 1.0
    assert target[0, 0, 0, 2].item() == 0.0
    assert target.min() >= -1.0
    assert target.max() <= 1.0
    torch.testing.assert_close(target, images * 2 - 1)


def test_reconstruction_target_of_residual_variant_is_the_clamped_residual() -> None:
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(2, 3, 7, 7))
    images[1] = 0.0
    images[1, :, 3, 3] = 1.0  # single white pixel on black: residual 1.5 at the centre before clamping
    target = reconstruction_target(torch.from_numpy(images).float(), get_variant("ft_res")).numpy()
    raw = numpy_binomial_residual(images * 2 - 1)
    assert raw[1, 0, 3, 3] == pytest.approx(1.5)
    assert raw.max() > 1.0  # the example exercises the clamp
    np.testing.assert_allclose(target, np.clip(raw, -1, 1), atol=1e-5)
    assert target[1, 0, 3, 3] == pytest.approx(1.0)
    assert target[1, 0, 2, 3] == pytest.approx(-2 * 2 / 16)  # -1 - ((-1)·14/16 + 1·2/16)
    assert target.min() >= -1.0
    assert target.max() <= 1.0


def test_reconstruction_target_of_constant_image_for_residual_variant_is_zero() -> None:
    images = torch.full((1, 3, 5, 5), 0.3)
    target = reconstruction_target(images, get_variant("ft_res"))
    torch.testing.assert_close(target, torch.zeros_like(images), rtol=0, atol=1e-6)


def test_reconstruction_loss_l1_and_l2() -> None:
    rec = torch.tensor([0.0, 0.0, 1.0, -1.0])
    target = torch.tensor([0.5, -0.5, 0.0, -1.0])
    assert reconstruction_loss(rec, target, "l1").item() == pytest.approx((0.5 + 0.5 + 1.0 + 0.0) / 4)
    assert reconstruction_loss(rec, target, "l2").item() == pytest.approx((0.25 + 0.25 + 1.0 + 0.0) / 4)


# ------------------------------------------------------------------------------------------ total loss


def _batch(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    masks = torch.zeros(2, 8, 8)
    masks[0, 1:5, 2:6] = 1.0
    return {
        "activations": torch.rand(2, 2, generator=gen),
        "seg_logits": torch.randn(2, 2, 8, 8, generator=gen),
        "reconstruction": torch.tanh(torch.randn(2, 3, 8, 8, generator=gen)),
        "images01": torch.rand(2, 3, 8, 8, generator=gen),
        "masks": masks,
        "is_real": torch.tensor([0, 1]),
    }


def _output(b: dict[str, torch.Tensor], seg: bool, rec: bool) -> YNetOutput:
    return YNetOutput(
        activations=b["activations"],
        selected=b["is_real"],
        seg_logits=b["seg_logits"] if seg else None,
        reconstruction=b["reconstruction"] if rec else None,
    )


def _hand_parts(b: dict[str, torch.Tensor], kind: str, residual: bool = False) -> tuple[float, float, float]:
    a = b["activations"].numpy().astype(np.float64)
    y = b["is_real"].numpy().astype(np.float64)
    act = np.mean(np.abs(a[:, 1] - y) + np.abs(a[:, 0] - (1 - y)))
    seg = hand_cross_entropy(b["seg_logits"].numpy().astype(np.float64), b["masks"].numpy()).mean()
    target = b["images01"].numpy().astype(np.float64) * 2 - 1
    if residual:
        target = np.clip(numpy_binomial_residual(target), -1, 1)
    diff = b["reconstruction"].numpy().astype(np.float64) - target
    rec = np.mean(np.abs(diff)) if kind == "l1" else np.mean(diff**2)
    return float(act), float(seg), float(rec)


@pytest.mark.parametrize(
    ("name", "weight", "kind"),
    [("proposed_new", 1.0, "l2"), ("proposed_old", 0.1, "l1")],
)
def test_total_loss_weights_follow_the_variant(name: str, weight: float, kind: str) -> None:
    b = _batch()
    out = total_loss(_output(b, seg=True, rec=True), get_variant(name), b["is_real"], b["masks"], b["images01"])
    act, seg, rec = _hand_parts(b, kind)
    assert out.activation.item() == pytest.approx(act, rel=1e-5)
    assert out.segmentation.item() == pytest.approx(seg, rel=1e-5)
    assert out.reconstruction.item() == pytest.approx(rec, rel=1e-5)
    assert out.total.item() == pytest.approx(act + weight * seg + weight * rec, rel=1e-5)


def test_proposed_old_and_new_totals_differ_on_the_same_batch() -> None:
    b = _batch(3)
    new = total_loss(_output(b, True, True), get_variant("proposed_new"), b["is_real"], b["masks"], b["images01"])
    old = total_loss(_output(b, True, True), get_variant("proposed_old"), b["is_real"], b["masks"], b["images01"])
    assert new.activation.item() == pytest.approx(old.activation.item())
    assert new.segmentation.item() == pytest.approx(old.segmentation.item())
    assert new.reconstruction.item() != pytest.approx(old.reconstruction.item())  # l2 vs l1
    assert new.total.item() > old.total.item()


@pytest.mark.parametrize("name", ["ft", "deeper_ft"])
def test_total_loss_without_segmentation_branch(name: str) -> None:
    b = _batch(1)
    out = total_loss(_output(b, seg=False, rec=True), get_variant(name), b["is_real"], b["masks"], b["images01"])
    act, _, rec = _hand_parts(b, "l1")
    assert out.segmentation.item() == 0.0
    assert out.total.item() == pytest.approx(act + 0.1 * rec, rel=1e-5)


def test_total_loss_of_ft_res_uses_the_residual_target() -> None:
    b = _batch(2)
    out = total_loss(_output(b, seg=False, rec=True), get_variant("ft_res"), b["is_real"], b["masks"], b["images01"])
    act, _, rec = _hand_parts(b, "l1", residual=True)
    assert out.reconstruction.item() == pytest.approx(rec, rel=1e-5)
    assert out.total.item() == pytest.approx(act + 0.1 * rec, rel=1e-5)
    _, _, rec_image = _hand_parts(b, "l1", residual=False)
    assert rec != pytest.approx(rec_image, rel=1e-2)


def test_total_loss_without_reconstruction_branch() -> None:
    b = _batch(4)
    out = total_loss(_output(b, seg=True, rec=False), get_variant("no_recon"), b["is_real"], b["masks"], b["images01"])
    act, seg, _ = _hand_parts(b, "l2")
    assert out.reconstruction.item() == 0.0
    assert out.total.item() == pytest.approx(act + seg, rel=1e-5)


def test_total_loss_passes_has_mask_through() -> None:
    b = _batch(5)
    spec = get_variant("proposed_new")
    has_mask = torch.tensor([False, True])
    out = total_loss(_output(b, True, True), spec, b["is_real"], b["masks"], b["images01"], has_mask)
    per_item = hand_cross_entropy(b["seg_logits"].numpy().astype(np.float64), b["masks"].numpy())
    assert out.segmentation.item() == pytest.approx(per_item[1].mean(), rel=1e-5)


def test_total_loss_backpropagates_and_parts_are_detached() -> None:
    b = _batch(6)
    for key in ("activations", "seg_logits", "reconstruction"):
        b[key] = b[key].clone().requires_grad_(True)
    out = total_loss(_output(b, True, True), get_variant("proposed_new"), b["is_real"], b["masks"], b["images01"])
    assert out.total.requires_grad
    assert not out.activation.requires_grad
    assert not out.segmentation.requires_grad
    assert not out.reconstruction.requires_grad
    out.total.backward()  # type: ignore[no-untyped-call]
    for key in ("activations", "seg_logits", "reconstruction"):
        grad = b[key].grad
        assert grad is not None
        assert grad.abs().sum() > 0
