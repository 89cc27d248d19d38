"""The `streamguard` command line (typer + rich). Each command is a thin shell over a library function."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from streamguard import __version__
from streamguard.config.inference import GPU_DEFAULT_MAX_BATCH
from streamguard.errors import StreamguardError

app = typer.Typer(
    name="streamguard",
    help="Detect and segment manipulated faces in images, videos and live streams.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)
console = Console()
err_console = Console(stderr=True)

DEVICE_HELP = "auto (CUDA when present), cpu, cuda or cuda:N"


# Closed sets of option values: typer refuses anything else and lists the allowed values. Where a library
# module owns the set (named in the docstring), tests/unit/test_cli.py checks the two agree.


class ExportFormatChoice(StrEnum):
    """Export formats offered on the command line."""

    onnx = "onnx"
    torchscript = "torchscript"
    triton = "triton"


class LrScheduleChoice(StrEnum):
    """``train --lr-schedule`` (`streamguard.train.loop.LR_SCHEDULES`)."""

    constant = "constant"
    cosine = "cosine"


class DemoForgeryChoice(StrEnum):
    """``demo --forgery`` (`streamguard.demo.clip.DEMO_FORGERIES`)."""

    edit = "edit"
    self_blend = "self_blend"


class ScenarioChoice(StrEnum):
    """``bench --scenario`` (`streamguard.bench.runner.SCENARIOS`)."""

    decode = "decode"
    model = "model"
    pipeline = "pipeline"
    runtimes = "runtimes"


class ImageFormatChoice(StrEnum):
    """``forge --format``."""

    png = "png"
    jpg = "jpg"


class LogLevel(StrEnum):
    """``--log-level`` of ``run``, ``scan`` and ``demo`` (any case)."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"


def _fail(error: Exception) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {error}")
    return typer.Exit(code=2)


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"streamguard {__version__}")
        raise typer.Exit()


