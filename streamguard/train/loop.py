"""The training loop: Adam, per-epoch validation with the *predicted* label, best-AUC checkpoints, resume.

Validation selects the decoded latent half by the predicted class, exactly as at inference (the reference
code used the true label there, which flatters segmentation numbers).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.utils.data import DataLoader, Dataset

from streamguard.evaluate import metrics
from streamguard.model.calibration import Calibration, fit_platt
from streamguard.model.checkpoint import CheckpointMeta, save_checkpoint
from streamguard.model.detector import iter_batches, resolve_device
from streamguard.model.factory import DetectorNetwork, normalization_of
from streamguard.model.losses import ATTRIBUTE_WEIGHT, LossBreakdown, attribute_loss, total_loss
from streamguard.model.network import YNetOutput, classifier_logit, fake_logit
from streamguard.model.preprocess import crops_to_tensor, normalize
from streamguard.train.data import (
    Batch,
    CropSet,
    PairedSampler,
    balanced_batches,
    concat_batches,
    endless_batches,
    paired_batches,
)
from streamguard.train.monitor import Monitor

# channels_last halves the CPU time of a training step at 256x256 (42 vs 91 ms per crop, measured on 2 cores).
CHANNELS_LAST = torch.channels_last


@dataclass(frozen=True)
class TrainConfig:
    """Recipe of one training run (stored in the checkpoint).

    Attributes:
        epochs: Passes over the training set.
        batch_size: Crops per optimiser step (paper: 64).
        lr: Adam learning rate (paper: 1e-3; fine-tuning uses less).
        weight_decay: Adam weight decay (reference: 5e-4).
        device: `auto`, `cpu`, `cuda` or `cuda:N`.
        seed: Seeds weights, shuffling and augmentation.
        num_workers: DataLoader worker processes (0 = load in the main process).
        steps_per_epoch: Cap on optimiser steps per epoch (None = one pass); useful with on-the-fly data.
        lr_schedule: `constant` (the paper's) or `cosine`: decays ``lr`` to zero over all ``epochs``, set
            per step from the epoch and step index alone, so a resumed run picks it up where it stopped.
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 5e-4
    device: str = "auto"
    seed: int = 0
    num_workers: int = 0
    steps_per_epoch: int | None = None
    lr_schedule: str = "constant"

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")


LR_SCHEDULES = ("constant", "cosine")


def learning_rate(config: TrainConfig, epoch: int, step: int, steps_per_epoch: int) -> float:
    """The learning rate of optimiser step `step` (0-based) of epoch `epoch` under `config.lr_schedule`."""
    if config.lr_schedule == "constant":
        return config.lr
    progress = (epoch * steps_per_epoch + step) / max(config.epochs * steps_per_epoch, 1)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


@dataclass
class FitResult:
    """Outcome of `fit`: where the best checkpoint is, its epoch and validation metrics."""

    checkpoint: Path
    best_epoch: int
    best_metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


class JsonlLog:
    """Append-only JSON-lines log: one object per event with a wall-clock timestamp."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: str, **fields: Any) -> None:
        """Append one event."""
        if self.path is None:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({"event": event, "time": round(time.time(), 3), **fields}, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def state_path(checkpoint: Path) -> Path:
    """Where the resumable training state of a checkpoint lives (optimiser, epoch, best score)."""
    return checkpoint.with_name(checkpoint.name + ".state")


def network_input(model: DetectorNetwork, images01: torch.Tensor) -> torch.Tensor:
    """Normalise `(N, 3, S, S)` crops in [0, 1] the way `model`'s variant expects, channels-last."""
    norm = normalization_of(model.spec)
    x = normalize(images01, tuple(norm["mean"]), tuple(norm["std"]))
    return x.contiguous(memory_format=CHANNELS_LAST)


def validate(model: DetectorNetwork, crops: CropSet, device: torch.device, batch_size: int = 64) -> tuple[
    dict[str, Any], np.ndarray
]:  # fmt: skip
    """Score a crop set the way inference does and return (metrics, uncalibrated logits).

    Metrics: `auc, eer, ap, acc, ece` on the uncalibrated P(fake) of the variant's classifier,
    `seg_pixel_acc` over rows with a ground-truth mask (reals count, all-zero) and `seg_iou` over fakes with a
    mask (NaN without a seg branch); a network with a linear head also reports `auc_latent` and `auc_linear`,
    one with an attribute head `attr_acc` and `attr_macro_f1` over the rows with an attribute label.
    """
    model.eval()
    logits: list[np.ndarray] = []
    attribute_p: list[np.ndarray] = []
    both: dict[str, list[np.ndarray]] = {"latent": [], "linear": []}
    pixel_acc: list[float] = []
    iou: list[float] = []
    with torch.inference_mode():
        for chunk in iter_batches(len(crops), batch_size):
            out = model(network_input(model, crops_to_tensor(crops.crops[chunk]).to(device)))
            logits.append(classifier_logit(out, model.spec.classifier).float().cpu().numpy())
            if out.attribute_logits is not None:
                attribute_p.append(torch.softmax(out.attribute_logits.float(), dim=1).cpu().numpy())
            if out.linear_logit is not None:
                both["latent"].append(fake_logit(out.activations).float().cpu().numpy())
                both["linear"].append(out.linear_logit.float().cpu().numpy())
            if out.seg_logits is not None:
                pred = torch.softmax(out.seg_logits.float(), 1)[:, 1].cpu().numpy()
                _segmentation_scores(pred, crops.subset(np.arange(chunk.start, chunk.stop)), pixel_acc, iou)
    all_logits = np.concatenate(logits) if logits else np.zeros(0, np.float32)
    result: dict[str, Any] = metrics.detection_metrics(crops.is_fake, _sigmoid(all_logits))
    for head, parts in both.items():
        if parts:
            result[f"auc_{head}"] = metrics.roc_auc(crops.is_fake, np.concatenate(parts))
    if attribute_p and crops.attributes is not None:
        result.update(metrics.attribute_metrics(crops.attributes, np.concatenate(attribute_p)))
    result["seg_pixel_acc"] = float(np.mean(pixel_acc)) if pixel_acc else math.nan
    result["seg_iou"] = float(np.mean(iou)) if iou else math.nan
    result["n"] = len(crops)
    return result, all_logits


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-logits.astype(np.float64))))


