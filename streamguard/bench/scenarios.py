"""The benchmark scenarios. Each returns plain JSON-ready dicts; `runner` repeats them and aggregates."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.bench.stage_cpu import StageCpuSampler, core_ms_per_stream_s

CLIP_FPS = 25
CLIP_SIZE = (1280, 720)


@dataclass(frozen=True, slots=True)
class Spread:
    """Median, min and max of repeated measurements."""

    median: float
    min: float
    max: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """Aggregate `values` (at least one)."""
        return cls(float(statistics.median(values)), float(min(values)), float(max(values)), len(values))

    def as_dict(self, digits: int = 4) -> dict[str, float | int]:
        """JSON form, rounded."""
        return {"median": round(self.median, digits), "min": round(self.min, digits), "max": round(self.max, digits),
                "runs": self.runs}  # fmt: skip


def bench_clips(folder: Path, n: int, seconds: float, seed: int = 0) -> list[Path]:
    """`n` seeded 720p25 H.264 clips that look like a camera (reused when already written).

    A face (the demo's, forged in the middle third) drifts over a slowly panning photo with sensor noise, so
    the encoder spends camera-like bitrate (a flat background would make decoding unrealistically cheap).
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"camera_{seed + i:03d}_{seconds:g}s.mp4"
        if not path.exists():
            write_camera_clip(path, seconds, seed=seed + i)
        paths.append(path)
    return paths


def write_camera_clip(path: Path, seconds: float, seed: int, crf: int = 21, noise: float = 5.0) -> None:
    """Write one bench clip frame by frame (H.264, camera-like GOP: no B-frames, a key frame per second)."""
    import av
    import cv2
    from skimage import data

    from streamguard.demo.clip import FACE_SIDE, demo_edit, face_and_mask, face_position

    rng = np.random.default_rng(seed)
    width, height = CLIP_SIZE
    face, ellipse = face_and_mask()
    forged = demo_edit(face, ellipse, rng)
    photo = data.coffee()  # type: ignore[no-untyped-call]
    scenery = cv2.resize(photo, (2 * width, 2 * height), interpolation=cv2.INTER_CUBIC)
    n_frames = round(seconds * CLIP_FPS)
    options = {"crf": str(crf), "preset": "veryfast", "bf": "0", "g": str(CLIP_FPS)}
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=CLIP_FPS, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n_frames):
            t = i / CLIP_FPS
            pan = round((width / 2) * (1 + np.sin(2 * np.pi * t / 20)))
            frame = scenery[height // 2 : height // 2 + height, pan : pan + width].astype(np.int16)
            frame += rng.normal(0, noise, size=frame.shape).astype(np.int16)  # sensor noise
            x, y = face_position(t, (width, height))
            in_forged_third = seconds / 3 <= t < 2 * seconds / 3
            frame[y : y + FACE_SIDE, x : x + FACE_SIDE] = forged if in_forged_third else face
            image = np.clip(frame, 0, 255).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


# ---- decode ceiling ---------------------------------------------------------------------------------------


def decode_fps(clips: Sequence[Path], repeats: int) -> float:
    """Frames per second decoding every clip `repeats` times, one thread per clip, with the daemon's settings."""
    from streamguard.ingest.decode import iter_frames, open_video

    counts = [0] * len(clips)
    stop = threading.Event()

    def decode(i: int, path: Path) -> None:
        for _ in range(repeats):
            container, stream = open_video(str(path), open_timeout_s=10, read_timeout_s=10)
            with contextlib.closing(container):
                for _frame in iter_frames(container, stream, stop):
                    counts[i] += 1

    seconds = timed_threads(lambda i: decode(i, clips[i]), len(clips))
    return sum(counts) / seconds


def timed_threads(work: Callable[[int], None], n: int) -> float:
    """Run ``work(0)`` ... ``work(n - 1)`` in `n` threads at once; the seconds until the last one finished."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


# ---- model -------------------------------------------------------------------------------------------------


def model_throughput(
    batch_sizes: Sequence[int], settings: Sequence[str], seconds: float, variant: str = "proposed_new"
) -> list[dict[str, Any]]:
    """Faces/s and ms/batch of the detector network for each batch size and setting.

    Settings: ``fp32`` (folded batch norm, channels_last — what the daemon runs on CPU), ``fp32_contiguous``
    (channels_last off), ``bf16`` (CPU autocast), ``compile`` (``torch.compile`` of the fp32 model), and on
    CUDA ``cuda_fp16`` / ``cuda_bf16``.
    """
    rows = []
    for setting in settings:
        for batch in batch_sizes:
            try:
                ms = _time_forward(setting, batch, seconds, variant)
            except (RuntimeError, ValueError) as e:  # e.g. torch.compile without a compiler, bf16 unsupported
                rows.append({"setting": setting, "batch": batch, "error": str(e).splitlines()[0][:200]})
                continue
            rows.append({"setting": setting, "batch": batch, "ms_per_batch": round(ms, 3),
                         "faces_per_s": round(1000 * batch / ms, 1)})  # fmt: skip
    return rows


def _time_forward(setting: str, batch: int, seconds: float, variant: str) -> float:
    import torch

    from streamguard.model.factory import build_network
    from streamguard.model.network import fuse_batchnorm
    from streamguard.model.variants import get_variant

    cuda = setting.startswith("cuda")
    device = torch.device("cuda" if cuda else "cpu")
    spec = get_variant(variant)
    model = fuse_batchnorm(build_network(spec, pretrained=False).eval()).to(device)
    memory_format = torch.contiguous_format if setting == "fp32_contiguous" else torch.channels_last
    model = model.to(memory_format=memory_format)  # type: ignore[call-overload]
    forward: Callable[[torch.Tensor], object] = model
    if setting == "compile":
        forward = torch.compile(model)
    size = spec.input_size
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=memory_format)
    dtype = {"bf16": torch.bfloat16, "cuda_bf16": torch.bfloat16, "cuda_fp16": torch.float16}.get(setting)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        forward(x)  # warm-up (and compilation)
        n, started = 0, time.perf_counter()
        while n < 1 or time.perf_counter() - started < seconds:
            forward(x)
            if cuda:
                torch.cuda.synchronize()
            n += 1
    return 1000 * (time.perf_counter() - started) / n


def detector_ms_per_face(
    checkpoint: Path, batches: Sequence[int], threads: Sequence[int], seconds: float
) -> list[dict[str, Any]]:
    """Milliseconds per face of `Detector.infer` as the daemon calls it, per thread count and batch size.

    ``masks: all`` decodes a mask for every face (every face in an alert: the worst case); ``masks: gated``
    decodes none (no face at the mask gate: the common case of real faces).
    """
    import torch

    from streamguard.model.detector import Detector

    detector = Detector.load(checkpoint, device="cpu")
    previous = torch.get_num_threads()
    rows: list[dict[str, Any]] = []
    try:
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            for batch in batches:
                crops = synthetic_crops(batch, detector.input_size)
                for masks, gate in (("all", None), ("gated", 2.0)):
                    detector.infer(crops, mask_min_p=gate)  # warm-up
                    n, started = 0, time.perf_counter()
                    while n < 2 or time.perf_counter() - started < seconds:
                        detector.infer(crops, mask_min_p=gate)
                        n += 1
                    ms = 1000 * (time.perf_counter() - started) / (n * batch)
                    rows.append({"threads": n_threads, "batch": batch, "masks": masks, "ms_per_face": round(ms, 2),
                                 "faces_per_s": round(1000 / ms, 1)})  # fmt: skip
    finally:
        torch.set_num_threads(previous)
    return rows


def blazeface_ms(clip: Path, frames: int = 30) -> float:
    """Milliseconds per 720p frame of BlazeFace full-range (the daemon's face detector), one thread."""
    from streamguard.datasets.media import read_frames
    from streamguard.vision.detection import FaceDetector

    images = [f.image for f in read_frames(clip, max_frames=frames)]
    with FaceDetector("full_range") as detector:
        detector.detect(images[0])  # warm-up
        started = time.perf_counter()
        for image in images:
            detector.detect(image)
    return 1000 * (time.perf_counter() - started) / len(images)


def follow_ms(clip: Path, frames: int = 30) -> float:
    """Milliseconds per face of `FaceFollower.follow` on the clip's one face.

    Over `frames` frames spread evenly through the clip (50 frames of the 12 s bench clip: about the daemon's
    5 fps sampling); a lost face is detected again, untimed, as the daemon does.
    """
    from streamguard.datasets.media import read_frames
    from streamguard.vision.detection import FaceDetector
    from streamguard.vision.follow import FaceFollower, FollowOptions

    images = [f.image for f in read_frames(clip, max_frames=frames)]
    follower = FaceFollower(FollowOptions(detect_every=len(images) + 1))
    with FaceDetector("full_range") as detector:
        follower.start(images[0], detector.detect(images[0]))
        took, faces = 0.0, 0
        for image in images[1:]:
            started = time.perf_counter()
            moved = follower.follow(image)
            took += time.perf_counter() - started
            if moved is None:
                follower.start(image, detector.detect(image))
            faces += 1
    return 1000 * took / max(faces, 1)


def explain_ms(clip: Path, checkpoint: Path, repeats: int = 10) -> float:
    """Milliseconds one alert update's explanation adds (face mesh, region coverage, words), on the clip's forgery."""
    from streamguard.datasets.media import read_frames
    from streamguard.explain import Explainer
    from streamguard.model.detector import Detector
    from streamguard.types import Frame, Score
    from streamguard.vision.faces import FaceOptions, FaceStage
    from streamguard.vision.tracking import TrackedFace

    detector = Detector.load(checkpoint, device="cpu")
    image = read_frames(clip, max_frames=3)[1].image  # the middle of the clip: its forged third
    stage = FaceStage(FaceOptions(crop_size=detector.input_size))
    explainer = Explainer()
    try:
        frame = Frame("bench", 0, None, None, 0.0, 0.0, image)
        boxes = stage.detect(frame)
        if not boxes:
            raise ValueError(f"{clip}: no face found to explain")
        crop = stage.crops(frame, [TrackedFace(1, boxes[0])])[0]
        p_fake, masks = detector.predict(crop.pixels[None], mask_min_p=None)
        score = Score(face=crop, value=float(p_fake[0]), mask=masks[0], model_version=detector.version)
        explainer.explain(score)  # warm-up: loads the face mesh
        started = time.perf_counter()
        for _ in range(repeats):
            explainer.explain(score)
        return 1000 * (time.perf_counter() - started) / repeats
    finally:
        explainer.close()
        stage.close()


# ---- the daemon ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """One run of the daemon on `streams` realtime sources.

    Attributes:
        streams: Number of sources.
        sampled: Samples picked for analysis (all streams).
        dropped: Samples dropped before analysis (analysis behind).
        analyzed: Samples analysed.
        latency_s: Frame arrival -> score quantiles ``{"p50", "p95", "p99"}`` (histogram interpolation).
        alert_latency_s: Frame arrival -> alert in Redis quantiles, or ``None`` without alerts.
        rss_mb: Resident memory of the process at the end.
        cpu_s: CPU seconds the process used (all threads) in the measured window.
        seconds: Length of the measured window.
        cpu_by_stage: The window's CPU per pipeline stage (`stage_cpu.Stage` values), in core-milliseconds per
            stream and second of video; empty where the kernel has no per-thread counters.
    """

    streams: int
    sampled: int
    dropped: int
    analyzed: int
    latency_s: dict[str, float | None]
    alert_latency_s: dict[str, float | None] | None
    rss_mb: float
    cpu_s: float = math.nan
    seconds: float = math.nan
    cpu_by_stage: dict[str, float] = field(default_factory=dict)

    @property
    def core_ms_per_stream_s(self) -> float:
        """CPU milliseconds one stream costs per second of video (decoding and analysis together)."""
        return 1000.0 * self.cpu_s / (self.seconds * self.streams) if self.streams and self.seconds else math.nan

    @property
    def drop_ratio(self) -> float:
        """Dropped share of the sampled frames."""
        return self.dropped / self.sampled if self.sampled else 0.0

    def sustainable(self, max_drop: float = 0.01, max_p95_s: float = 0.5) -> bool:
        """Whether this load is within the capacity rules (drops <= 1 %, p95 latency <= 500 ms)."""
        p95 = self.latency_s.get("p95")
        return self.analyzed > 0 and self.drop_ratio <= max_drop and p95 is not None and p95 <= max_p95_s


def run_pipeline(
    clips: Sequence[Path],
    streams: int,
    seconds: float,
    model: Path,
    analysis_fps: float,
    warmup_s: float = 2.0,
    torch_threads: int | None = None,
    sections: Mapping[str, Mapping[str, Any]] | None = None,
) -> PipelineRun:
    """Run the daemon in-process on `streams` looping realtime sources for `seconds` after `warmup_s`.

    `sections` overrides settings of the daemon's config sections (``{"faces": {"detect_every": 1}}``), to
    measure a lever against the defaults.
    """
    return asyncio.run(
        _run_pipeline(clips, streams, seconds, model, analysis_fps, warmup_s, torch_threads, sections or {})
    )


async def _run_pipeline(
    clips: Sequence[Path],
    streams: int,
    seconds: float,
    model: Path,
    analysis_fps: float,
    warmup_s: float,
    torch_threads: int | None,
    sections: Mapping[str, Mapping[str, Any]],
) -> PipelineRun:
    from streamguard.config import config_from_overrides
    from streamguard.daemon import Daemon

    sources = [f"s{i}={clips[i % len(clips)]}?loop=1&realtime=1" for i in range(streams)]
    with tempfile.TemporaryDirectory(prefix="streamguard-bench-") as data_dir:
        config = config_from_overrides(None, sources, None, "127.0.0.1:0")
        config = config.model_copy(
            update={
                "data_dir": Path(data_dir),
                "ingest": config.ingest.model_copy(update={"analysis_fps": analysis_fps}),
                "inference": config.inference.model_copy(update={"model": model, "torch_threads": torch_threads}),
            }
        )
        config = config.model_copy(
            update={name: getattr(config, name).model_copy(update=dict(values)) for name, values in sections.items()}
        )
        daemon = Daemon(config)  # the default backend, as `streamguard run` has it (auto: ONNX Runtime on CPU)
        await daemon.start()
        try:
            await asyncio.sleep(warmup_s)
            with StageCpuSampler() as by_stage:
                before, cpu_before = _counts(daemon), _cpu_seconds()
                await asyncio.sleep(seconds)
                after, cpu_s = _counts(daemon), _cpu_seconds() - cpu_before
            registry = daemon.metrics.registry
            latency = histogram_quantiles(registry, "streamguard_e2e_latency_seconds")
            alerts = histogram_quantiles(registry, "streamguard_alert_latency_seconds")
        finally:
            await daemon.stop()
    sampled, dropped, analyzed = (a - b for a, b in zip(after, before, strict=True))
    has_alerts = alerts.get("p50") is not None
    return PipelineRun(
        streams, sampled, dropped, analyzed, latency, alerts if has_alerts else None, rss_mb(), cpu_s, seconds,
        core_ms_per_stream_s(by_stage.seconds(), streams, seconds),
    )  # fmt: skip


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _counts(daemon: Any) -> tuple[int, int, int]:
    stats = [handle.source.stats.snapshot() for handle in daemon.streams.values()]
    analyzed = sum(handle.worker.status.analyzed for handle in daemon.streams.values())
    return sum(s.sampled for s in stats), sum(s.dropped_total for s in stats), analyzed


def histogram_quantiles(registry: Any, name: str, qs: Sequence[float] = (0.5, 0.95, 0.99)) -> dict[str, float | None]:
    """Quantiles of a Prometheus histogram by linear interpolation inside buckets (like `histogram_quantile`)."""
    buckets = sorted(_buckets(registry, name))
    total = buckets[-1][1] if buckets else 0.0
    out: dict[str, float | None] = {}
    for q in qs:
        out[f"p{round(q * 100)}"] = _quantile(buckets, q * total) if total else None
    return out


def _buckets(registry: Any, name: str) -> Iterator[tuple[float, float]]:
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                yield float(sample.labels["le"]), float(sample.value)


def _quantile(buckets: list[tuple[float, float]], rank: float) -> float:
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1.0
            return lower_bound + share * (bound - lower_bound)
        lower_bound, lower_count = bound, count
    return lower_bound


def rss_mb() -> float:
    """Resident memory of this process in MB (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def random_model(folder: Path, variant: str = "proposed_new") -> Path:
    """A randomly initialised checkpoint: speed does not depend on the weights."""
    import torch

    from streamguard.model.checkpoint import CheckpointMeta, save_checkpoint
    from streamguard.model.network import YShapedAutoencoder
    from streamguard.model.variants import get_variant

    path = folder / f"random-{variant}.pt"
    if not path.exists():
        torch.manual_seed(0)
        save_checkpoint(path, YShapedAutoencoder(get_variant(variant)), CheckpointMeta(variant=variant))
    return path


def synthetic_crops(n: int, size: int = 256) -> np.ndarray:
    """Random uint8 crops (throughput does not depend on content)."""
    return np.random.default_rng(0).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def slope_per_hour(samples: list[tuple[float, float]], skip_s: float | None = None) -> float:
    """Least-squares slope of RSS over time after `skip_s` seconds (default: the first fifth of the run).

    The start-up growth (model, pools, first alerts) is left out.
    """
    cutoff = samples[-1][0] / 5 if skip_s is None else skip_s
    kept = [(t, mb) for t, mb in samples if t >= cutoff] or samples
    if len(kept) < 2:
        return 0.0
    mean_t = sum(t for t, _ in kept) / len(kept)
    mean_mb = sum(mb for _, mb in kept) / len(kept)
    var = sum((t - mean_t) ** 2 for t, _ in kept)
    cov = sum((t - mean_t) * (mb - mean_mb) for t, mb in kept)
    return 3600 * cov / var if var else 0.0
