"""The training loop learns: a tiny problem is overfitted, validation uses the predicted label, resume works."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from streamguard.datasets.methods import manifest_people
from streamguard.errors import CheckpointError
from streamguard.model import YNetOutput, YShapedAutoencoder, get_variant, load_checkpoint
from streamguard.model.preprocess import crops_to_tensor
from streamguard.train.data import CropDataset, CropSet, balanced_batches, paired_batches
from streamguard.train.loop import ExtraRows, JsonlLog, TrainConfig, fit, learning_rate, state_path, validate
from streamguard.train.monitor import Monitor
from streamguard.train.pipeline import ForgeOptions, load_initial_weights, train_model_forged


def synthetic_crops(n: int = 16, size: int = 64, seed: int = 0) -> CropSet:
    """Noise images; every other one has a pasted noise square of another distribution (the 'manipulation')."""
    rng = np.random.default_rng(seed)
    crops = rng.integers(60, 200, (n, size, size, 3), dtype=np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    is_fake = np.arange(n) % 2 == 1
    for i in np.flatnonzero(is_fake):
        y, x = rng.integers(4, size // 2, 2)
        side = size // 3
        crops[i, y : y + side, x : x + side] = rng.integers(0, 255, (side, side, 3))
        masks[i, y : y + side, x : x + side] = 1
    return CropSet(crops, masks, np.ones(n, bool), is_fake, [f"f{i}" for i in range(n)], ["g"] * n)


def test_tiny_model_overfits_a_handful_of_examples(tmp_path: Path) -> None:
    torch.manual_seed(0)
    crops = synthetic_crops()
    model = YShapedAutoencoder(get_variant("proposed_new"))
    config = TrainConfig(epochs=25, batch_size=8, device="cpu")
    result = fit(model, CropDataset(crops), crops, config, tmp_path / "c.pt", training_meta={})
    first, last = result.history[0]["train"], result.history[-1]["train"]
    assert last["loss"] < 0.6 * first["loss"]
    assert last["seg"] < first["seg"]
    assert last["acc"] >= 0.9 > first["acc"] or first["acc"] < last["acc"]
    assert result.best_metrics["val_auc"] >= 0.9
    assert result.best_metrics["val_seg_pixel_acc"] > 0.85


def test_validation_decodes_the_predicted_half_never_the_true_one(monkeypatch: pytest.MonkeyPatch) -> None:
    crops = synthetic_crops(8)
    model = YShapedAutoencoder(get_variant("proposed_new"))
    seen: list[object] = []
    original = model.forward

    def spy(x: torch.Tensor, true_class: torch.Tensor | None = None) -> YNetOutput:
        seen.append(true_class)
        return original(x, true_class)

    monkeypatch.setattr(model, "forward", spy)
    metrics, logits = validate(model, crops, torch.device("cpu"), batch_size=4)
    assert len(seen) == 2 and all(arg is None for arg in seen)
    assert logits.shape == (8,) and 0.0 <= metrics["seg_pixel_acc"] <= 1.0


def test_best_checkpoint_is_calibrated_and_self_describing(tmp_path: Path) -> None:
    torch.manual_seed(0)
    crops = synthetic_crops()
    out = tmp_path / "c.pt"
    fit(YShapedAutoencoder(get_variant("proposed_new")), CropDataset(crops), crops,
        TrainConfig(epochs=3, batch_size=8, device="cpu"), out, training_meta={"data": "synthetic"})  # fmt: skip
    _, meta = load_checkpoint(out)
    assert meta.variant == "proposed_new" and meta.input_size == 64
    assert meta.calibration.method == "platt" and meta.calibration.n_samples == len(crops)
    assert meta.training["data"] == "synthetic" and meta.training["recipe"]["batch_size"] == 8
    assert {"val_auc", "val_ece", "val_ece_uncalibrated", "epoch"} <= set(meta.metrics)


def test_monitors_are_scored_each_epoch_pick_the_epoch_and_join_the_calibration(tmp_path: Path) -> None:
    torch.manual_seed(0)
    crops, dev = synthetic_crops(), synthetic_crops(12, seed=5)
    dev.sources = [f"{'fake' if fake else 'real'}/{i // 2}.mp4" for i, fake in enumerate(dev.is_fake)]
    dev.groups = ["seen" if i % 4 == 1 else "new" for i in range(len(dev))]
    out = tmp_path / "c.pt"
    result = fit(
        YShapedAutoencoder(get_variant("proposed_new")), CropDataset(crops), crops,
        TrainConfig(epochs=3, batch_size=8, device="cpu"), out, training_meta={},
        monitors=(Monitor("dev", dev, frozenset({"seen"})),), select=("dev_unseen_frame_auc",),
    )  # fmt: skip
    per_epoch = [h["monitors"]["dev_unseen_frame_auc"] for h in result.history]
    assert result.best_epoch == max(range(3), key=lambda e: (per_epoch[e], e))  # the later epoch wins a tie
    _, meta = load_checkpoint(out)
    assert meta.calibration.n_samples == len(crops) + len(dev)
    assert meta.metrics["calibration_n"] == len(crops) + len(dev)
    assert {"dev_frame_auc", "dev_video_auc", "dev_unseen_video_auc", "val_auc"} <= set(meta.metrics)
    with pytest.raises(KeyError, match="no_such_metric"):
        fit(YShapedAutoencoder(get_variant("ft")), CropDataset(crops), crops,
            TrainConfig(epochs=1, batch_size=8, device="cpu"), tmp_path / "d.pt", training_meta={},
            select=("no_such_metric",))  # fmt: skip


def test_resume_continues_where_it_stopped(tmp_path: Path) -> None:
    crops = synthetic_crops(8)
    out, log = tmp_path / "c.pt", tmp_path / "log.jsonl"
    torch.manual_seed(0)
    fit(YShapedAutoencoder(get_variant("ft")), CropDataset(crops), crops,
        TrainConfig(epochs=1, batch_size=8, device="cpu"), out, training_meta={}, log=JsonlLog(log))  # fmt: skip
    assert state_path(out).exists()
    result = fit(YShapedAutoencoder(get_variant("ft")), CropDataset(crops), crops,
                 TrainConfig(epochs=3, batch_size=8, device="cpu"), out, training_meta={}, resume=True,
                 log=JsonlLog(log))  # fmt: skip
    assert [h["epoch"] for h in result.history] == [0, 1, 2]
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events.count("resume") == 1 and events.count("epoch") == 3


def test_cosine_schedule_decays_from_lr_to_zero_and_constant_stays() -> None:
    cosine = TrainConfig(epochs=4, lr=1e-3, lr_schedule="cosine")
    rates = [learning_rate(cosine, epoch, step, 10) for epoch in range(4) for step in range(10)]
    assert rates[0] == pytest.approx(1e-3)
    assert rates[20] == pytest.approx(0.5e-3)  # half way through
    assert all(a > b for a, b in itertools.pairwise(rates)) and 0 < rates[-1] < 1e-5
    constant = TrainConfig(epochs=4, lr=1e-3)
    assert {learning_rate(constant, e, s, 10) for e in range(4) for s in range(10)} == {1e-3}
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")


def test_a_resumed_cosine_run_goes_on_at_its_stopping_point_on_the_curve(tmp_path: Path) -> None:
    crops = synthetic_crops(8)
    out = tmp_path / "c.pt"
    config = TrainConfig(epochs=4, batch_size=4, device="cpu", lr_schedule="cosine")
    torch.manual_seed(0)
    straight = fit(YShapedAutoencoder(get_variant("ft")), CropDataset(crops), crops, config, out, training_meta={})
    rates = [h["train"]["lr"] for h in straight.history]
    assert rates == sorted(rates, reverse=True) and rates[-1] < 0.1 * config.lr
    state = torch.load(state_path(out), weights_only=True)  # as if it had stopped after its second epoch
    state["epoch"], state["history"] = 1, json.dumps(straight.history[:2])
    torch.save(state, state_path(out))
    resumed = fit(YShapedAutoencoder(get_variant("ft")), CropDataset(crops), crops, config, out, training_meta={},
                  resume=True)  # fmt: skip
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3]
    assert [h["train"]["lr"] for h in resumed.history[2:]] == pytest.approx(rates[2:])


def test_split_by_source_keeps_each_file_on_one_side() -> None:
    crops = synthetic_crops(40)
    crops.sources = [f"file{i // 4}" for i in range(40)]  # four crops per file
    train, val = crops.split_by_source(0.3, seed=3)
    assert len(train) + len(val) == 40 and len(val) > 0
    assert not set(train.sources) & set(val.sources)


def test_a_portable_crop_set_keeps_labels_and_masks_exactly_and_crops_nearly(tmp_path: Path) -> None:
    crops = synthetic_crops(12)
    ramp = np.linspace(40, 220, 64)
    smooth = np.stack(
        [ramp[None, :] + 0 * ramp[:, None], ramp[:, None] + 0 * ramp[None, :], 255 - ramp[None, :] + 0 * ramp[:, None]],
        axis=-1,
    )
    crops.crops = np.stack([np.roll(smooth, i, axis=1) for i in range(12)]).astype(np.uint8)  # photo-like, not noise
    crops.sources = [f"file{i // 3}" for i in range(12)]
    crops.groups = [f"group{i % 2}" for i in range(12)]
    path = tmp_path / "monitor.npz"
    crops.save_portable(path)
    loaded = CropSet.load_portable(path)
    assert loaded.sources == crops.sources and loaded.groups == crops.groups
    assert np.array_equal(loaded.masks, crops.masks) and np.array_equal(loaded.is_fake, crops.is_fake)
    assert np.array_equal(loaded.has_mask, crops.has_mask) and loaded.attributes is None
    assert loaded.crops.shape == crops.crops.shape
    assert np.abs(loaded.crops.astype(int) - crops.crops.astype(int)).mean() < 8
    assert path.stat().st_size < crops.crops.nbytes


class _CountingForgeries(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """Stands in for a `ForgeDataset`: deterministic items, counting how often one is forged."""

    def __init__(self) -> None:
        self.calls = 0

    def __len__(self) -> int:
        return 1000

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        self.calls += 1
        rng = np.random.default_rng(index)
        crop = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        mask = (rng.random((16, 16)) > 0.5).astype(np.float32) * (index % 2)
        return {
            "images01": torch.from_numpy(crop).permute(2, 0, 1).float() / 255,
            "masks": torch.from_numpy(mask),
            "is_fake": torch.tensor(float(index % 2)),
            "has_mask": torch.tensor(True),
            "attribute": torch.tensor(index % 3 if index % 2 else -1, dtype=torch.long),
        }


def test_forged_pool_is_exact_and_forged_only_once(tmp_path: Path) -> None:
    from streamguard.train.pipeline import forged_pool

    source = _CountingForgeries()
    summary: dict[str, object] = {"forge": {"seed": 0}}
    pool = forged_pool(source, 40, tmp_path, summary, workers=0)  # type: ignore[arg-type]
    assert source.calls == 40 and len(pool) == 40
    for i in (0, 7, 39):
        item = source[i]
        assert np.array_equal(pool.crops[i], (item["images01"] * 255).round().byte().permute(1, 2, 0).numpy())
        assert np.array_equal(pool.masks[i], item["masks"].numpy().astype(np.uint8))
        assert pool.is_fake[i] == bool(i % 2)
        assert pool.attribute_labels[i] == int(item["attribute"])
    again = _CountingForgeries()
    cached = forged_pool(again, 40, tmp_path, summary, workers=0)  # type: ignore[arg-type]
    assert again.calls == 0 and np.array_equal(cached.crops, pool.crops)
    other = forged_pool(again, 40, tmp_path, {"forge": {"seed": 1}}, workers=0)  # type: ignore[arg-type]
    assert again.calls == 40 and len(other) == 40  # another recipe is another pool


def test_paired_training_batches_hold_each_real_beside_its_fake() -> None:
    from streamguard.train.loop import training_loader

    n = 12
    crops = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None], 8, axis=1).repeat(8, 2).repeat(3, 3)
    pairs = CropSet(
        crops=crops, masks=np.zeros((n, 8, 8), np.uint8), has_mask=np.ones(n, bool),
        is_fake=np.arange(n) % 2 == 1, sources=[str(i) for i in range(n)], groups=["g"] * n,
    )  # fmt: skip
    config = TrainConfig(batch_size=4, seed=1)
    for paired in (True, False):
        batches = list(training_loader(CropDataset(pairs, paired=paired), config))
        ids = [(b["images01"][:, 0, 0, 0] * 255).round().long().tolist() for b in batches]
        kept = all(batch[i + 1] == batch[i] + 1 and batch[i] % 2 == 0 for batch in ids for i in range(0, 4, 2))
        assert sorted(i for batch in ids for i in batch) == list(range(n)) and kept == paired


def test_a_paired_pool_flips_both_sides_of_a_pair_alike() -> None:
    from streamguard.train.loop import training_loader

    n = 64
    rng = np.random.default_rng(0)
    sides = rng.integers(0, 255, (n // 2, 8, 8, 3), dtype=np.uint8)
    # Each real and its "fake" are the same image here: only a flip could tell them apart.
    pairs = CropSet(
        crops=np.repeat(sides, 2, axis=0),
        masks=np.zeros((n, 8, 8), np.uint8),
        has_mask=np.ones(n, bool),
        is_fake=np.arange(n) % 2 == 1,
        sources=[str(i) for i in range(n)],
        groups=["g"] * n,
    )
    loader = training_loader(CropDataset(pairs, augment=True, paired=True), TrainConfig(batch_size=8, seed=3))
    images = [batch["images01"] for batch in loader]
    flat = torch.cat(images)
    assert all(torch.equal(flat[k], flat[k + 1]) for k in range(0, n, 2))
    originals = {crop.tobytes() for crop in sides}
    as_stored = [(img.permute(1, 2, 0) * 255).round().byte().numpy().tobytes() in originals for img in flat[::2]]
    assert 0 < sum(as_stored) < n // 2  # some pairs flipped, some not


def test_a_resumed_run_draws_a_new_order_not_the_first_epochs_again() -> None:
    from streamguard.train.loop import training_loader

    dataset = CropDataset(synthetic_crops(16))
    config = TrainConfig(batch_size=16, seed=3)

    def order(start_epoch: int) -> list[int]:
        batch = next(iter(training_loader(dataset, config, start_epoch)))
        return [round(float(x)) for x in batch["images01"].flatten(1).sum(1)]

    assert order(0) == order(0) and order(4) == order(4)
    assert order(4) != order(0)


def test_balanced_batches_hold_half_fakes_half_reals_whatever_the_set_ratio() -> None:
    crops = synthetic_crops(20)
    crops = crops.subset(np.array([i for i in range(20) if i % 2 == 1 or i < 4]))  # 10 fakes, 2 reals
    batches = list(itertools.islice(balanced_batches(crops, 6, seed=0), 5))
    assert all(b["images01"].shape[0] == 6 and b["is_fake"].tolist() == [1, 1, 1, 0, 0, 0] for b in batches)
    assert {"images01", "masks", "is_fake", "has_mask", "attribute"} == set(batches[0])
    with pytest.raises(ValueError, match="both classes"):
        next(balanced_batches(crops.subset(crops.is_fake), 6, seed=0))


def test_extra_rows_join_every_batch_and_every_loss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import streamguard.train.loop as loop

    seen: list[int] = []
    original = loop.step_loss

    def spy(model: Any, batch: dict[str, torch.Tensor], device: Any, extra: Any) -> Any:
        seen.append(len(batch["is_fake"]))
        return original(model, batch, device, extra)

    monkeypatch.setattr(loop, "step_loss", spy)
    crops, real_deepfakes = synthetic_crops(8), synthetic_crops(10, seed=3)
    fit(YShapedAutoencoder(get_variant("ft")), CropDataset(crops), crops,
        TrainConfig(epochs=1, batch_size=4, device="cpu"), tmp_path / "c.pt", training_meta={},
        extra_rows=ExtraRows(real_deepfakes, rows=4))  # fmt: skip
    assert seen == [4 + 4, 4 + 4]


def test_init_weights_come_from_a_checkpoint_and_another_architecture_is_refused(tmp_path: Path) -> None:
    crops = synthetic_crops(8)
    torch.manual_seed(0)
    fit(YShapedAutoencoder(get_variant("proposed_new")), CropDataset(crops), crops,
        TrainConfig(epochs=1, batch_size=8, device="cpu"), tmp_path / "c.pt", training_meta={})  # fmt: skip
    trained, _ = load_checkpoint(tmp_path / "c.pt")
    fresh = YShapedAutoencoder(get_variant("proposed_new"), attribute_head=True)
    load_initial_weights(fresh, tmp_path / "c.pt")
    for name, tensor in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor), name
    with pytest.raises(CheckpointError, match="do not fit 'ft'"):
        load_initial_weights(YShapedAutoencoder(get_variant("ft")), tmp_path / "c.pt")


def test_the_monitor_cannot_also_be_trained_on(tmp_path: Path) -> None:
    options = ForgeOptions(tmp_path / "faces", tmp_path / "cache", monitor=tmp_path / "dev" / "val",
                           real_deepfakes=tmp_path / "dev" / ".." / "dev" / "val")  # fmt: skip
    with pytest.raises(ValueError, match="cannot also be trained on"):
        train_model_forged("ft", options, TrainConfig(epochs=1), tmp_path / "c.pt")


def test_paired_batches_put_each_fake_beside_a_real_of_its_person_at_the_same_clip_position() -> None:
    crops = synthetic_crops(12)
    # Two real clips (persons a, b) of three crops each, and two fake clips of person a, one of an unknown person.
    crops.sources = ["r/a.mp4"] * 3 + ["r/b.mp4"] * 3 + ["f/a1.mp4"] * 2 + ["f/a2.mp4"] * 2 + ["f/x.mp4"] * 2
    crops.is_fake = np.array([False] * 6 + [True] * 6)
    people = ["a"] * 3 + ["b"] * 3 + ["a"] * 4 + ["x"] * 2
    for batch in itertools.islice(paired_batches(crops, people, pairs=3, seed=1), 20):
        assert batch["is_fake"].tolist() == [1, 0] * 3
    all_images = crops_to_tensor(crops.crops)

    def row_of(image: torch.Tensor) -> int:
        return next(
            i for i, img in enumerate(all_images) if torch.equal(image, img) or torch.equal(image, img.flip(-1))
        )

    seen = set()
    for batch in itertools.islice(paired_batches(crops, people, pairs=1, seed=3), 60):
        seen.add((row_of(batch["images01"][0]), row_of(batch["images01"][1])))
    assert {fake for fake, _ in seen} == set(range(6, 12))
    for fake, real in seen:
        if people[fake] == "a":
            assert real == (fake - 6) % 2, (fake, real)  # person a's one real clip, at the same position
        else:
            assert real < 6  # an unknown person: any real
    with pytest.raises(ValueError, match="a person per crop"):
        next(paired_batches(crops, people[:-1], pairs=1, seed=0))


def test_manifest_people_name_each_file_and_unknown_files_stand_alone(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "MANIFEST.csv").write_text(
        "file,label,method,person\ntrain/real/g/a.mp4,real,,p1\ntrain/fake/g/b.mp4,fake,FF++ Deepfakes,p1\n"
    )
    sources = ["real/g/a.mp4", "fake/g/b.mp4", "fake/g/c.mp4"]
    assert manifest_people(tmp_path / "train", sources) == ["p1", "p1", "file:fake/g/c.mp4"]