def _segmentation_scores(pred: np.ndarray, rows: CropSet, pixel_acc: list[float], iou: list[float]) -> None:
    for k in np.flatnonzero(rows.has_mask):
        pixel_acc.append(metrics.pixel_accuracy(pred[k], rows.masks[k]))
        if rows.is_fake[k]:
            iou.append(metrics.mask_iou(pred[k], rows.masks[k]))


def training_loader(train_data: Dataset[Batch], config: TrainConfig, start_epoch: int = 0) -> DataLoader[Batch]:
    """Shuffled batches of `train_data`; a paired set (``paired`` true) keeps each real beside its fake.

    A fresh run shuffles with ``seed``; a resumed one with ``(seed, start_epoch)``, so that it draws new
    orders instead of replaying the first epochs' (with on-the-fly forging, the very same items).
    """
    seed = (
        config.seed
        if start_epoch == 0
        else int(np.random.SeedSequence([config.seed, start_epoch]).generate_state(1)[0])
    )
    generator = torch.Generator().manual_seed(seed)
    paired = bool(getattr(train_data, "paired", False))
    sampler = PairedSampler(len(train_data), generator) if paired else None  # type: ignore[arg-type]
    return DataLoader(
        train_data, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler, drop_last=False,
        num_workers=config.num_workers, generator=generator, persistent_workers=config.num_workers > 0,
    )  # fmt: skip


def _cycle(loader: DataLoader[Batch], steps: int | None) -> Iterator[Batch]:
    if steps is None:
        yield from loader
        return
    done = 0
    while done < steps:
        for batch in loader:
            yield batch
            done += 1
            if done >= steps:
                return


