"""Self-describing checkpoints and the `Detector` inference API built on them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from streamguard.errors import CheckpointError, StreamguardError
from streamguard.model import (
    Calibration,
    CheckpointMeta,
    Detector,
    YShapedAutoencoder,
    get_variant,
    load_checkpoint,
    save_checkpoint,
)
from streamguard.model.checkpoint import FORMAT, FORMAT_VERSION, read_checkpoint
from streamguard.model.preprocess import IMAGENET_MEAN, IMAGENET_STD

SIZE = 64
CALIBRATION = Calibration(scale=12.0, bias=-0.25, method="platt", n_samples=321)


def trained_like_model(name: str, seed: int = 0) -> YShapedAutoencoder:
    """A model whose weights and BN statistics are all non-default, so round trips and scores mean something."""
    torch.manual_seed(seed)
    model = YShapedAutoencoder(get_variant(name))
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.mul_(2.0).add_(torch.randn_like(m.weight) * 0.1)
            m.bias.add_(torch.randn_like(m.bias) * 0.1)
            m.reset_running_stats()
            m.momentum = None
        model.train()
        model(torch.randn(4, 3, 32, 32))  # realistic running statistics
        for m in bns:
            m.momentum = 0.1
    return model.eval()


def write(path: Path, name: str = "proposed_new", seed: int = 0, **meta_kw: object) -> YShapedAutoencoder:
    model = trained_like_model(name, seed)
    meta_args: dict[str, object] = {
        "variant": name,
        "input_size": SIZE,
        "calibration": CALIBRATION,
        "metrics": {"val_auc": 0.875, "val_eer": 0.125},
        "training": {"epochs": 3, "data": {"real": 10, "fake": 12}},
    }
    meta_args.update(meta_kw)
    save_checkpoint(path, model, CheckpointMeta(**meta_args))  # type: ignore[arg-type]
    return model


def edit_payload(src: Path, dst: Path, **changes: object) -> None:
    payload = torch.load(src, map_location="cpu", weights_only=True)
    payload.update(changes)
    torch.save(payload, dst)


def random_crops(n: int, size: int = SIZE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------------ round trip


def test_save_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "model.pt"
    model = write(path)
    loaded, meta = load_checkpoint(path)
    assert isinstance(loaded, YShapedAutoencoder)
    assert not loaded.training
    assert loaded.spec == get_variant("proposed_new")
    original = model.state_dict()
    restored = loaded.state_dict()
    assert set(original) == set(restored)
    for key, value in original.items():
        assert torch.equal(restored[key], value), key
    assert meta.variant == "proposed_new"
    assert meta.input_size == SIZE
    assert meta.calibration == CALIBRATION
    assert meta.metrics == {"val_auc": 0.875, "val_eer": 0.125}
    assert meta.training == {"epochs": 3, "data": {"real": 10, "fake": 12}}
    assert meta.normalization == {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    assert meta.code_version != ""
    assert meta.created_at != ""
    # atomic write: nothing but the checkpoint is left in its folder
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]


def test_round_trip_preserves_outputs(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    model = write(path, "ft_res", seed=2)
    loaded, _ = load_checkpoint(path, expected_variant="ft_res")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert torch.equal(a.activations, b.activations)
    assert a.reconstruction is not None
    assert b.reconstruction is not None
    assert torch.equal(a.reconstruction, b.reconstruction)


def test_payload_is_plain_and_self_describing(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    write(path, code_version="9.9.9+gdeadbeef", created_at="2020-01-02T03:04:05+00:00")
    payload = torch.load(path, map_location="cpu", weights_only=True)  # plain types only
    assert payload["format"] == FORMAT
    assert payload["format_version"] == FORMAT_VERSION
    assert payload["variant"] == "proposed_new"
    assert payload["input_size"] == SIZE
    assert payload["calibration"] == CALIBRATION.to_dict()
    assert payload["code_version"] == "9.9.9+gdeadbeef"  # an explicit version is kept
    assert payload["created_at"] == "2020-01-02T03:04:05+00:00"
    assert all(t.device.type == "cpu" for t in payload["state_dict"].values())
    assert read_checkpoint(path)["variant"] == "proposed_new"


def test_save_overwrites_an_existing_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    write(path, "proposed_new")
    write(path, "ft")
    _, meta = load_checkpoint(path)
    assert meta.variant == "ft"


# ------------------------------------------------------------------------------------------ errors


def test_checkpoint_error_is_a_streamguard_error() -> None:
    assert issubclass(CheckpointError, StreamguardError)


def test_edited_variant_reports_unexpected_keys(tmp_path: Path) -> None:
    src, dst = tmp_path / "new.pt", tmp_path / "edited.pt"
    write(src, "proposed_new")
    edit_payload(src, dst, variant="no_recon")  # no_recon has no rec_head
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(dst)
    msg = str(info.value)
    assert str(dst) in msg
    assert "'no_recon'" in msg
    assert "unexpected: rec_head." in msg
    assert "missing" not in msg


def test_edited_variant_reports_missing_keys(tmp_path: Path) -> None:
    src, dst = tmp_path / "no_recon.pt", tmp_path / "edited.pt"
    write(src, "no_recon")
    edit_payload(src, dst, variant="proposed_new")
    with pytest.raises(CheckpointError, match=r"missing: rec_head\.") as info:
        load_checkpoint(dst)
    assert "'proposed_new' architecture" in str(info.value)
    assert " …" in str(info.value)  # more than five missing keys are elided


def test_edited_variant_of_another_depth_reports_mismatches(tmp_path: Path) -> None:
    src, dst = tmp_path / "new.pt", tmp_path / "edited.pt"
    write(src, "proposed_new")
    edit_payload(src, dst, variant="ft")
    with pytest.raises(CheckpointError, match="weights do not match the 'ft' architecture") as info:
        load_checkpoint(dst)
    msg = str(info.value)
    assert "missing: rec_head.2.bias, rec_head.2.weight;" in msg  # the shallower head is shorter
    assert "unexpected: encoder.5.0.bias" in msg  # so is the shallower encoder
    assert "wrong shape: encoder.1.0.weight (8, 8, 3, 3) != (16, 8, 3, 3)" in msg


def test_expected_variant_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    write(path, "proposed_new")
    with pytest.raises(CheckpointError, match="holds variant 'proposed_new', expected 'ft_res'"):
        load_checkpoint(path, expected_variant="ft_res")
    model, _ = load_checkpoint(path, expected_variant="proposed_new")
    assert model.spec.name == "proposed_new"


def test_random_bytes_are_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "junk.pt"
    path.write_bytes(os.urandom(2048))
    with pytest.raises(CheckpointError, match="not a readable checkpoint") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "content",
    # torch 2.13 raises EOFError, IndexError, EOFError and RuntimeError for these.
    [b"", b"\x80", b"\x80\x02", b"PK\x03\x04junk"],
)
def test_corrupt_files_are_checkpoint_errors_whatever_torch_raises(tmp_path: Path, content: bytes) -> None:
    """torch.load has no error type of its own for a corrupt file: why `read_checkpoint` catches broadly."""
    path = tmp_path / "corrupt.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable checkpoint") as info:
        read_checkpoint(path)
    assert info.value.__cause__ is not None


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.pt"
    with pytest.raises(CheckpointError, match="no such checkpoint") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        Detector.load(path, device="cpu")


def test_unknown_format_version(tmp_path: Path) -> None:
    src, dst = tmp_path / "m.pt", tmp_path / "future.pt"
    write(src)
    edit_payload(src, dst, format_version=FORMAT_VERSION + 1)
    with pytest.raises(CheckpointError, match=f"format version {FORMAT_VERSION + 1} is not supported"):
        load_checkpoint(dst)


def test_foreign_torch_file_is_not_a_streamguard_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pt"
    torch.save({"state_dict": trained_like_model("ft").state_dict()}, path)
    with pytest.raises(CheckpointError, match="not a streamguard checkpoint"):
        load_checkpoint(path)
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="not a streamguard checkpoint"):
        load_checkpoint(path)


def test_unknown_variant_name(tmp_path: Path) -> None:
    src, dst = tmp_path / "m.pt", tmp_path / "odd.pt"
    write(src)
    edit_payload(src, dst, variant="banana")
    with pytest.raises(CheckpointError, match="unknown variant 'banana'") as info:
        load_checkpoint(dst)
    assert "proposed_new" in str(info.value)


# ------------------------------------------------------------------------------------------ detector


def hand_scores(
    model: YShapedAutoencoder, crops: np.ndarray, cal: Calibration
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """P(fake), logits and masks of the eval-mode (unfused) network, computed step by step."""
    x = torch.from_numpy(crops.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        out = model.eval()((x - mean) / std)
    logit = (out.activations[:, 0] - out.activations[:, 1]).numpy().astype(np.float64)
    p_fake = 1.0 / (1.0 + np.exp(-(cal.scale * logit + cal.bias)))
    masks = None if out.seg_logits is None else torch.softmax(out.seg_logits, dim=1)[:, 1].numpy()
    return p_fake, logit, masks


def test_detector_predict_matches_the_network(tmp_path: Path) -> None:
    path = tmp_path / "det.pt"
    model = write(path, "proposed_new", seed=3)
    detector = Detector.load(path, device="cpu")
    assert detector.input_size == SIZE
    assert detector.has_masks
    assert detector.device.type == "cpu"
    crops = random_crops(5)
    p_fake, masks = detector.predict(crops)
    assert p_fake.shape == (5,)
    assert masks.shape == (5, SIZE, SIZE)
    assert p_fake.dtype == np.float32
    assert masks.dtype == np.float32
    assert ((p_fake >= 0) & (p_fake <= 1)).all()
    assert ((masks >= 0) & (masks <= 1)).all()

    expected_p, expected_logit, expected_masks = hand_scores(model, crops, CALIBRATION)
    assert np.ptp(expected_p) > 1e-3  # the scores differ between crops, so the comparison is meaningful
    np.testing.assert_allclose(p_fake, expected_p, atol=1e-5)
    assert expected_masks is not None
    np.testing.assert_allclose(masks, expected_masks, atol=1e-5)
    prediction = detector.infer(crops)
    np.testing.assert_allclose(prediction.logits, expected_logit, atol=1e-5)
    np.testing.assert_array_equal(prediction.p_fake, p_fake)


def test_detector_scores_do_not_depend_on_the_batch(tmp_path: Path) -> None:
    path = tmp_path / "det.pt"
    write(path, "proposed_new", seed=4)
    detector = Detector.load(path, device="cpu")
    crops = random_crops(3, seed=1)
    p_batch, m_batch = detector.predict(crops)
    for i in range(3):
        p_one, m_one = detector.predict(crops[i : i + 1])
        np.testing.assert_allclose(p_one, p_batch[i : i + 1], atol=1e-6)
        np.testing.assert_allclose(m_one, m_batch[i : i + 1], atol=1e-5)


def test_detector_without_mask_branch_returns_zero_masks(tmp_path: Path) -> None:
    path = tmp_path / "ft.pt"
    model = write(path, "ft", seed=5)
    detector = Detector.load(path, device="cpu")
    assert not detector.has_masks
    crops = random_crops(2, seed=2)
    p_fake, masks = detector.predict(crops)
    assert masks.shape == (2, SIZE, SIZE)
    assert (masks == 0).all()
    expected_p, _, _ = hand_scores(model, crops, CALIBRATION)
    np.testing.assert_allclose(p_fake, expected_p, atol=1e-5)


def test_detector_uses_the_stored_calibration(tmp_path: Path) -> None:
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    write(a, seed=6)
    write(b, seed=6, calibration=Calibration())
    crops = random_crops(2, seed=3)
    logits = Detector.load(b, device="cpu").infer(crops).logits
    p_identity, _ = Detector.load(b, device="cpu").predict(crops)
    p_platt, _ = Detector.load(a, device="cpu").predict(crops)
    np.testing.assert_allclose(p_identity, 1 / (1 + np.exp(-logits.astype(np.float64))), atol=1e-6)
    np.testing.assert_allclose(
        p_platt, 1 / (1 + np.exp(-(CALIBRATION.scale * logits.astype(np.float64) + CALIBRATION.bias))), atol=1e-5
    )


def test_detector_version_names_file_variant_and_digest(tmp_path: Path) -> None:
    path = tmp_path / "my_model.pt"
    write(path)
    detector = Detector.load(str(path), device="cpu")
    stem, variant, digest = detector.version.split(":")
    assert (stem, variant) == ("my_model", "proposed_new")
    assert len(digest) == 12
    int(digest, 16)


def test_predict_rejects_wrong_size_and_dtype(tmp_path: Path) -> None:
    path = tmp_path / "det.pt"
    write(path)
    detector = Detector.load(path, device="cpu")
    with pytest.raises(ValueError, match="expected 64x64 crops, got 32x32"):
        detector.predict(random_crops(1, size=32))
    with pytest.raises(ValueError, match="uint8"):
        detector.predict(random_crops(1).astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        detector.predict(np.zeros((1, SIZE, SIZE, 4), np.uint8))  # RGBA, not RGB


# ------------------------------------------------------------------------------------------ malformed input


def test_predict_rejects_a_2d_array_with_value_error(tmp_path: Path) -> None:
    path = tmp_path / "det.pt"
    write(path)
    detector = Detector.load(path, device="cpu")
    with pytest.raises(ValueError, match="crops"):
        detector.predict(np.zeros((SIZE, SIZE), np.uint8))  # one grayscale image, no batch axis


@pytest.mark.parametrize("key", ["input_size", "state_dict"])
def test_payload_missing_a_field_is_a_checkpoint_error(tmp_path: Path, key: str) -> None:
    src, dst = tmp_path / "m.pt", tmp_path / "truncated.pt"
    write(src)
    payload = torch.load(src, map_location="cpu", weights_only=True)
    del payload[key]
    torch.save(payload, dst)
    with pytest.raises(CheckpointError, match=key):
        load_checkpoint(dst)


def test_calibration_with_an_unknown_field_is_a_checkpoint_error(tmp_path: Path) -> None:
    src, dst = tmp_path / "m.pt", tmp_path / "odd.pt"
    write(src)
    payload = torch.load(src, map_location="cpu", weights_only=True)
    payload["calibration"]["extra"] = 1
    torch.save(payload, dst)
    with pytest.raises(CheckpointError, match="malformed"):
        load_checkpoint(dst)
