"""Glue between datasets on disk and `fit`: crops for training/validation, then train or fine-tune."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from rich.progress import Progress
from torch.utils.data import DataLoader, Dataset, Subset

from streamguard.datasets.faces import FaceSample, iter_face_samples
from streamguard.datasets.layout import MediaItem, scan_dataset, summarize
from streamguard.datasets.methods import attribute_labels, manifest_people
from streamguard.errors import CheckpointError, DatasetError, MediaDecodeError
from streamguard.evaluate.metrics import expected_calibration_error, has_both_classes
from streamguard.model.calibration import fit_platt
from streamguard.model.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from streamguard.model.factory import DetectorNetwork, build_network
from streamguard.model.variants import get_variant
from streamguard.train.data import Batch, CropDataset, CropSet
from streamguard.train.loop import ExtraRows, FitResult, JsonlLog, TrainConfig, fit, validate
from streamguard.train.monitor import Monitor
from streamguard.types import ATTRIBUTES
from streamguard.vision.detection import FaceDetector

if TYPE_CHECKING:
    from streamguard.forge.dataset import ForgeDataset


@dataclass(frozen=True)
class DataOptions:
    """Where training data comes from.

    Attributes:
        data: Training dataset root (folder or FaceForensics++ layout).
        val: Validation dataset root; None splits `val_fraction` of the training files off instead.
        frames_per_video: Evenly spaced frames taken from each video.
        input_size: Crop side in pixels.
        val_fraction: Share of training files held out when `val` is None (split by file, never by frame).
        split: FaceForensics++ official split for `data` (its `val` split is used for validation when
            `val` is None and the split files exist).
    """

    data: Path
    val: Path | None = None
    frames_per_video: int = 8
    input_size: int = 256
    val_fraction: float = 0.2
    split: str | None = None


def load_crop_set(root: Path, frames_per_video: int, size: int = 256, split: str | None = None) -> CropSet:
    """Detect and crop the most confident face of each sampled frame of a dataset, into memory."""
    items = scan_dataset(root, split=split)
    failed: list[str] = []

    def on_error(item: MediaItem, error: MediaDecodeError) -> None:
        failed.append(f"{item.rel_path}: {error}")

    with FaceDetector(max_faces=1) as detector, Progress(transient=True) as progress:
        task = progress.add_task(f"cropping {root.name}", total=len(items))
        samples: list[FaceSample] = []
        for item in items:
            samples.extend(
                iter_face_samples([item], detector, frames_per_video=frames_per_video, size=size, max_faces=1,
                                  on_error=on_error)
            )  # fmt: skip
            progress.advance(task)
    return CropSet.from_samples(samples, size, failed)


def cached_crop_set(root: Path, cache: Path, frames_per_video: int, size: int) -> CropSet:
    """`load_crop_set` of `root`, cached as ``.npz`` in `cache` keyed by the file list and the settings."""
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    key = hashlib.sha256(json.dumps([files, frames_per_video, size]).encode()).hexdigest()[:16]
    path = cache / f"crops-{root.name}-{key}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            return CropSet(
                crops=stored["crops"], masks=stored["masks"], has_mask=stored["has_mask"], is_fake=stored["is_fake"],
                sources=[str(s) for s in stored["sources"]], groups=[str(g) for g in stored["groups"]],
            )  # fmt: skip
    crops = load_crop_set(root, frames_per_video, size)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp, crops=crops.crops, masks=crops.masks, has_mask=crops.has_mask, is_fake=crops.is_fake,
        sources=np.array(crops.sources), groups=np.array(crops.groups),
    )  # fmt: skip
    tmp.replace(path)
    return crops


def train_and_validation_sets(options: DataOptions) -> tuple[CropSet, CropSet, dict[str, object]]:
    """Crops for training and validation, and a summary of both for the checkpoint."""
    train_set = load_crop_set(options.data, options.frames_per_video, options.input_size, options.split)
    if options.val is not None:
        val_set = load_crop_set(options.val, options.frames_per_video, options.input_size)
    else:
        train_set, val_set = train_set.split_by_source(options.val_fraction)
    for name, crops in (("training", train_set), ("validation", val_set)):
        if not has_both_classes(crops.is_fake):
            raise DatasetError(
                f"the {name} set has {int(crops.is_fake.sum())} fake and {int((~crops.is_fake).sum())} real crops;"
                " it needs both (give --val, or more files)"
            )
    summary = {
        "data": str(options.data),
        "val": str(options.val) if options.val else f"{options.val_fraction:.0%} of data files",
        "files": summarize(scan_dataset(options.data, split=options.split)),
        "train": train_set.summary(),
        "validation": val_set.summary(),
        "frames_per_video": options.frames_per_video,
    }
    return train_set, val_set, summary


def train_model(
    variant: str, options: DataOptions, config: TrainConfig, out: Path, *, resume: bool = False, log: Path | None = None
) -> FitResult:
    """`streamguard train`: a fresh network of `variant` trained on `options.data`."""
    train_set, val_set, summary = train_and_validation_sets(options)
    torch.manual_seed(config.seed)  # the initial weights are part of the seeded recipe
    model = build_network(get_variant(variant))
    return fit(
        model, CropDataset(train_set, augment=True, seed=config.seed), val_set, config, out,
        training_meta=summary, resume=resume, log=JsonlLog(log or out.with_name(out.name + ".log.jsonl")),
    )  # fmt: skip


def finetune_model(
    init: Path, options: DataOptions, config: TrainConfig, out: Path, *, log: Path | None = None
) -> FitResult:
    """`streamguard finetune`: continue training a checkpoint on a (small) new dataset (paper 4.4.2)."""
    model, meta = load_checkpoint(init)
    train_set, val_set, summary = train_and_validation_sets(options)
    summary = {**summary, "finetuned_from": str(init), "base_training": meta.training}
    return fit(
        model, CropDataset(train_set, augment=True, seed=config.seed), val_set, config, out,
        training_meta=summary, log=JsonlLog(log or out.with_name(out.name + ".log.jsonl")),
    )  # fmt: skip


DEFAULT_FORGE_STEPS = 100
"""Optimiser steps per epoch of on-the-fly forging when none is given."""


@dataclass(frozen=True)
class ForgeOptions:
    """Training on forgeries synthesised on the fly from real faces (`streamguard.forge`).

    Attributes:
        real: Real faces (e.g. ``../shared/data/real_faces``; its committed person/source split is used).
        cache: Face-bank cache folder (faces and landmarks detected once).
        families: Manipulation families to train on; leave one out for the unseen-attack protocol.
        steps_per_epoch: Optimiser steps per epoch; None: `DEFAULT_FORGE_STEPS` with on-the-fly forging (the set
            is virtual, fresh items every epoch), one pass with a pool.
        n_val: Fixed validation items, forged from held-out people.
        pool: When > 0, forge this many training items once (cached in `cache`) and train epochs over them
            instead of forging every step: on a small CPU, forging costs ~5x the training step, so a fixed
            pool trains several times more steps per hour at the price of less variety.
        paired: Train on (real, fake) pairs of one face with the same box jitter and realism draws, drawn
            side by side into batches (`streamguard.train.data.PairedSampler`); validation stays unpaired.
        extra_real: Folders of more training reals, forged like the rest (`forge_training_data`).
        monitor: A labelled set of real deepfakes (e.g. ``deepfakes_dev/val``) scored every epoch and used in
            the calibration fit; never trained on.
        seen_groups: The monitor's fake groups whose generators the training data shares.
        select: Metrics whose mean picks the best epoch (`streamguard.train.loop.selection_score`).
        attribute_head: Give the network the SOML attribute head, trained on the forge's attribute labels.
        attribute_data: Real deepfakes with a ``MANIFEST.csv`` naming each fake's method (e.g.
            ``deepfakes_dev/train``); its fakes of a known attribute train the attribute head only
            (`streamguard.datasets.methods`), never the detection losses.
        real_deepfakes: Real deepfakes and their real counterparts in the folder layout (e.g.
            ``deepfakes_dev/train``, never its ``val``) whose crops join every batch and every loss.
        real_deepfake_rows: Rows of `real_deepfakes` per batch, half fakes and half reals.
        pair_real_deepfakes: Draw them as (fake, real of the same person) pairs, persons from the set's
            ``MANIFEST.csv`` (`streamguard.train.data.paired_batches`), instead of independently.
        init: Start from this checkpoint's weights (same layers) instead of the ImageNet encoder: a new
            attribute head is the only part allowed to start fresh.
    """

    real: Path
    cache: Path
    families: list[str] | None = None
    steps_per_epoch: int | None = None
    n_val: int = 512
    pool: int = 0
    paired: bool = True
    extra_real: tuple[Path, ...] = ()
    monitor: Path | None = None
    seen_groups: tuple[str, ...] = ()
    select: tuple[str, ...] = ("val_auc",)
    attribute_head: bool = False
    attribute_data: Path | None = None
    real_deepfakes: Path | None = None
    real_deepfake_rows: int = 8
    pair_real_deepfakes: bool = True
    init: Path | None = None


REAL_DEEPFAKE_FRAMES = 16
"""Frames cut from each video of a real-deepfake set (training rows, monitors, calibration alike)."""


def labelled_crop_set(root: Path, cache: Path, frames_per_video: int, size: int) -> CropSet:
    """`cached_crop_set` of a dataset, with the attribute labels its manifest gives (-1 where unknown)."""
    crops = cached_crop_set(root, cache, frames_per_video, size)
    labels = attribute_labels(root, crops.sources)
    crops.attributes = np.array([-1 if a is None else ATTRIBUTES.index(a) for a in labels], dtype=np.int64)
    return crops


def train_model_forged(
    variant: str,
    options: ForgeOptions,
    config: TrainConfig,
    out: Path,
    *,
    resume: bool = False,
    log: Path | None = None,
) -> FitResult:
    """`streamguard train --forge`: a fresh network trained on on-the-fly forgeries of the training people."""
    from dataclasses import replace

    from streamguard.forge.dataset import forge_training_data

    spec = get_variant(variant)
    if options.attribute_data is not None and not options.attribute_head:
        raise ValueError("attribute data trains the attribute head: add the head (--attribute-head)")
    if options.real_deepfakes is not None and options.monitor is not None:
        if options.real_deepfakes.resolve() == options.monitor.resolve():
            raise ValueError(f"{options.monitor} is the monitor: it chooses the epoch and cannot also be trained on")
    data = forge_training_data(
        options.real, options.cache, seed=config.seed, families=options.families, n_val=options.n_val,
        paired=options.paired, size=spec.input_size, extra_real=options.extra_real,
    )  # fmt: skip
    train_data: Dataset[Batch] = data.train
    summary = data.summary
    if options.pool > 0:
        pool = forged_pool(data.train, options.pool, options.cache, data.summary, config.num_workers)
        train_data = CropDataset(pool, augment=True, seed=config.seed, paired=options.paired)
        summary = {**summary, "pool": options.pool}
        # The pool is in memory; workers would copy it.
        config = replace(config, num_workers=0, steps_per_epoch=options.steps_per_epoch)
    else:
        config = replace(config, steps_per_epoch=options.steps_per_epoch or DEFAULT_FORGE_STEPS)
    monitors: tuple[Monitor, ...] = ()
    attribute_data: Dataset[Batch] | None = None
    if options.attribute_data is not None:
        labelled = labelled_crop_set(options.attribute_data, options.cache, REAL_DEEPFAKE_FRAMES, spec.input_size)
        rows = labelled.subset(labelled.attribute_labels >= 0)
        attribute_data = CropDataset(rows, augment=True, seed=config.seed)
        summary = {**summary, "attribute_data": {"root": str(options.attribute_data), **rows.summary(),
                                                 "attributes": _attribute_counts(rows)}}  # fmt: skip
    if options.monitor is not None:
        crops = labelled_crop_set(options.monitor, options.cache, REAL_DEEPFAKE_FRAMES, spec.input_size)
        monitors = (Monitor("dev", crops, frozenset(options.seen_groups)),)
        summary = {**summary, "monitor": {"root": str(options.monitor), "seen_groups": list(options.seen_groups),
                                          **crops.summary()}}  # fmt: skip
    extra_rows = None
    if options.real_deepfakes is not None:
        crops = labelled_crop_set(options.real_deepfakes, options.cache, REAL_DEEPFAKE_FRAMES, spec.input_size)
        people = manifest_people(options.real_deepfakes, crops.sources) if options.pair_real_deepfakes else None
        extra_rows = ExtraRows(crops, options.real_deepfake_rows, people)
        rows_summary = {
            "root": str(options.real_deepfakes),
            "rows_per_step": options.real_deepfake_rows,
            "paired_by_person": options.pair_real_deepfakes,
        }
        summary = {**summary, "real_deepfakes": {**rows_summary, **crops.summary()}}
    torch.manual_seed(config.seed)
    model = build_network(spec, pretrained=options.init is None, attribute_head=options.attribute_head)
    if options.init is not None:
        load_initial_weights(model, options.init)
        summary = {**summary, "init": str(options.init)}
    return fit(
        model, train_data, CropSet(**data.val), config, out, training_meta=summary, resume=resume,
        log=JsonlLog(log or out.with_name(out.name + ".log.jsonl")), monitors=monitors, select=options.select,
        attribute_data=attribute_data, extra_rows=extra_rows,
    )  # fmt: skip


def load_initial_weights(model: DetectorNetwork, init: Path) -> None:
    """Copy a checkpoint's weights into `model`; only an attribute head the checkpoint lacks may stay fresh.

    Raises:
        CheckpointError: The checkpoint's weights do not fit `model` (another backbone, missing layers).
    """
    source, _ = load_checkpoint(init)
    try:
        result = model.load_state_dict(source.state_dict(), strict=False)
    except RuntimeError as e:  # shapes that do not fit
        raise CheckpointError(f"{init}: its weights do not fit {model.spec.name!r}: {e}") from e
    missing = [k for k in result.missing_keys if not k.startswith("attribute_head.")]
    if missing or result.unexpected_keys:
        raise CheckpointError(
            f"{init}: its weights do not fit {model.spec.name!r} (missing {missing[:5]},"
            f" unexpected {result.unexpected_keys[:5]})"
        )


def _attribute_counts(crops: CropSet) -> dict[str, int]:
    labels = crops.attribute_labels
    return {attribute.value: int((labels == k).sum()) for k, attribute in enumerate(ATTRIBUTES)}


def forged_pool(dataset: ForgeDataset, n: int, cache: Path, summary: dict[str, object], workers: int) -> CropSet:
    """Items ``0..n-1`` of `dataset` as a `CropSet`, forged once (in `workers` processes) and cached as .npz."""
    key_fields = {"n": n, **summary, "pool_format": POOL_FORMAT}
    key = hashlib.sha256(json.dumps(key_fields, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = cache / f"pool-{n}-{key}.npz"
    if path.exists():
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in POOL_ARRAYS}
    else:
        arrays = _forge_arrays(dataset, n, workers)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            crops=arrays["crops"],
            masks=arrays["masks"],
            is_fake=arrays["is_fake"],
            attributes=arrays["attributes"],
        )
        tmp.replace(path)
    count = len(arrays["is_fake"])
    return CropSet(
        crops=arrays["crops"], masks=arrays["masks"], has_mask=np.ones(count, bool), is_fake=arrays["is_fake"],
        sources=[f"pool:{i}" for i in range(count)], groups=["pool"] * count, attributes=arrays["attributes"],
    )  # fmt: skip


POOL_FORMAT = 2
"""Version of the cached pool's arrays (2 added ``attributes``); part of the cache key."""
POOL_ARRAYS = ("crops", "masks", "is_fake", "attributes")