def _train_epoch(
    model: DetectorNetwork,
    loader: DataLoader[Batch],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    config: TrainConfig,
    progress: Progress,
    epoch: int,
    attribute_rows: Iterator[Batch] | None = None,
    detection_rows: Iterator[Batch] | None = None,
) -> dict[str, float]:
    model.train()
    steps = config.steps_per_epoch or len(loader)
    task = progress.add_task("train", total=steps)
    sums = {"loss": 0.0, "act": 0.0, "seg": 0.0, "rec": 0.0, "acc": 0.0, "attr": 0.0}
    n = 0
    for batch in _cycle(loader, config.steps_per_epoch):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, epoch, n, steps)
        if detection_rows is not None:
            batch = concat_batches(_with_attribute(batch), _with_attribute(next(detection_rows)))
        extra = None if attribute_rows is None else next(attribute_rows)
        losses, out, is_real = step_loss(model, batch, device, extra)
        optimizer.zero_grad(set_to_none=True)
        losses.total.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        predicted_real = (classifier_logit(out, model.spec.classifier) < 0).float()
        for key, value in (
            ("loss", losses.total),
            ("act", losses.activation),
            ("seg", losses.segmentation),
            ("rec", losses.reconstruction),
            ("acc", (predicted_real == is_real).float().mean()),
            ("attr", losses.attribute if losses.attribute is not None else torch.zeros(())),
        ):
            sums[key] += float(value.detach())  # fmt: skip
        n += 1
        progress.update(task, advance=1, description=f"train loss {sums['loss'] / n:.4f}")
    progress.remove_task(task)
    return {**{k: v / max(n, 1) for k, v in sums.items()}, "lr": optimizer.param_groups[0]["lr"]}


def _with_attribute(batch: Batch) -> Batch:
    """`batch` with an ``attribute`` entry (-1, unknown, where it had none), so that batches concatenate."""
    if "attribute" in batch:
        return batch
    return {**batch, "attribute": torch.full((len(batch["is_fake"]),), -1, dtype=torch.long)}


def step_loss(
    model: DetectorNetwork, batch: Batch, device: torch.device, extra: Batch | None
) -> tuple[LossBreakdown, YNetOutput, torch.Tensor]:
    """Loss of one training batch; the rows of `extra` (attribute-labelled fakes) join the attribute loss only.

    Returns the loss, the batch's own outputs and its ``is_real`` targets.
    """
    images01 = batch["images01"].to(device)
    is_real = 1.0 - batch["is_fake"].to(device)
    attribute = batch.get("attribute", torch.full((len(is_real),), -1, dtype=torch.long)).to(device)
    n = len(is_real)
    true_class = is_real.long()
    if extra is not None:
        images01 = torch.cat([images01, extra["images01"].to(device)])
        attribute = torch.cat([attribute, extra["attribute"].to(device)])
        true_class = torch.cat([true_class, (1.0 - extra["is_fake"].to(device)).long()])
    images01 = images01.contiguous(memory_format=CHANNELS_LAST)
    everything = model(network_input(model, images01), true_class=true_class)
    out = everything.head(n)
    losses = total_loss(out, model.spec, is_real, batch["masks"].to(device), images01[:n], batch["has_mask"].to(device))
    if everything.attribute_logits is not None:
        attr = attribute_loss(everything.attribute_logits, attribute)
        losses = replace(losses, total=losses.total + ATTRIBUTE_WEIGHT * attr, attribute=attr.detach())
    return losses, out, is_real


ATTRIBUTE_ROWS_PER_STEP = 8
"""Attribute-only rows (`fit`'s ``attribute_data``) added to each training batch."""