@app.command()
def variants(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """List the detector variants (Table 2 and ours) with parameter counts and multiply-adds at their input size."""
    from streamguard.model.complexity import count_macs
    from streamguard.model.factory import build_network
    from streamguard.model.network import count_parameters
    from streamguard.model.variants import VARIANTS

    rows: list[dict[str, Any]] = []
    for spec in VARIANTS.values():
        model = build_network(spec, pretrained=False)
        rows.append({
            "name": spec.name, "params": count_parameters(model), "macs": count_macs(model, spec.input_size),
            "input_size": spec.input_size, "backbone": spec.backbone, "classifier": spec.classifier,
            "depth": spec.depth, "input": spec.input_kind, "seg_branch": spec.has_seg, "rec_branch": spec.has_rec,
            "seg_weight": spec.seg_weight, "rec_weight": spec.rec_weight, "rec_loss": spec.rec_loss,
            "description": spec.description,
        })  # fmt: skip
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="Detector variants (Nguyen et al. 2019, Table 2, and ours)")
    for column in ("name", "params", "GMACs", "px", "depth", "input", "seg", "rec", "w_seg", "w_rec", "rec loss"):
        table.add_column(column, justify="right" if column in {"params", "GMACs", "px"} else "left", no_wrap=True)
    for r in rows:
        table.add_row(
            r["name"], f"{r['params']:,}", f"{r['macs'] / 1e9:.3f}", str(r["input_size"]), r["depth"], r["input"],
            "yes" if r["seg_branch"] else "no", "yes" if r["rec_branch"] else "no",
            str(r["seg_weight"]), str(r["rec_weight"]), r["rec_loss"],
        )  # fmt: skip
    console.print(table)


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Where to write the best checkpoint.")],
    data: Annotated[
        Path | None, typer.Option(help="Training data: folder layout (real/, fake/, masks/) or FF++.")
    ] = None,
    forge: Annotated[
        Path | None, typer.Option(help="Train on forgeries synthesised on the fly from these real faces instead.")
    ] = None,
    families: Annotated[
        list[str] | None, typer.Option(help="With --forge: families to train on (default all). Repeat.")
    ] = None,
    steps_per_epoch: Annotated[
        int | None,
        typer.Option(min=1, help="With --forge: optimiser steps per epoch (default 100; with --pool, one pass)."),
    ] = None,
    extra_real: Annotated[
        list[Path] | None,
        typer.Option(help="With --forge: more folders of training reals, forged like the rest. Repeat."),
    ] = None,
    monitor: Annotated[
        Path | None,
        typer.Option(help="With --forge: real deepfakes scored each epoch, used for calibration, never trained on."),
    ] = None,
    seen_group: Annotated[
        list[str] | None,
        typer.Option(help="With --monitor: fake groups whose generators training shares (others: unseen). Repeat."),
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option(help="Metrics whose mean picks the best epoch, e.g. val_auc, dev_unseen_video_auc. Repeat."),
    ] = None,
    attribute_head: Annotated[
        bool, typer.Option(help="With --forge: add the SOML attribute head (identity / expression / physical).")
    ] = False,
    attribute_data: Annotated[
        Path | None,
        typer.Option(
            help="With --attribute-head: real deepfakes whose MANIFEST.csv names each method; their fakes "
            "train the attribute head only (e.g. deepfakes_dev/train)."
        ),
    ] = None,
    real_deepfakes: Annotated[
        Path | None,
        typer.Option(
            help="With --forge: real deepfakes and their reals (folder layout, e.g. deepfakes_dev/train; never its "
            "val) whose crops join every batch, half fakes and half reals."
        ),
    ] = None,
    real_deepfake_rows: Annotated[
        int, typer.Option(min=2, help="With --real-deepfakes: rows of it added to every batch.")
    ] = 8,
    pair_real_deepfakes: Annotated[
        bool,
        typer.Option(help="With --real-deepfakes: each fake beside a real of its person (MANIFEST.csv `person`)."),
    ] = True,
    init: Annotated[
        Path | None, typer.Option(help="With --forge: start from this checkpoint's weights instead of ImageNet's.")
    ] = None,
    weight_decay: Annotated[float, typer.Option(min=0.0, help="Adam weight decay (reference 5e-4).")] = 5e-4,
    pool: Annotated[
        int, typer.Option(min=0, help="With --forge: forge N items once (cached) and train epochs over them.")
    ] = 0,
    paired: Annotated[
        bool,
        typer.Option(help="With --forge: train on (real, fake) pairs of one face, degraded alike (SBI recipe)."),
    ] = True,
    cache: Annotated[
        Path | None, typer.Option(help="With --forge: face cache (default OUT's folder/.face_cache).")
    ] = None,
    workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes.")] = 0,
    variant: Annotated[str, typer.Option(help="One of `streamguard variants`.")] = "proposed_new",
    val: Annotated[Path | None, typer.Option(help="Validation data; default: hold out files of --data.")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    lr: Annotated[float, typer.Option(min=0.0)] = 1e-3,
    lr_schedule: Annotated[
        LrScheduleChoice, typer.Option(help="constant (the paper's) or cosine (decays --lr to zero over --epochs).")
    ] = LrScheduleChoice.constant,
    frames_per_video: Annotated[int, typer.Option(min=1)] = 8,
    val_fraction: Annotated[float, typer.Option(min=0.01, max=0.9)] = 0.2,
    split: Annotated[str | None, typer.Option(help="FaceForensics++ split of --data (train, val, test).")] = None,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
    seed: Annotated[int, typer.Option()] = 0,
    resume: Annotated[bool, typer.Option(help="Continue from the state saved beside --out.")] = False,
    log: Annotated[Path | None, typer.Option(help="JSON-lines log (default: OUT.log.jsonl).")] = None,
) -> None:
    """Train a detector; keeps the checkpoint with the best validation AUC, calibrated on validation data."""
    from streamguard.model.variants import get_variant
    from streamguard.train.loop import TrainConfig
    from streamguard.train.pipeline import DataOptions, ForgeOptions, train_model, train_model_forged

    if (data is None) == (forge is None):
        raise _fail(ValueError("give exactly one of --data DIR or --forge REAL_FACES_DIR"))
    try:
        config = TrainConfig(
            epochs=epochs, batch_size=batch_size, lr=lr, device=device, seed=seed, num_workers=workers,
            lr_schedule=lr_schedule.value, weight_decay=weight_decay,
        )  # fmt: skip
    except ValueError as e:
        raise _fail(e) from e
    try:
        get_variant(variant)
        if forge is not None:
            face_cache = cache or out.parent / ".face_cache"
            forge_options = ForgeOptions(
                forge, face_cache, families, steps_per_epoch, pool=pool, paired=paired,
                extra_real=tuple(extra_real or ()), monitor=monitor, seen_groups=tuple(seen_group or ()),
                select=tuple(select or ("val_auc",)), attribute_head=attribute_head, attribute_data=attribute_data,
                real_deepfakes=real_deepfakes, real_deepfake_rows=real_deepfake_rows, init=init,
                pair_real_deepfakes=pair_real_deepfakes,
            )  # fmt: skip
            result = train_model_forged(variant, forge_options, config, out, resume=resume, log=log)
        else:
            assert data is not None  # noqa: S101 - checked above
            options = DataOptions(data, val, frames_per_video, val_fraction=val_fraction, split=split)
            result = train_model(variant, options, config, out, resume=resume, log=log)
    except (StreamguardError, KeyError, ValueError) as e:
        raise _fail(e) from e
    _print_fit(result.checkpoint, result.best_epoch, result.best_metrics)


