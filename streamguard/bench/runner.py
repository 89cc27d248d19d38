"""Runs the scenarios, aggregates repeats (median, min, max) and writes the JSON report and a markdown table."""

from __future__ import annotations

import concurrent.futures
import json
import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streamguard.bench import scenarios
from streamguard.bench.machine import machine_info
from streamguard.bench.scenarios import PipelineRun, Spread
from streamguard.config.inference import InferenceConfig
from streamguard.model.checkpoint import load_checkpoint

SCENARIOS = ("decode", "model", "pipeline", "runtimes")
FULL_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What to run and how big.

    Attributes:
        out: JSON report path.
        workdir: Where generated clips and the random checkpoint go (reused between runs).
        quick: Reduced sizes (every scenario, well under 3 minutes on 2 cores).
        repeats: Runs per figure (median, min, max are reported).
        scenarios: Subset of `SCENARIOS`.
        model: Checkpoint for the pipeline (alert latency needs one that detects the clip's forgery, e.g. the
            demo model); default: random weights (speed only, no alerts).
        analysis_fps: Per-stream analysis rate in the pipeline scenario.
        max_streams: Upper bound of the capacity search.
        min_streams: The capacity search tries 1 stream, then counts from this one up (skips counts known to
            be sustainable on a big machine).
        seconds: Measured seconds per pipeline run.
        warmup_s: Seconds each pipeline run settles before it is measured.
        dev_data: A real-deepfake set (``deepfakes_dev/val``) for the runtimes scenario's AUC; None or missing:
            speed only.
        crop_cache: Where that set's face crops are cached (cut once).
    """

    out: Path = Path("runs/bench/bench.json")
    workdir: Path = Path("runs/bench")
    quick: bool = False
    repeats: int = 3
    scenarios: tuple[str, ...] = SCENARIOS
    model: Path | None = None
    analysis_fps: float = 5.0
    max_streams: int = 12
    min_streams: int = 2
    seconds: float = 20.0
    warmup_s: float = 3.0
    dev_data: Path | None = None
    crop_cache: Path = Path("runs/face_cache")


@dataclass(slots=True)
class Report:
    """The JSON report (top-level keys as the issue names them) plus details per scenario."""

    machine: dict[str, Any]
    decode_ceiling_streams: float | None = None
    pipeline_streams: int | None = None
    ratio: float | None = None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    latency_p95_s_loaded: float | None = None
    alert_latency_p95_s: float | None = None
    mb_per_stream: float | None = None
    model_faces_per_s: float | None = None
    model_ms_per_face_1core_b8: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def run_bench(options: BenchOptions, log: Callable[[str], None] = print) -> Report:
    """Run the selected scenarios and write the report to `options.out`."""
    if options.quick:
        options = _quick(options)
    report = Report(machine=machine_info())
    report.details["options"] = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()}
    clips = scenarios.bench_clips(options.workdir / "clips", n=2, seconds=_clip_seconds(options))
    started = time.monotonic()
    if "decode" in options.scenarios:
        log("decode ceiling ...")
        _decode(report, options, clips)
    if "model" in options.scenarios:
        log("model throughput ...")
        _model(report, options, clips)
    if "pipeline" in options.scenarios:
        log("pipeline capacity, latency, memory ...")
        _pipeline(report, options, clips, log)
    if "runtimes" in options.scenarios:
        log("inference runtimes ...")
        _runtimes(report, options)
    report.details["seconds"] = round(time.monotonic() - started, 1)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report


def _clip_seconds(options: BenchOptions) -> float:
    return 4.0 if options.quick else 12.0


def _quick(options: BenchOptions) -> BenchOptions:
    from dataclasses import replace

    return replace(options, repeats=1, max_streams=2, seconds=2.0, warmup_s=1.0)


def _decode(report: Report, options: BenchOptions, clips: list[Path]) -> None:
    fps = Spread.of([scenarios.decode_fps(clips, repeats=1) for _ in range(options.repeats)])
    report.decode_ceiling_streams = round(fps.median / scenarios.CLIP_FPS, 2)
    kbps = round(sum(c.stat().st_size for c in clips) * 8 / len(clips) / _clip_seconds(options) / 1000)
    report.details["decode"] = {"fps_total": fps.as_dict(1), "sources": len(clips), "clip_kbps": kbps,
                                "clip": "1280x720 25 fps H.264 (camera-like: panning photo, sensor noise)",
                                "streams": round(fps.median / scenarios.CLIP_FPS, 2)}  # fmt: skip


def _runtimes(report: Report, options: BenchOptions) -> None:
    from streamguard.bench.runtimes import runtime_auc, runtime_throughput

    checkpoint = options.model or InferenceConfig().model
    batches = (1, 8) if options.quick else (1, 8, 32)
    details: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "throughput": runtime_throughput(checkpoint, options.workdir, batches, 0.3 if options.quick else 3.0),
    }
    if options.dev_data is not None and options.dev_data.exists() and not options.quick:
        details["auc"] = runtime_auc(checkpoint, options.workdir, options.dev_data, options.crop_cache)
    report.details["runtimes"] = details


def _model(report: Report, options: BenchOptions, clips: list[Path]) -> None:
    import torch

    batches = (1, 8) if options.quick else FULL_BATCHES
    settings = ["fp32", "fp32_contiguous", "bf16"] + ([] if options.quick else ["compile"])
    if torch.cuda.is_available():
        settings += ["cuda_fp32", "cuda_fp16", "cuda_bf16"]
    seconds = 0.3 if options.quick else 2.0
    checkpoint = options.model or InferenceConfig().model
    variant = load_checkpoint(checkpoint)[1].variant
    runs = [scenarios.model_throughput(batches, settings, seconds, variant) for _ in range(options.repeats)]
    rows = _median_rows(runs)
    cpu_rows = [r for r in rows if not r["setting"].startswith("cuda") and "faces_per_s" in r]
    report.model_faces_per_s = max((r["faces_per_s"] for r in cpu_rows), default=None)
    blaze = Spread.of([scenarios.blazeface_ms(clips[0], frames=10 if options.quick else 50)
                       for _ in range(options.repeats)])  # fmt: skip
    follow = Spread.of([scenarios.follow_ms(clips[0], frames=10 if options.quick else 50)
                        for _ in range(options.repeats)])  # fmt: skip
    explain = Spread.of([scenarios.explain_ms(clips[0], checkpoint, repeats=3 if options.quick else 20)
                         for _ in range(options.repeats)])  # fmt: skip
    detector_runs = [
        scenarios.detector_ms_per_face(checkpoint, (1, 8), (1, 2), seconds) for _ in range(options.repeats)
    ]
    detector_rows = [{**row, "ms_per_face": round(1000 / row["faces_per_s"], 2)} for row in _median_rows(detector_runs)]
    one_core_b8 = [r for r in detector_rows if (r["threads"], r["batch"], r["masks"]) == (1, 8, "all")]
    report.model_ms_per_face_1core_b8 = one_core_b8[0]["ms_per_face"] if one_core_b8 else None
    report.details["model"] = {"variant": variant, "checkpoint": str(checkpoint), "rows": rows,
                               "detector": detector_rows, "blazeface_ms_per_720p_frame": blaze.as_dict(2),
                               "follow_ms_per_face": follow.as_dict(3),
                               "explain_ms_per_alert_update": explain.as_dict(2),
                               "torch_threads": torch.get_num_threads()}  # fmt: skip


def _median_rows(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for i, first in enumerate(runs[0]):
        if "faces_per_s" not in first:
            rows.append(first)
            continue
        values = [run[i]["faces_per_s"] for run in runs if "faces_per_s" in run[i]]
        spread = Spread.of(values)
        rows.append({**first, "faces_per_s": round(spread.median, 1), "faces_per_s_min": round(spread.min, 1),
                     "faces_per_s_max": round(spread.max, 1),
                     "ms_per_batch": round(1000 * first["batch"] / spread.median, 3)})  # fmt: skip
    return rows


def _pipeline(report: Report, options: BenchOptions, clips: list[Path], log: Callable[[str], None]) -> None:
    model = options.model or scenarios.random_model(options.workdir)
    search: list[PipelineRun] = []
    for n in [1, *range(max(2, options.min_streams), options.max_streams + 1)]:
        run = _pipeline_run(clips, n, options, model)
        search.append(run)
        log(
            f"  {n} stream(s): drop {run.drop_ratio:.1%}, p95 {run.latency_s.get('p95')} s, rss {run.rss_mb:.0f} MB, "
            f"cpu {run.core_ms_per_stream_s:.0f} core-ms/stream-s {_stages(run)}"
        )
        if not run.sustainable():
            break
    sustainable = [r for r in search if r.sustainable()]
    capacity = max((r.streams for r in sustainable), default=0)
    report.pipeline_streams = capacity
    if report.decode_ceiling_streams:
        report.ratio = round(capacity / report.decode_ceiling_streams, 3)
    single = [_pipeline_run(clips, 1, options, model) for _ in range(max(0, options.repeats - 1))] + [search[0]]
    report.latency_p50_s = _median_of(single, "p50")
    report.latency_p95_s = _median_of(single, "p95")
    loaded_n = max(1, math.floor(0.8 * capacity))
    loaded = [_pipeline_run(clips, loaded_n, options, model) for _ in range(options.repeats)]
    report.latency_p95_s_loaded = _median_of(loaded, "p95")
    alert_p95 = [r.alert_latency_s["p95"] for r in single + loaded if r.alert_latency_s and r.alert_latency_s["p95"]]
    report.alert_latency_p95_s = round(Spread.of(alert_p95).median, 4) if alert_p95 else None
    top = next((r for r in reversed(search) if r.streams == capacity), None)
    if top is not None and capacity > 1:
        report.mb_per_stream = round((top.rss_mb - search[0].rss_mb) / (capacity - 1), 1)
    report.details["pipeline"] = {
        "model": str(model), "backend": InferenceConfig().backend.value, "analysis_fps": options.analysis_fps,
        "seconds_per_run": options.seconds,
        "search": [_run_dict(r) for r in search], "single": [_run_dict(r) for r in single],
        "loaded": [_run_dict(r) for r in loaded], "loaded_streams": loaded_n,
        "rules": "sustainable = drops <= 1 % and e2e latency p95 <= 0.5 s",
    }  # fmt: skip


def _pipeline_run(clips: list[Path], n: int, options: BenchOptions, model: Path) -> PipelineRun:
    """One daemon run in a fresh process, so memory figures and thread pools do not leak between runs."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(
            scenarios.run_pipeline, clips, n, options.seconds, model, options.analysis_fps, options.warmup_s
        )
        return future.result()