@dataclass(frozen=True)
class ExtraRows:
    """Labelled crops whose rows join every training batch and all of its losses.

    Attributes:
        crops: The crops, e.g. real deepfakes and their real counterparts (`balanced_batches` draws them half
            fakes, half reals).
        rows: Rows added to every batch.
        people: The person of each crop: rows then come as (fake, real of the same person) pairs
            (`paired_batches`); None draws fakes and reals independently (`balanced_batches`).
    """

    crops: CropSet
    rows: int = 8
    people: list[str] | None = None

    def batches(self, seed: int) -> Iterator[Batch]:
        """Endless batches of `rows` rows, half fakes and half reals."""
        if self.people is not None:
            return paired_batches(self.crops, self.people, self.rows // 2, seed)
        return balanced_batches(self.crops, self.rows, seed)


def fit(
    model: DetectorNetwork,
    train_data: Dataset[Batch],
    val: CropSet,
    config: TrainConfig,
    out: Path,
    *,
    training_meta: dict[str, Any],
    resume: bool = False,
    log: JsonlLog | None = None,
    monitors: tuple[Monitor, ...] = (),
    select: tuple[str, ...] = ("val_auc",),
    attribute_data: Dataset[Batch] | None = None,
    extra_rows: ExtraRows | None = None,
    on_epoch: Callable[[int, DetectorNetwork], None] | None = None,
) -> FitResult:
    """Train `model`, validate every epoch, keep the best weights (calibrated on `val` and `monitors`) at `out`.

    Args:
        model: Network to train (freshly initialised, or loaded for fine-tuning).
        train_data: Items as produced by `CropDataset` (`images01`, `masks`, `is_fake`, `has_mask`).
        val: Validation crops (held-out files); they pick the best epoch and fit the calibration.
        config: The recipe.
        out: Checkpoint path; the resumable state is kept beside it (`state_path`).
        training_meta: Data summary and anything else to store under `training` in the checkpoint.
        resume: Continue from `state_path(out)` when it exists.
        log: JSON-lines event log.
        monitors: Real-deepfake sets scored every epoch (`streamguard.train.monitor`); their crops join the
            calibration fit.
        select: Metrics whose mean picks the best epoch (``val_auc`` of the synthetic set, or monitor keys
            such as ``dev_unseen_video_auc``); NaN entries are left out of the mean.
        attribute_data: Fakes with an attribute label (e.g. real deepfakes of a known method) that train the
            attribute head only: `ATTRIBUTE_ROWS_PER_STEP` of them join every batch, outside the detection
            losses. Needs a network with an attribute head.
        extra_rows: Labelled crops (e.g. the real deepfakes of ``deepfakes_dev/train`` with their reals) of
            which ``extra_rows.rows``, half fakes and half reals, join every batch and every loss.
        on_epoch: Called with the epoch and the model after each epoch's checkpoint and state are written (e.g.
            to copy them off a machine that may be taken back).
    """
    log = log or JsonlLog(None)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model.to(device).to(memory_format=CHANNELS_LAST)  # type: ignore[call-overload]
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=config.weight_decay
    )
    start_epoch, best_auc, best_epoch, history = 0, -math.inf, -1, []
    best_metrics: dict[str, Any] = {}
    if resume and state_path(out).exists():
        state = torch.load(state_path(out), map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best_auc, best_epoch = state["epoch"] + 1, state["best_auc"], state["best_epoch"]
        history, best_metrics = json.loads(state["history"]), json.loads(state["best_metrics"])
        log.write("resume", epoch=start_epoch, best_auc=best_auc)
    loader = training_loader(train_data, config, start_epoch)
    attribute_rows = None
    if attribute_data is not None:
        if getattr(model, "attribute_head", None) is None:
            raise ValueError("attribute_data needs a network with an attribute head")
        attribute_rows = endless_batches(attribute_data, ATTRIBUTE_ROWS_PER_STEP, config.seed + start_epoch)
    detection_rows = None
    if extra_rows is not None:
        detection_rows = extra_rows.batches(config.seed + 7919 * (start_epoch + 1))
    log.write("start", config=asdict(config), variant=model.spec.name, training=training_meta)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        epochs = progress.add_task("epochs", total=config.epochs, completed=start_epoch)
        for epoch in range(start_epoch, config.epochs):
            train_stats = _train_epoch(
                model, loader, optimizer, device, config, progress, epoch, attribute_rows, detection_rows
            )
            val_metrics, val_logits = validate(model, val, device)
            scored = [(m, *validate(model, m.crops, device)) for m in monitors]
            monitor_metrics = {k: v for m, _, logits in scored for k, v in m.scores(logits).items()}
            monitor_metrics |= {
                f"{m.name}_{k}": v for m, found, _ in scored for k, v in found.items() if k.startswith("attr_")
            }
            record = {"epoch": epoch, "train": train_stats, "val": val_metrics, "monitors": monitor_metrics}
            history.append(record)
            log.write("epoch", **record)
            score = selection_score({**{f"val_{k}": v for k, v in val_metrics.items()}, **monitor_metrics}, select)
            # On a tie the later epoch wins: same ranking, but trained longer (masks, calibration keep improving).
            if score >= best_auc:
                best_auc, best_epoch = score, epoch
                calibration_set = [(val.is_fake, val_logits)] + [(m.crops.is_fake, logits) for m, _, logits in scored]
                best_metrics = _save_best(
                    model, val, calibration_set, val_metrics, monitor_metrics, config, out, training_meta, epoch
                )
                log.write("best", epoch=epoch, metrics=best_metrics)
            _save_state(out, model, optimizer, epoch, best_auc, best_epoch, history, best_metrics)
            if on_epoch is not None:
                on_epoch(epoch, model)
            progress.update(epochs, advance=1, description=f"epoch {epoch + 1} selection score {score:.4f}")
    log.write("end", best_epoch=best_epoch, best_metrics=best_metrics)
    return FitResult(out, best_epoch, best_metrics, history)


def selection_score(flat_metrics: dict[str, Any], select: tuple[str, ...]) -> float:
    """Mean of the `select` metrics that are defined; -1 when none is (the first such epoch still saves)."""
    unknown = [k for k in select if k not in flat_metrics]
    if unknown:
        raise KeyError(f"selection metric(s) {unknown} not computed; known: {', '.join(sorted(flat_metrics))}")
    values = [float(flat_metrics[k]) for k in select if flat_metrics[k] is not None and not math.isnan(flat_metrics[k])]
    return float(np.mean(values)) if values else -1.0


def _save_best(
    model: DetectorNetwork,
    val: CropSet,
    calibration_set: list[tuple[np.ndarray, np.ndarray]],
    val_metrics: dict[str, Any],
    monitor_metrics: dict[str, Any],
    config: TrainConfig,
    out: Path,
    training_meta: dict[str, Any],
    epoch: int,
) -> dict[str, Any]:
    labels = np.concatenate([is_fake for is_fake, _ in calibration_set])
    logits = np.concatenate([scores for _, scores in calibration_set])
    calibration = Calibration()
    if metrics.has_both_classes(labels):
        calibration = fit_platt(logits, labels, balanced=True)
    calibrated = calibration.apply(torch.from_numpy(logits)).numpy()
    saved_metrics = {
        **{f"val_{k}": v for k, v in val_metrics.items()},
        **monitor_metrics,
        "val_ece_uncalibrated": val_metrics["ece"],
        "calibration_n": len(labels),
        "val_ece": metrics.expected_calibration_error(labels, calibrated),
        "val_acc_calibrated": metrics.accuracy(labels, calibrated),
        "epoch": epoch,
    }
    meta = CheckpointMeta(
        variant=model.spec.name,
        input_size=int(val.crops.shape[1]) if len(val) else 256,
        normalization=normalization_of(model.spec),
        calibration=calibration,
        training={**training_meta, "recipe": asdict(config), "epochs_trained": epoch + 1},
        metrics=saved_metrics,
        attribute_head=getattr(model, "attribute_head", None) is not None,
    )
    save_checkpoint(out, model, meta)
    return saved_metrics


def _save_state(
    out: Path,
    model: DetectorNetwork,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    best_auc: float,
    best_epoch: int,
    history: list[dict[str, Any]],
    best_metrics: dict[str, Any],
) -> None:
    tmp = state_path(out).with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "best_auc": best_auc,
            "best_epoch": best_epoch,
            "history": json.dumps(history, default=_jsonable),
            "best_metrics": json.dumps(best_metrics, default=_jsonable),
        },
        tmp,
    )
    tmp.replace(state_path(out))