@app.command()
def finetune(
    init: Annotated[Path, typer.Option(help="Checkpoint to start from.")],
    data: Annotated[Path, typer.Option(help="The (few-shot) adaptation data.")],
    out: Annotated[Path, typer.Option(help="Where to write the fine-tuned checkpoint.")],
    val: Annotated[Path | None, typer.Option(help="Validation data; default: hold out files of --data.")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float, typer.Option(min=0.0)] = 1e-4,
    frames_per_video: Annotated[int, typer.Option(min=1)] = 10,
    val_fraction: Annotated[float, typer.Option(min=0.01, max=0.9)] = 0.2,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Adapt a trained detector to a new manipulation from a few examples (paper section 4.4.2)."""
    from streamguard.train.loop import TrainConfig
    from streamguard.train.pipeline import DataOptions, finetune_model

    try:
        options = DataOptions(data, val, frames_per_video, val_fraction=val_fraction)
        config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, device=device, seed=seed)
        result = finetune_model(init, options, config, out)
    except StreamguardError as e:
        raise _fail(e) from e
    _print_fit(result.checkpoint, result.best_epoch, result.best_metrics)


def _print_fit(checkpoint: Path, epoch: int, metrics: dict[str, Any]) -> None:
    shown = {k: v for k, v in metrics.items() if isinstance(v, float)}
    console.print(f"[green]best checkpoint[/] {checkpoint} (epoch {epoch + 1})")
    console.print("  " + "  ".join(f"{k}={v:.4f}" for k, v in shown.items()))


@app.command()
def calibrate(
    checkpoint: Annotated[Path, typer.Option(help="Checkpoint to recalibrate.")],
    out: Annotated[Path, typer.Option(help="Where to write the recalibrated checkpoint.")],
    forge: Annotated[Path, typer.Option(help="Real faces: their validation people are forged as in training.")],
    monitor: Annotated[
        Path | None, typer.Option(help="Real deepfakes whose crops join the fit (e.g. deepfakes_dev/val).")
    ] = None,
    seen_group: Annotated[
        list[str] | None, typer.Option(help="With --monitor: groups of generators seen in training. Repeat.")
    ] = None,
    variant: Annotated[
        str | None, typer.Option(help="Score with this variant of the same weights (e.g. the linear head).")
    ] = None,
    cache: Annotated[Path, typer.Option(help="Face-bank and crop cache.")] = Path("runs/face_cache"),
) -> None:
    """Refit a checkpoint's P(fake) calibration on the validation sets (synthetic people + real deepfakes)."""
    from streamguard.train.pipeline import CalibrationOptions, recalibrate

    options = CalibrationOptions(forge, cache, monitor, tuple(seen_group or ()))
    try:
        meta = recalibrate(checkpoint, out, options, variant=variant)
    except (StreamguardError, KeyError) as e:
        raise _fail(e) from e
    cal = meta.calibration
    console.print(
        f"[green]calibrated[/] {out} ({meta.variant}): scale {cal.scale:.3f}, bias {cal.bias:.3f}, n {cal.n_samples}"
    )
    shown = {k: v for k, v in meta.metrics["recalibrated"].items() if k.endswith("auc")}
    console.print("  " + "  ".join(f"{k}={v:.4f}" for k, v in shown.items() if isinstance(v, float)))


@app.command("eval")
def evaluate(
    checkpoint: Annotated[Path, typer.Option(help="Checkpoint to evaluate.")],
    data: Annotated[Path, typer.Option(help="Labelled data: folder layout or FaceForensics++.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full report here.")] = None,
    frames_per_video: Annotated[int, typer.Option(min=1)] = 32,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    save_masks: Annotated[Path | None, typer.Option(help="Write predicted masks as PNG under this folder.")] = None,
    split: Annotated[str | None, typer.Option(help="FaceForensics++ split (train, val, test).")] = None,
    seen_group: Annotated[
        list[str] | None,
        typer.Option(help="Fake groups of generators seen in training; adds the unseen-generator pool. Repeat."),
    ] = None,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
) -> None:
    """Evaluate a checkpoint: frame/video AUC, EER, AP, ACC, ECE and mask accuracy/IoU, overall and per group."""
    from streamguard.evaluate.runner import EvalOptions, evaluate_dataset
    from streamguard.model.detector import Detector

    try:
        detector = Detector.load(checkpoint, device=device)
        options = EvalOptions(
            frames_per_video, batch_size, save_masks=save_masks, split=split, seen_groups=tuple(seen_group or ())
        )
        report = evaluate_dataset(detector, data, options)
    except StreamguardError as e:
        raise _fail(e) from e
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2) + "\n")
    _print_report(report)


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _print_report(report: dict[str, Any]) -> None:
    columns = ["frame_auc", "video_auc", "eer", "ap", "acc", "ece", "seg_pixel_acc", "seg_iou", "n_frames",
               "n_videos", "n_images", "n_no_face"]  # fmt: skip
    table = Table(title=f"streamguard eval — {report['checkpoint']['version']}")
    table.add_column("set")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row("[bold]all[/]", *(_fmt(report[c]) for c in columns))
    if "unseen_generators" in report:
        table.add_row("[bold]unseen generators[/]", *(_fmt(report["unseen_generators"][c]) for c in columns))
    for name, group in report["groups"].items():
        table.add_row(name or "(top level)", *(_fmt(group[c]) for c in columns))
    console.print(table)
    for failure in report["failed"]:
        err_console.print(f"[yellow]could not decode[/] {failure['path']}: {failure['error']}")