def _stages(run: PipelineRun) -> str:
    parts = ", ".join(f"{stage} {ms:g}" for stage, ms in run.cpu_by_stage.items())
    return f"({parts})" if parts else ""


def _median_of(runs: list[PipelineRun], quantile: str) -> float | None:
    values = [r.latency_s[quantile] for r in runs if r.latency_s.get(quantile) is not None]
    return round(Spread.of(values).median, 4) if values else None  # type: ignore[arg-type]


def _run_dict(run: PipelineRun) -> dict[str, Any]:
    return {
        **asdict(run), "drop_ratio": round(run.drop_ratio, 4), "rss_mb": round(run.rss_mb, 1),
        "core_ms_per_stream_s": round(run.core_ms_per_stream_s, 1),
    }  # fmt: skip


def _detail_median(report: Report, key: str) -> float | None:
    spread = report.details.get("model", {}).get(key)
    return spread.get("median") if isinstance(spread, dict) else None


def markdown_table(report: Report) -> str:
    """The headline figures as a markdown table."""
    rows = [
        ("decode ceiling (720p25 streams)", report.decode_ceiling_streams),
        ("pipeline capacity (streams at 5 fps analysis)", report.pipeline_streams),
        ("ratio pipeline / decode ceiling", report.ratio),
        ("latency frame -> score p50, 1 stream (s)", report.latency_p50_s),
        ("latency frame -> score p95, 1 stream (s)", report.latency_p95_s),
        ("latency frame -> score p95, 80 % load (s)", report.latency_p95_s_loaded),
        ("latency frame -> alert in Redis p95 (s)", report.alert_latency_p95_s),
        ("memory per stream (MB)", report.mb_per_stream),
        ("model faces/s (best CPU setting)", report.model_faces_per_s),
        ("detector ms/face, 1 core, batch 8, masks for all", report.model_ms_per_face_1core_b8),
        ("face detector (BlazeFace) ms per 720p frame", _detail_median(report, "blazeface_ms_per_720p_frame")),
        ("face followed between detections, ms per face", _detail_median(report, "follow_ms_per_face")),
        ("explanation, ms added per alert update", _detail_median(report, "explain_ms_per_alert_update")),
    ]
    lines = ["| figure | value |", "|---|---|"]
    lines += [f"| {name} | {'—' if value is None else value} |" for name, value in rows]
    machine = report.machine
    lines.append(
        f"\nMachine: {machine['cpu']}, {machine['cores_usable']} usable cores, GPU: {machine['gpu'] or 'none'}"
    )
    return "\n".join(lines)
