"""``bench --scenario runtimes``: the detector on PyTorch, ONNX Runtime and OpenVINO (fp32, bf16), same checkpoint.

Speed: ms per face and faces per second at several batch sizes, through each backend's batch function as the
daemon calls it (`DetectorEngine`, `CompiledEngine`), with masks for no face (the common case: real faces,
below the mask gate) and for every face. Accuracy: frame and video AUC on the cached crops of a real-deepfake
set (``deepfakes_dev/val``), overall and on its unseen generators, and the difference to PyTorch fp32; a
backend whose AUC moves more than `AUC_TOLERANCE` must not be the default.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.export.exporter import export_graphs
from streamguard.inference.compiled import CompiledEngine, GraphRunner, onnxruntime_runner, openvino_runner
from streamguard.inference.engine import DetectorEngine, InferenceEngine, available_cpus
from streamguard.model.detector import Detector
from streamguard.types import FaceCrop

RUNTIMES = ("torch", "onnxruntime", "openvino", "openvino_bf16")
AUC_TOLERANCE = 0.01
NEVER_GATED = 2.0  # a mask gate no score reaches: scores only
UNSEEN_EXCLUDED = ("ffpp_c40", "reenact_dpe")  # deepfakes_dev's generators seen in training (its README)


def runtime_engines(checkpoint: Path, workdir: Path, mask_min_p: float | None) -> dict[str, InferenceEngine]:
    """Every backend's batch function on `checkpoint` (graphs exported into `workdir`), on all the CPUs."""
    threads = available_cpus()
    detector = Detector.load(checkpoint, device="cpu")
    graphs = export_graphs(checkpoint, workdir / "compiled", detector.version)
    runners: dict[str, Callable[[Path], GraphRunner]] = {
        "onnxruntime": functools.partial(onnxruntime_runner, threads=threads),
        "openvino": functools.partial(openvino_runner, precision="f32", threads=threads),
        "openvino_bf16": functools.partial(openvino_runner, precision="bf16", threads=threads),
    }
    engines: dict[str, InferenceEngine] = {"torch": DetectorEngine(detector, mask_min_p=mask_min_p)}
    for name, runner in runners.items():
        engines[name] = CompiledEngine.load(graphs, runner, detector.version, detector.input_size, mask_min_p)
    return engines


def runtime_throughput(
    checkpoint: Path, workdir: Path, batches: tuple[int, ...], seconds: float
) -> list[dict[str, Any]]:
    """Rows of ``runtime, masks (none|all), batch, ms_per_face, faces_per_s``."""
    rows = []
    for masks, gate in (("none", NEVER_GATED), ("all", None)):
        for name, engine in runtime_engines(checkpoint, workdir, gate).items():
            for batch in batches:
                faces = _crops(batch, engine.input_size)
                ms = _ms_per_batch(engine, faces, seconds)
                speed = {"ms_per_face": round(ms / batch, 3), "faces_per_s": round(1000 * batch / ms, 1)}
                rows.append({"runtime": name, "masks": masks, "batch": batch, **speed})
    return rows


def runtime_auc(checkpoint: Path, workdir: Path, data: Path, cache: Path) -> dict[str, dict[str, float]]:
    """Frame and video AUC of every backend on the cached crops of `data`, and each one's change from torch."""
    from streamguard.evaluate import metrics
    from streamguard.train.monitor import video_level
    from streamguard.train.pipeline import REAL_DEEPFAKE_FRAMES, labelled_crop_set

    engines = runtime_engines(checkpoint, workdir, NEVER_GATED)
    crops = labelled_crop_set(data, cache, REAL_DEEPFAKE_FRAMES, engines["torch"].input_size)
    names = np.array(crops.groups)
    unseen = ~crops.is_fake | ~np.isin(names, UNSEEN_EXCLUDED)
    results: dict[str, dict[str, float]] = {}
    for name, engine in engines.items():
        scores = _scores(engine, crops.crops)
        row: dict[str, float] = {}
        for pool, keep in (("all", np.ones(len(scores), bool)), ("unseen", unseen)):
            labels, values = crops.is_fake[keep], scores[keep]
            sources = [s for s, k in zip(crops.sources, keep, strict=True) if k]
            video_labels, video_scores = video_level(labels, values, sources)
            row[f"{pool}_frame_auc"] = round(metrics.roc_auc(labels, values), 4)
            row[f"{pool}_video_auc"] = round(metrics.roc_auc(video_labels, video_scores), 4)
        results[name] = row
    reference = dict(results["torch"])
    for row in results.values():
        row["max_abs_delta_vs_torch"] = round(max(abs(row[key] - value) for key, value in reference.items()), 4)
    return results


def _scores(engine: InferenceEngine, images: np.ndarray, batch: int = 32) -> np.ndarray:
    out: list[float] = []
    for start in range(0, len(images), batch):
        faces = [_face(i, image) for i, image in enumerate(images[start : start + batch])]
        out.extend(score.value for score in engine.process(faces))
    return np.array(out, np.float64)


def _crops(n: int, size: int) -> list[FaceCrop]:
    rng = np.random.default_rng(n)
    return [_face(i, rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for i in range(n)]


def _face(index: int, pixels: np.ndarray) -> FaceCrop:
    size = pixels.shape[0]
    return FaceCrop("bench", index, index, 0.0, 0.0, (0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 1.0, 1.0), (size, size), 1.0,
                    np.ascontiguousarray(pixels, dtype=np.uint8))  # fmt: skip


def _ms_per_batch(engine: InferenceEngine, faces: list[FaceCrop], seconds: float) -> float:
    engine.process(faces)  # warm-up
    calls, started = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - started < seconds:
        engine.process(faces)
        calls += 1
    return (time.perf_counter() - started) * 1000 / calls