@app.command("eval-families")
def eval_families(
    checkpoint: Annotated[Path, typer.Option(help="Checkpoint to evaluate.")],
    real: Annotated[Path, typer.Option(help="Real faces with the committed split (../shared/data/real_faces).")],
    out: Annotated[Path, typer.Option(help="Where the forged test sets and families.json go.")],
    unseen: Annotated[list[str] | None, typer.Option(help="Families left out of training (marked).")] = None,
    n: Annotated[int, typer.Option(min=1, help="Fakes (and reals) per family.")] = 200,
    cache: Annotated[Path | None, typer.Option(help="Face cache folder.")] = None,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
) -> None:
    """Evaluate per manipulation family on forgeries of held-out people (the model card table)."""
    from streamguard.evaluate.families import evaluate_families, markdown
    from streamguard.forge.families import FAMILIES
    from streamguard.model.detector import Detector

    try:
        detector = Detector.load(checkpoint, device=device)
        results = evaluate_families(detector, real, out, families=FAMILIES, n=n, cache_dir=cache)
    except StreamguardError as e:
        raise _fail(e) from e
    console.print(markdown(results, set(unseen or [])), highlight=False, soft_wrap=True, markup=False)
    console.print(f"report {out / 'families.json'}")


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Option(help="Checkpoint to export.")],
    out: Annotated[Path, typer.Option(help="Output file (.onnx or .pt), or the repository folder for triton.")],
    fmt: Annotated[
        ExportFormatChoice, typer.Option("--format", help="onnx, torchscript, or a Triton model repository.")
    ] = ExportFormatChoice.onnx,
    check: Annotated[bool, typer.Option(help="Compare ONNX Runtime with PyTorch on random crops.")] = True,
    model_name: Annotated[str, typer.Option(help="triton: the model's name in the repository.")] = "streamguard",
    max_batch: Annotated[int, typer.Option(min=1, help="triton: max_batch_size.")] = GPU_DEFAULT_MAX_BATCH,
    max_delay_ms: Annotated[
        float, typer.Option(min=0, help="triton: how long the dynamic batcher may hold a request to merge it.")
    ] = 5.0,
    gpu: Annotated[bool, typer.Option(help="triton: instances on GPUs, with TensorRT in fp16.")] = False,
) -> None:
    """Export a checkpoint (uint8 crops in; calibrated P(fake) and mask out; dynamic batch axis)."""
    import numpy as np

    from streamguard.export.exporter import export_checkpoint, onnx_parity
    from streamguard.export.triton import MODEL_VERSION_DIR, TritonModelOptions, write_triton_repository
    from streamguard.model.checkpoint import load_checkpoint

    try:
        if fmt is ExportFormatChoice.triton:
            options = TritonModelOptions(model_name=model_name, max_batch=max_batch, max_delay_ms=max_delay_ms, gpu=gpu)
            model_dir = write_triton_repository(checkpoint, out, options)
            onnx_file = model_dir / MODEL_VERSION_DIR / "model.onnx"
            console.print(f"[green]wrote[/] Triton repository {out} (model {model_name!r}, {onnx_file})")
        else:
            onnx_file = export_checkpoint(checkpoint, out, "onnx" if fmt is ExportFormatChoice.onnx else "torchscript")
            console.print(f"[green]wrote[/] {out} ({out.stat().st_size / 1e6:.2f} MB)")
        if fmt is not ExportFormatChoice.torchscript and check:
            size = load_checkpoint(checkpoint)[1].input_size
            crops = np.random.default_rng(0).integers(0, 256, (3, size, size, 3), dtype=np.uint8)
            parity = onnx_parity(checkpoint, onnx_file, crops)
            console.print(
                f"ONNX Runtime vs PyTorch on {parity['n']:.0f} crops: max |Δp_fake| = "
                f"{parity['max_abs_diff_p_fake']:.2e}, max |Δmask| = {parity['max_abs_diff_mask']:.2e}"
            )
    except StreamguardError as e:
        raise _fail(e) from e


