"""The Y-shaped autoencoder, its Table-2 variants and our residual one: architecture, selection, filters, fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from streamguard.model import VARIANTS, YShapedAutoencoder, count_parameters, get_variant
from streamguard.model.complexity import count_macs
from streamguard.model.network import (
    FAKE,
    REAL,
    ResidualFilter,
    fake_logit,
    fuse_batchnorm,
    half_activations,
    select_half,
)
from tests.unit.reference_impl import numpy_binomial_residual

PAPER_VARIANTS = ("ft_res", "ft", "deeper_ft", "proposed_old", "no_recon", "proposed_new", "proposed_res")
EFFNET_VARIANTS = ("effnet_lite0_yae", "effnet_lite0_linear", "effnet_lite2_yae", "effnet_lite2_linear")
ALL_VARIANTS = PAPER_VARIANTS

# Recorded from the code: a silent change of the layer list changes these.
PARAMETER_COUNTS = {
    "proposed_new": 304_949,
    "proposed_res": 304_949,
    "proposed_old": 304_949,
    "ft_res": 197_379,
    "ft": 197_379,
    "deeper_ft": 296_019,
    "no_recon": 295_946,
}


def make_model(name: str, seed: int = 0) -> YShapedAutoencoder:
    torch.manual_seed(seed)
    return YShapedAutoencoder(get_variant(name))


def randomise_batchnorm(model: nn.Module, seed: int = 0) -> None:
    """Give every BN layer realistic but non-trivial running statistics and affine parameters.

    The running statistics are accumulated from random batches (so every layer's output stays O(1)), then
    perturbed; gamma and beta are drawn at random.
    """
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.copy_(torch.randn(m.num_features, generator=gen) * 0.2 + 1.0)
            m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        was_training = model.training
        model.train()
        for _ in range(2):
            model(torch.randn(4, 3, 32, 32, generator=gen))
        model.train(was_training)
        for m in bns:
            m.momentum = 0.1
            c = m.num_features
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.add_(torch.randn(c, generator=gen) * 0.1 * m.running_var.sqrt())
            m.running_var.mul_(torch.rand(c, generator=gen) * 1.5 + 0.5)


# --------------------------------------------------------------------------------------------- variants


def test_all_variants_exist() -> None:
    assert set(VARIANTS) == {*PAPER_VARIANTS, *EFFNET_VARIANTS}
    for name in VARIANTS:
        assert get_variant(name).name == name


def test_residual_variant_is_proposed_new_on_high_pass_input() -> None:
    torch.manual_seed(0)
    res = YShapedAutoencoder(get_variant("proposed_res")).eval()
    new = YShapedAutoencoder(get_variant("proposed_new")).eval()
    randomise_batchnorm(res)
    new.load_state_dict(res.state_dict())  # the same layers: only the input differs
    x = np.random.default_rng(1).normal(size=(2, 3, 32, 32)).astype(np.float32)
    residual = torch.from_numpy(numpy_binomial_residual(x.astype(np.float64)).astype(np.float32))
    with torch.no_grad():
        torch.testing.assert_close(res.encode(torch.from_numpy(x)), new.encode(residual), atol=1e-4, rtol=1e-4)


def test_unknown_variant_names_the_valid_ones() -> None:
    with pytest.raises(KeyError, match="proposed_new") as info:
        get_variant("proposed")
    assert "'proposed'" in str(info.value)


@pytest.mark.parametrize(
    ("name", "depth", "input_kind", "has_seg", "has_rec", "weight", "rec_loss"),
    [
        ("ft_res", "shallower", "residual", False, True, 0.1, "l1"),
        ("ft", "shallower", "image", False, True, 0.1, "l1"),
        ("deeper_ft", "deeper", "image", False, True, 0.1, "l1"),
        ("proposed_old", "deeper", "image", True, True, 0.1, "l1"),
        ("no_recon", "deeper", "image", True, False, 1.0, "l2"),
        ("proposed_new", "deeper", "image", True, True, 1.0, "l2"),
    ],
)
def test_variant_table(
    name: str, depth: str, input_kind: str, has_seg: bool, has_rec: bool, weight: float, rec_loss: str
) -> None:
    spec = get_variant(name)
    assert (spec.depth, spec.input_kind, spec.has_seg, spec.has_rec) == (depth, input_kind, has_seg, has_rec)
    assert spec.seg_weight == weight
    assert spec.rec_weight == weight
    assert spec.rec_loss == rec_loss


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_parameter_counts(name: str) -> None:
    model = make_model(name)
    assert count_parameters(model) == PARAMETER_COUNTS[name]


def test_count_parameters_skips_frozen_parameters() -> None:
    model = make_model("proposed_new")
    frozen = sum(p.numel() for p in model.encoder.parameters())
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    assert count_parameters(model) == PARAMETER_COUNTS["proposed_new"] - frozen


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_branches_follow_the_variant(name: str) -> None:
    spec = get_variant(name)
    model = make_model(name)
    assert (model.seg_head is not None) == spec.has_seg
    assert (model.rec_head is not None) == spec.has_rec
    assert (model.residual is not None) == (spec.input_kind == "residual")
    n_encoder_convs = sum(isinstance(m, nn.Conv2d) for m in model.encoder.modules())
    assert n_encoder_convs == (9 if spec.depth == "deeper" else 5)


# ------------------------------------------------------------------------------------------ forward pass


def test_shapes_and_ranges_at_256() -> None:
    model = make_model("proposed_new").eval()
    x = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        latent = model.encode(x)
        out = model(x)
    assert latent.shape == (2, 128, 16, 16)
    assert out.activations.shape == (2, 2)
    assert out.selected.shape == (2,)
    assert out.seg_logits is not None
    assert out.seg_logits.shape == (2, 2, 256, 256)
    assert out.reconstruction is not None
    assert out.reconstruction.shape == (2, 3, 256, 256)
    assert out.reconstruction.min() >= -1.0
    assert out.reconstruction.max() <= 1.0
    torch.testing.assert_close(out.activations, half_activations(latent))


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_shapes_per_variant_at_64(name: str) -> None:
    spec = get_variant(name)
    model = make_model(name)  # training mode: BN uses batch statistics
    x = torch.randn(2, 3, 64, 64)
    out = model(x, true_class=torch.tensor([0, 1]))
    assert model.encode(x).shape == (2, 128, 4, 4)
    assert out.activations.shape == (2, 2)
    assert (out.activations >= 0).all()
    if spec.has_seg:
        assert out.seg_logits is not None
        assert out.seg_logits.shape == (2, 2, 64, 64)
    else:
        assert out.seg_logits is None
    if spec.has_rec:
        assert out.reconstruction is not None
        assert out.reconstruction.shape == (2, 3, 64, 64)
        assert out.reconstruction.abs().max() <= 1.0
    else:
        assert out.reconstruction is None


def test_reconstruction_is_tanh_of_the_rec_head() -> None:
    model = make_model("proposed_new").eval()  # fresh BN statistics: the head's output is tiny
    with torch.no_grad():
        assert model.rec_head is not None
        last = model.rec_head[-1]
        assert isinstance(last, nn.ConvTranspose2d) and last.bias is not None
        last.bias.fill_(5.0)  # pushes outputs into tanh saturation
        out = model(torch.randn(1, 3, 32, 32))
    assert out.reconstruction is not None
    assert out.reconstruction.min() > 0.99  # tanh(≈5) ≈ 0.9999
    assert out.reconstruction.max() <= 1.0


def test_half_activations_by_hand() -> None:
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(3, 128, 2, 5)).astype(np.float32)
    expected = np.stack(
        [np.abs(latent[:, :64]).mean(axis=(1, 2, 3)), np.abs(latent[:, 64:]).mean(axis=(1, 2, 3))], axis=1
    )
    got = half_activations(torch.from_numpy(latent)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got.shape == (3, 2)


def test_half_activations_column_order_is_fake_then_real() -> None:
    latent = torch.zeros(1, 128, 4, 4)
    latent[:, :64] = -2.0  # only the fake half is active (negative values count by magnitude)
    act = half_activations(latent)
    assert FAKE == 0
    assert REAL == 1
    torch.testing.assert_close(act, torch.tensor([[2.0, 0.0]]))


def test_fake_logit_is_difference_and_sigmoid_is_softmax_of_fake() -> None:
    act = torch.tensor([[0.2, 0.7], [0.9, 0.1], [0.5, 0.5]])
    logit = fake_logit(act)
    torch.testing.assert_close(logit, torch.tensor([-0.5, 0.8, 0.0]))
    torch.testing.assert_close(torch.sigmoid(logit), torch.softmax(act, dim=1)[:, 0])


def test_select_half_zeros_exactly_the_other_half() -> None:
    torch.manual_seed(1)
    latent = torch.randn(4, 128, 3, 3)
    selected = torch.tensor([0, 1, 1, 0])
    gated = select_half(latent, selected)
    assert gated.shape == latent.shape
    for i, s in enumerate(selected.tolist()):
        kept = slice(0, 64) if s == FAKE else slice(64, 128)
        zeroed = slice(64, 128) if s == FAKE else slice(0, 64)
        torch.testing.assert_close(gated[i, kept], latent[i, kept], rtol=0, atol=0)
        assert (gated[i, zeroed] == 0).all()


def test_select_half_does_not_modify_its_input() -> None:
    latent = torch.ones(2, 128, 2, 2)
    select_half(latent, torch.tensor([0, 1]))
    assert (latent == 1).all()


def _hooked_latent(model: YShapedAutoencoder, latent: torch.Tensor) -> torch.utils.hooks.RemovableHandle:
    return model.encoder.register_forward_hook(lambda _m, _i, _o: latent)


def _decode(model: YShapedAutoencoder, latent: torch.Tensor, selected: torch.Tensor) -> tuple[torch.Tensor, ...]:
    assert model.seg_head is not None
    assert model.rec_head is not None
    features = model.shared_decoder(select_half(latent, selected))
    return model.seg_head(features), torch.tanh(model.rec_head(features))


def test_forward_decodes_the_true_class_when_given_else_the_predicted_one() -> None:
    model = make_model("proposed_new").eval()
    randomise_batchnorm(model)
    torch.manual_seed(3)
    latent = torch.randn(2, 128, 2, 2) * 0.1
    latent[0, :64] *= 20.0  # item 0: fake half more active → predicted fake
    latent[1, 64:] *= 20.0  # item 1: real half more active → predicted real
    x = torch.randn(2, 3, 32, 32)
    handle = _hooked_latent(model, latent)
    try:
        with torch.no_grad():
            predicted = model(x)
            forced = model(x, true_class=torch.tensor([1, 0]))
    finally:
        handle.remove()

    assert predicted.selected.tolist() == [0, 1]
    assert forced.selected.tolist() == [1, 0]
    assert forced.selected.dtype == torch.int64
    torch.testing.assert_close(predicted.activations, forced.activations)  # activations ignore the label
    with torch.no_grad():
        seg_p, rec_p = _decode(model, latent, torch.tensor([0, 1]))
        seg_f, rec_f = _decode(model, latent, torch.tensor([1, 0]))
    assert predicted.seg_logits is not None
    assert predicted.reconstruction is not None
    assert forced.seg_logits is not None
    assert forced.reconstruction is not None
    torch.testing.assert_close(predicted.seg_logits, seg_p)
    torch.testing.assert_close(predicted.reconstruction, rec_p)
    torch.testing.assert_close(forced.seg_logits, seg_f)
    torch.testing.assert_close(forced.reconstruction, rec_f)
    assert not torch.allclose(predicted.seg_logits, forced.seg_logits)


def test_decoding_ignores_the_unselected_half() -> None:
    model = make_model("proposed_new").eval()
    randomise_batchnorm(model)
    torch.manual_seed(4)
    latent_a = torch.randn(1, 128, 2, 2)
    latent_b = latent_a.clone()
    latent_b[:, 64:] = torch.randn(1, 64, 2, 2) * 5  # change only the real half
    x = torch.randn(1, 3, 32, 32)
    outs = []
    for latent in (latent_a, latent_b):
        handle = _hooked_latent(model, latent)
        with torch.no_grad():
            outs.append(model(x, true_class=torch.tensor([FAKE])))
        handle.remove()
    torch.testing.assert_close(outs[0].seg_logits, outs[1].seg_logits)
    torch.testing.assert_close(outs[0].reconstruction, outs[1].reconstruction)
    assert not torch.allclose(outs[0].activations, outs[1].activations)


# ------------------------------------------------------------------------------------------ residual input


def test_residual_filter_of_constant_image_is_zero() -> None:
    x = torch.full((2, 3, 9, 7), 0.37)
    x[1] = -1.5
    torch.testing.assert_close(ResidualFilter()(x), torch.zeros_like(x), rtol=0, atol=1e-6)


def test_residual_filter_single_bright_pixel_is_the_binomial_kernel() -> None:
    x = torch.zeros(1, 3, 7, 7)
    x[0, 1, 3, 3] = 1.0  # one pixel, in the green channel only
    r = ResidualFilter()(x)
    expected = -torch.outer(torch.tensor([1.0, 2.0, 1.0]), torch.tensor([1.0, 2.0, 1.0])) / 16.0
    expected[1, 1] += 1.0  # centre: 1 - 4/16 = 0.75
    torch.testing.assert_close(r[0, 1, 2:5, 2:5], expected)
    assert r[0, 1, 3, 3].item() == pytest.approx(0.75)
    assert r[0, 1, 2, 3].item() == pytest.approx(-2 / 16)
    assert r[0, 1, 2, 2].item() == pytest.approx(-1 / 16)
    outside = r[0, 1].clone()
    outside[2:5, 2:5] = 0
    assert (outside == 0).all()
    assert (r[0, 0] == 0).all()  # channels are filtered independently
    assert (r[0, 2] == 0).all()


def test_residual_filter_uses_replicate_padding_at_the_border() -> None:
    x = torch.zeros(1, 3, 5, 5)
    x[0, 0, 0, 0] = 1.0
    r = ResidualFilter()(x)
    # replicate padding copies the corner into three padded cells: blur = (1 + 2 + 2 + 4) / 16
    assert r[0, 0, 0, 0].item() == pytest.approx(1 - 9 / 16)
    assert r[0, 0, 0, 1].item() == pytest.approx(-(2 + 1) / 16)  # itself + the replicated cell above it


def test_residual_filter_matches_numpy_reference_on_random_image() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 11, 8)).astype(np.float32)
    got = ResidualFilter()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, numpy_binomial_residual(x.astype(np.float64)), atol=1e-5)


def test_ft_res_encodes_the_residual() -> None:
    model = make_model("ft_res").eval()
    randomise_batchnorm(model)
    x = torch.full((1, 3, 32, 32), 0.8)  # constant image: its residual is all zeros
    with torch.no_grad():
        torch.testing.assert_close(model.encode(x), model.encoder(torch.zeros_like(x)))
        y = torch.randn(1, 3, 32, 32)
        torch.testing.assert_close(model.encode(y), model.encoder(ResidualFilter()(y)))
        assert not torch.allclose(model.encode(y), model.encoder(y))


def test_image_variants_encode_the_image_directly() -> None:
    model = make_model("ft").eval()
    randomise_batchnorm(model)
    y = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.encode(y), model.encoder(y))


# ------------------------------------------------------------------------------------------ complexity


def _hand_encoder_macs(size: int) -> int:
    """Σ H_out·W_out·C_out·C_in·9 over the deeper encoder's layer list (from the module docstring)."""
    layers = [(3, 8, 1), (8, 8, 2), (8, 16, 1), (16, 16, 2), (16, 32, 1), (32, 32, 2), (32, 64, 1), (64, 64, 2),
              (64, 128, 1)]  # fmt: skip
    total = 0
    for cin, cout, stride in layers:
        size //= stride
        total += size * size * cout * cin * 9
    return total


def test_count_macs_matches_the_paper() -> None:
    model = make_model("proposed_new")
    total = count_macs(model, 256)
    encoder = count_macs(model.encoder, 256)
    assert 0.30e9 <= total <= 0.34e9
    assert encoder == pytest.approx(0.127e9, rel=0.01)
    assert encoder == _hand_encoder_macs(256)
    assert total == 320_864_256  # recorded from the code
    assert model.training  # count_macs restores the mode


def test_count_macs_scales_with_area_and_depth() -> None:
    deeper = make_model("proposed_new")
    assert count_macs(deeper, 64) * 16 == count_macs(deeper, 256)
    shallower = make_model("ft").eval()
    assert count_macs(shallower, 64) < count_macs(make_model("deeper_ft"), 64)
    assert not shallower.training
    no_recon = count_macs(make_model("no_recon"), 64)
    assert no_recon < count_macs(deeper, 64)


# ------------------------------------------------------------------------------------------ fusion


@pytest.mark.parametrize("name", ["proposed_new", "ft_res"])
def test_fuse_batchnorm_keeps_eval_outputs(name: str) -> None:
    model = make_model(name)
    randomise_batchnorm(model, seed=7)
    model.eval()
    fused = fuse_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    assert not fused.training
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        got = fused(x)
    # The randomised statistics must make the check meaningful: outputs are not tiny.
    assert ref.activations.abs().max() > 1e-2
    torch.testing.assert_close(got.activations, ref.activations, rtol=1e-4, atol=1e-4)
    assert torch.equal(got.selected, ref.selected)
    for a, b in ((got.seg_logits, ref.seg_logits), (got.reconstruction, ref.reconstruction)):
        if b is None:
            assert a is None
        else:
            assert a is not None
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_fuse_batchnorm_of_training_model_uses_running_statistics() -> None:
    model = make_model("proposed_new")
    randomise_batchnorm(model, seed=8)
    fused = fuse_batchnorm(model)  # model left in training mode
    assert model.training
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model.eval()(x)
        got = fused(x)
    torch.testing.assert_close(got.activations, ref.activations, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------ initialisation


def test_initialisation() -> None:
    model = make_model("proposed_new", seed=11)
    conv_weights = torch.cat(
        [m.weight.flatten() for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    )
    assert conv_weights.std().item() == pytest.approx(0.02, rel=0.03)
    assert abs(conv_weights.mean().item()) < 1e-3
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            assert m.bias is not None
            assert (m.bias == 0).all()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    gammas = torch.cat([m.weight.flatten() for m in bns])
    assert gammas.mean().item() == pytest.approx(0.5, abs=0.01)
    assert gammas.std().item() == pytest.approx(0.02, rel=0.2)
    assert all((m.bias == 0).all() for m in bns)


def test_reset_parameters_reinitialises() -> None:
    model = make_model("ft")
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(3.0)
    model.reset_parameters()
    block = model.encoder[0]
    assert isinstance(block, nn.Sequential)
    conv = block[0]
    bn = block[1]
    assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and conv.bias is not None
    assert conv.weight.abs().max() < 0.2
    assert (conv.bias == 0).all()
    assert bn.weight.mean().item() == pytest.approx(0.5, abs=0.05)