def _forge_arrays(dataset: ForgeDataset, n: int, workers: int) -> dict[str, np.ndarray]:
    loader = DataLoader(Subset(dataset, range(n)), batch_size=32, num_workers=workers)
    crops, masks, is_fake, attributes = [], [], [], []
    with Progress(transient=True) as progress:
        task = progress.add_task("forging the training pool", total=n)
        for batch in loader:
            crops.append((batch["images01"] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
            masks.append(batch["masks"].to(torch.uint8).numpy())
            is_fake.append(batch["is_fake"].numpy() > 0.5)
            attributes.append(batch["attribute"].numpy())
            progress.advance(task, len(batch["is_fake"]))
    return {
        "crops": np.concatenate(crops), "masks": np.concatenate(masks), "is_fake": np.concatenate(is_fake),
        "attributes": np.concatenate(attributes),
    }  # fmt: skip


@dataclass(frozen=True)
class CalibrationOptions:
    """Where `recalibrate` takes its validation data from (the same sets training used).

    Attributes:
        real: Real faces; their validation people are forged as in training (same methods, seed and size).
        cache: Face-bank and crop cache folder.
        monitor: Real deepfakes whose crops join the fit (e.g. ``deepfakes_dev/val``), or None.
        seen_groups: The monitor's groups of generators seen in training (reported apart).
        n_val: Synthetic validation items.
    """

    real: Path
    cache: Path
    monitor: Path | None = None
    seen_groups: tuple[str, ...] = ()
    n_val: int = 512


def recalibrate(
    checkpoint: Path, out: Path, options: CalibrationOptions, *, variant: str | None = None
) -> CheckpointMeta:
    """Refit a checkpoint's Platt calibration, optionally scoring with another variant of the same network.

    ``variant`` re-labels the weights (e.g. ``effnet_lite0_linear`` for the linear head of a run trained as
    ``effnet_lite0_yae``: both heads are trained in every run); it must have the same layers.

    Raises:
        CheckpointError: The variant's network does not take these weights.
    """
    from dataclasses import replace

    from streamguard.forge.dataset import forge_training_data

    model, meta = load_checkpoint(checkpoint)
    if variant is not None and variant != meta.variant:
        relabelled = build_network(get_variant(variant), pretrained=False, attribute_head=meta.attribute_head)
        try:
            relabelled.load_state_dict(model.state_dict())
        except RuntimeError as e:
            raise CheckpointError(f"{checkpoint}: variant {variant!r} does not fit its {meta.variant!r} weights") from e
        model = relabelled.eval()
    forge_meta = meta.training.get("forge", {})
    data = forge_training_data(
        options.real, options.cache, seed=int(meta.training.get("recipe", {}).get("seed", 0)),
        methods=forge_meta.get("methods"), n_val=options.n_val, size=model.spec.input_size,
    )  # fmt: skip
    sets = [("val", CropSet(**data.val))]
    if options.monitor is not None:
        sets.append(("dev", labelled_crop_set(options.monitor, options.cache, 16, model.spec.input_size)))
    device = torch.device("cpu")
    scored = [(name, crops, *validate(model, crops, device)) for name, crops in sets]
    labels = np.concatenate([crops.is_fake for _, crops, _, _ in scored])
    logits = np.concatenate([lg for _, _, _, lg in scored])
    calibration = fit_platt(logits, labels, balanced=True)
    metrics = {f"{name}_{k}": v for name, _, m, _ in scored for k, v in m.items()}
    for name, crops, _, lg in scored:
        if name == "dev":
            metrics.update(Monitor("dev", crops, frozenset(options.seen_groups)).scores(lg))
    calibrated = calibration.apply(torch.from_numpy(logits)).numpy()
    metrics.update({"calibration_n": len(labels), "val_ece": expected_calibration_error(labels, calibrated)})
    new_meta = replace(
        meta, variant=model.spec.name, calibration=calibration,
        metrics={**meta.metrics, "recalibrated": metrics}, code_version="", created_at="",
    )  # fmt: skip
    save_checkpoint(out, model, new_meta)
    return new_meta