@app.command()
def forge(
    real: Annotated[Path, typer.Option(help="Folder of real faces, e.g. ../shared/data/real_faces.")],
    out: Annotated[Path, typer.Option(help="Output folder in the eval layout (real/, fake/<method>/, masks/).")],
    n: Annotated[int, typer.Option(min=1, help="Number of fakes, and of reals.")] = 600,
    seed: Annotated[int, typer.Option()] = 0,
    methods: Annotated[
        list[str] | None, typer.Option(help="Methods or families, comma-separated or repeated; default all.")
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="Only this side of the shared-faces split: train, val, test.")
    ] = None,
    cache: Annotated[Path | None, typer.Option(help="Face cache folder (default OUT/.face_cache).")] = None,
    image_format: Annotated[
        ImageFormatChoice, typer.Option("--format", help="png (lossless) or jpg.")
    ] = ImageFormatChoice.png,
) -> None:
    """Synthesise fakes with exact masks and SOML labels from real faces, in the eval folder layout."""
    from streamguard.forge.families import resolve_methods
    from streamguard.forge.writer import run_forge

    try:
        report = run_forge(
            real, out, n, seed, resolve_methods(methods), split, cache_dir=cache, image_format=image_format.value
        )
    except StreamguardError as e:
        raise _fail(e) from e
    counts = ", ".join(f"{method} {count}" for method, count in report.per_method.items())
    console.print(f"wrote {report.n_real} reals and {report.n_fake} fakes ({counts}) in {report.seconds:.1f} s")
    console.print(f"labels: {report.labels}\ncontact sheet: {report.contact_sheet}")


@app.command()
def bench(
    out: Annotated[Path, typer.Option(help="JSON report.")] = Path("runs/bench/bench.json"),
    quick: Annotated[bool, typer.Option("--quick", help="Every scenario at reduced size (well under 3 min).")] = False,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per figure (median, min, max).")] = 3,
    scenario: Annotated[
        list[ScenarioChoice] | None, typer.Option(help="decode, model, pipeline or runtimes (repeat; default all).")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Checkpoint for the pipeline (default: random weights).")] = None,
    max_streams: Annotated[int, typer.Option(min=1, help="Upper bound of the capacity search.")] = 12,
    min_streams: Annotated[
        int, typer.Option(min=2, help="The capacity search tries 1 stream, then this many and more.")
    ] = 2,
    seconds: Annotated[float, typer.Option(min=1.0, help="Measured seconds per pipeline run.")] = 20.0,
    workdir: Annotated[Path, typer.Option(help="Generated clips and checkpoints (reused).")] = Path("runs/bench"),
    dev_data: Annotated[
        Path | None, typer.Option(help="runtimes: a real-deepfake set for AUC per backend (deepfakes_dev/val).")
    ] = None,
    crop_cache: Annotated[Path, typer.Option(help="runtimes: where that set's crops are cached.")] = Path(
        "runs/face_cache"
    ),
) -> None:
    """Measure decode ceiling, pipeline capacity, latency, memory, model throughput and runtimes; write JSON."""
    from streamguard.bench.runner import SCENARIOS, BenchOptions, markdown_table, run_bench

    chosen = tuple(choice.value for choice in scenario) if scenario else SCENARIOS
    options = BenchOptions(
        out=out, workdir=workdir, quick=quick, repeats=repeats, scenarios=chosen, model=model,
        max_streams=max_streams, min_streams=min_streams, seconds=seconds, dev_data=dev_data, crop_cache=crop_cache,
    )  # fmt: skip
    try:
        report = run_bench(options, log=lambda message: console.print(message, highlight=False))
    except StreamguardError as e:
        raise _fail(e) from e
    console.print(markdown_table(report), highlight=False, soft_wrap=True, markup=False)
    console.print(f"report {out}")


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the clip, the quick model and the Redis data go.")] = Path(
        "runs/demo"
    ),
    model: Annotated[Path | None, typer.Option(help="Checkpoint (default: shipped model, else a quick one).")] = None,
    seconds: Annotated[float, typer.Option(min=6.0, help="Length of the clip.")] = 15.0,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "cpu",
    listen: Annotated[str | None, typer.Option(help="HOST:PORT of the daemon (default: config/demo.yaml's).")] = None,
    log_level: Annotated[LogLevel, typer.Option(case_sensitive=False, help="Daemon log level.")] = LogLevel.warning,
    linger: Annotated[
        float, typer.Option(min=0.0, help="Keep the daemon and its console up this many seconds after the verdict.")
    ] = 0.0,
    forgery: Annotated[
        DemoForgeryChoice | None,
        typer.Option(help="Forged part: edit or self_blend (default: the kind the model was trained on)."),
    ] = None,
) -> None:
    """Live demo: a clip whose middle third is forged plays as a live stream through the daemon.

    Alerts are printed as the daemon publishes them to its embedded Redis; the summary says whether the
    forged part raised an alert and the real parts none (exit 1 otherwise).
    """
    import asyncio

    from streamguard.demo.clip import DEMO_FORGERIES
    from streamguard.demo.live import DemoOptions, run_demo

    _setup_logging(log_level)
    third = seconds / 3
    options = DemoOptions(
        workdir=workdir,
        model=model,
        seconds=seconds,
        forged_span=(round(third, 1), round(2 * third, 1)),
        device=device,
        listen=listen,
        linger_s=linger,
        forgery=next((kind for kind in DEMO_FORGERIES if kind == forgery), None),
    )
    try:
        result = asyncio.run(run_demo(options, console))  # prints the verdict
    except StreamguardError as e:
        raise _fail(e) from e
    if not result.passed:
        raise typer.Exit(code=1)


@app.command("demo-offline")
def demo_offline(
    workdir: Annotated[Path, typer.Option(help="Where the demo data, checkpoint and report go.")] = Path(
        "runs/demo-offline"
    ),
    epochs: Annotated[int, typer.Option(min=1)] = 8,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
) -> None:
    """Offline walk-through: build a small astronaut dataset with forged faces, train a detector, evaluate it.

    It runs in about a minute on two cores and shows the training stages (crop, train, calibrate, evaluate).
    """
    from streamguard.datasets.toy import write_toy_dataset
    from streamguard.evaluate.runner import EvalOptions, evaluate_dataset
    from streamguard.model.detector import Detector
    from streamguard.train.loop import TrainConfig
    from streamguard.train.pipeline import DataOptions, train_model

    train_dir, test_dir = workdir / "data" / "train", workdir / "data" / "test"
    console.rule("[bold]1. data: astronaut reals and blended face edits with exact masks")
    for folder, seed in ((train_dir, 0), (test_dir, 7)):
        if not folder.exists():
            write_toy_dataset(folder, n_images=16, n_videos=2, frames_per_video=12, seed=seed)
    console.print(f"train set {train_dir}, held-out test set {test_dir}")
    console.rule(f"[bold]2. train proposed_new for {epochs} epochs")
    checkpoint = workdir / "demo.pt"
    options = DataOptions(train_dir, frames_per_video=4, val_fraction=0.25)
    result = train_model("proposed_new", options, TrainConfig(epochs=epochs, batch_size=16, device=device), checkpoint)
    _print_fit(result.checkpoint, result.best_epoch, result.best_metrics)
    console.rule("[bold]3. evaluate on the held-out set")
    masks = workdir / "masks"
    report = evaluate_dataset(
        Detector.load(checkpoint, device=device), test_dir, EvalOptions(frames_per_video=6, save_masks=masks)
    )
    (workdir / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    _print_report(report)
    console.print(f"report {workdir / 'eval.json'}, predicted masks under {masks}")


def _setup_logging(level: LogLevel) -> None:
    import logging

    from rich.logging import RichHandler

    logging.basicConfig(
        level=level.value.upper(),
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=True)],
    )


def _load_daemon_config(config: Path | None, sources: list[str] | None, redis: str | None, listen: str | None) -> Any:
    from streamguard.config import config_from_overrides, load_config

    base = load_config(config) if config is not None else None
    return config_from_overrides(base, sources or [], redis, listen)


@app.command()
def run(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML configuration file.")] = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="ID=URL (rtsp://, http(s)://, or a path; `?loop=1&realtime=1`). Repeat."),
    ] = None,
    redis: Annotated[str | None, typer.Option(help="Redis URL (default: the file's, else an embedded Redis).")] = None,
    listen: Annotated[str | None, typer.Option(help="HOST:PORT of the metrics/health server.")] = None,
    log_level: Annotated[LogLevel, typer.Option(case_sensitive=False, help="Log level.")] = LogLevel.info,
) -> None:
    """Run the daemon: watch the streams, publish alerts and masks to Redis, serve /metrics and /healthz.

    Flags override the file. SIGTERM or Ctrl-C stops the sources, ends open alerts, flushes and exits 0.
    """
    import asyncio
    import signal

    from streamguard.daemon import Daemon

    _setup_logging(log_level)
    try:
        from streamguard.ops.sharding import filter_streams_for_replica, other_owner_lookup

        cfg = filter_streams_for_replica(_load_daemon_config(config, source, redis, listen))
        other_owner = other_owner_lookup()
    except StreamguardError as e:
        raise _fail(e) from e

    async def serve() -> None:
        daemon = Daemon(cfg, other_owner=other_owner)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, daemon.request_stop)
        await daemon.run()

    try:
        asyncio.run(serve())
    except StreamguardError as e:
        raise _fail(e) from e


@app.command()
def scan(
    inputs: Annotated[list[Path], typer.Argument(help="Video or image files, or folders searched recursively.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML configuration file.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write one row per alert as CSV here.")] = None,
    redis: Annotated[str | None, typer.Option(help="Also publish the alert events to this Redis URL.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Files scanned at once (their faces share batches).")] = 4,
    log_level: Annotated[LogLevel, typer.Option(case_sensitive=False, help="Log level.")] = LogLevel.warning,
) -> None:
    """Run the daemon's pipeline over recordings (offline replays) and report each file's alerts.

    Sampling, faces, tracking, batched inference and the alert hysteresis are the daemon's, at the
    configuration's settings; alert times are media times. Undecodable files are listed, never fatal.
    """
    import asyncio

    from rich.progress import Progress

    from streamguard.daemon.scan import Scanner, collect_media, report_json, summarize, write_csv, write_json
    from streamguard.model.detector import Detector

    _setup_logging(log_level)
    try:
        cfg = _load_daemon_config(config, None, None, None)
        files = collect_media(inputs)
        detector = Detector.load(cfg.inference.model, device=cfg.inference.device)
    except (StreamguardError, OSError) as e:
        raise _fail(e) from e
    scanner = Scanner(cfg, detector, concurrency=concurrency, redis_url=redis)
    with Progress(transient=True) as progress:
        task = progress.add_task("scanning", total=len(files))
        results = asyncio.run(scanner.scan(files, on_done=lambda _: progress.advance(task)))
    _print_scan(results, summarize(results))
    if json_out is not None:
        write_json(report_json(results, detector, cfg), json_out)
    if csv_out is not None:
        write_csv(results, csv_out)


def _print_scan(results: list[Any], summary: dict[str, Any]) -> None:
    table = Table(title="streamguard scan")
    for column in ("file", "label", "alerts", "first alert (s)", "peak", "max P(fake)", "what", "note"):
        table.add_column(column, overflow="fold")
    for r in results:
        first = r.alerts[0] if r.alerts else None
        table.add_row(
            f"{Path(r.path).parent.name}/{Path(r.path).name}", r.label or "", str(len(r.alerts)),
            "" if first is None else f"{first.start_s:.1f}-{first.end_s:.1f}",
            "" if first is None else f"{max(a.peak for a in r.alerts):.2f}",
            "" if r.max_p is None else f"{r.max_p:.2f}", "" if first is None else first.explanation,
            r.error or ("no face" if r.max_p is None else ""),
        )  # fmt: skip
    console.print(table)
    for label in ("fake", "real"):
        counts = summary[label]
        if counts["n"]:
            console.print(f"{label}: {counts['alerted']} of {counts['n']} files raised an alert")
    if summary["n_errors"]:
        console.print(f"[yellow]{summary['n_errors']} file(s) could not be scanned[/]")


@app.command("check-config")
def check_config(config: Annotated[Path, typer.Argument(help="YAML configuration file to validate.")]) -> None:
    """Validate a configuration file without starting anything; exit 2 with every problem listed."""
    from streamguard.config import load_config

    try:
        cfg = load_config(config)
    except StreamguardError as e:
        raise _fail(e) from e
    streams = ", ".join(f"{s.id} ({s.kind})" for s in cfg.enabled_streams()) or "none"
    console.print(f"[green]ok[/] {config}: {len(cfg.streams)} stream(s): {streams}")


@app.command()
def alerts(
    redis: Annotated[
        str | None, typer.Option(help="Redis URL, e.g. redis://127.0.0.1:6379/0 or unix:///path.sock")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Take the Redis URL and prefix from here.")
    ] = None,
    prefix: Annotated[str | None, typer.Option(help="Key prefix (default: streamguard).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep waiting for new alerts.")] = False,
) -> None:
    """Print the alerts stream in a readable form (`--follow` tails it)."""
    import asyncio

    from streamguard.sinks.consumer import format_alert, read_alerts

    url, key_prefix = _alerts_target(redis, config, prefix)

    async def tail() -> None:
        async for entry in read_alerts(url, key_prefix, follow=follow):
            console.print(format_alert(entry), highlight=False, soft_wrap=True, markup=False)

    try:
        asyncio.run(tail())
    except KeyboardInterrupt:
        pass
    except StreamguardError as e:
        raise _fail(e) from e


def _alerts_target(redis: str | None, config: Path | None, prefix: str | None) -> tuple[str, str]:
    from streamguard.config import DaemonConfig, load_config

    try:
        cfg = load_config(config) if config is not None else DaemonConfig()
    except StreamguardError as e:
        raise _fail(e) from e
    url = redis or cfg.redis.url
    if url is None:
        from streamguard.daemon.core import embedded_redis_url

        url = embedded_redis_url(cfg.data_dir)
    return url, prefix or cfg.redis.prefix


streams_app = typer.Typer(help="List, add and remove streams of a running daemon (its HTTP API).", no_args_is_help=True)
app.add_typer(streams_app, name="streams")

ApiUrlOption = Annotated[
    str, typer.Option("--api", envvar="STREAMGUARD_API_URL", help="The daemon's HTTP server (server.listen).")
]
TokenOption = Annotated[
    str | None, typer.Option("--token", envvar="STREAMGUARD_API_TOKEN", help="Bearer token (api.token).")
]
CaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-file", envvar="STREAMGUARD_API_CA_FILE", help="PEM CA bundle that signed an https daemon's certificate."
    ),
]


def _client(api: str, token: str | None, ca_file: Path | None) -> Any:
    from streamguard.api.client import StreamApiClient

    return StreamApiClient(api, token, ca_file)


@streams_app.command("list")
def streams_list(
    api: ApiUrlOption = "http://127.0.0.1:8080",
    token: TokenOption = None,
    ca_file: CaFileOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the running streams with their status, frame rates, faces and open alerts."""
    try:
        streams = _client(api, token, ca_file).list()
    except StreamguardError as e:
        raise _fail(e) from e
    if as_json:
        console.print_json(json.dumps(streams))
        return
    table = Table("id", "type", "status", "fps in", "fps analysed", "faces", "open alerts", "reconnects", "url")
    for s in streams:
        table.add_row(
            s["id"] + ("" if not s.get("runtime") else " *"),
            s["type"],
            str(s.get("status", "")),
            _fmt(s.get("fps_in")),
            _fmt(s.get("fps_analyzed")),
            str(s.get("faces", "")),
            str(s.get("open_alerts", "")),
            str(s.get("reconnects", "")),
            str(s.get("url") or ""),
        )
    console.print(table)
    console.print("* added at runtime (kept across restarts)")


@streams_app.command("add")
def streams_add(
    stream_id: Annotated[str, typer.Argument(metavar="ID", help="Stream id (A-Z a-z 0-9 _ . -).")],
    url: Annotated[str | None, typer.Argument(help="rtsp://, http(s)://, a path; omit with --type webrtc.")] = None,
    kind: Annotated[str | None, typer.Option("--type", help="rtsp, file or webrtc (default: from the URL).")] = None,
    analysis_fps: Annotated[float | None, typer.Option(help="Frames analysed per second.")] = None,
    loop: Annotated[bool | None, typer.Option("--loop/--no-loop", help="Files: restart at the end.")] = None,
    realtime: Annotated[bool | None, typer.Option("--realtime/--no-realtime", help="Files: native rate.")] = None,
    api: ApiUrlOption = "http://127.0.0.1:8080",
    token: TokenOption = None,
    ca_file: CaFileOption = None,
) -> None:
    """Add a stream to the running daemon; it is kept across restarts."""
    fields = {
        "id": stream_id,
        "url": url,
        "type": kind,
        "analysis_fps": analysis_fps,
        "loop": loop,
        "realtime": realtime,
    }
    try:
        added = _client(api, token, ca_file).add({k: v for k, v in fields.items() if v is not None})
    except StreamguardError as e:
        raise _fail(e) from e
    console.print(f"added {added['id']} ({added['type']}, {added.get('url') or 'WHIP: POST /whip/' + added['id']})")


@streams_app.command("rm")
def streams_rm(
    stream_id: Annotated[str, typer.Argument(metavar="ID", help="The stream to stop.")],
    api: ApiUrlOption = "http://127.0.0.1:8080",
    token: TokenOption = None,
    ca_file: CaFileOption = None,
) -> None:
    """Stop a stream and end its open alerts (a stream from the config file returns at the next start)."""
    try:
        _client(api, token, ca_file).remove(stream_id)
    except StreamguardError as e:
        raise _fail(e) from e
    console.print(f"removed {stream_id}")


def main() -> None:
    """Entry point of the `streamguard` console script."""
    app()
