"""Local PyTorch vs Triton on loopback: parity, ms per batch and faces/s at several batch sizes (outside CI).

    .venv/bin/python -m tools.triton_bench --checkpoint models/streamguard-v2.pt --out runs/triton/bench.json

Exports the checkpoint as a Triton repository, serves it with the test `tritonserver` (CPU, ONNX Runtime
in its Python backend, `tests.support.triton_server`) and scores the same random crops through the local
`DetectorEngine` and the `TritonEngine`, one batch at a time, as the daemon's micro-batcher does. Masks are
requested for every face (the worst case: the daemon asks only for faces above the alert's off threshold), and
compared with no mask at all (one request) and with scores and masks in a single request (an output flag).
On a GPU machine, point `--url` at a production Triton serving an ``--gpu`` export instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.config import TritonConfig
from streamguard.export.triton import TritonModelOptions, write_triton_repository
from streamguard.inference.engine import DetectorEngine, configure_torch_threads
from streamguard.inference.triton import TritonEngine
from streamguard.model.detector import Detector
from streamguard.model.served import INPUT_NAME, MASK_OUTPUT, SCORE_OUTPUT
from streamguard.types import FaceCrop, Score
from tests.support.crops import random_crop
from tests.support.triton_server import running_triton_server, served_repository


def crops(n: int, size: int, seed: int) -> list[FaceCrop]:
    """`n` random crops of `size` pixels."""
    return [random_crop(i, seed * 1000 + i, size, stream_id="bench") for i in range(n)]


def timed(
    process: Callable[[Sequence[FaceCrop]], list[Score]], faces: list[FaceCrop], repeats: int
) -> dict[str, float]:
    """Median and p90 ms per batch over `repeats` calls (after one warm-up), and faces per second."""
    process(faces)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        process(faces)
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    return {
        "ms_per_batch_median": round(median, 2),
        "ms_per_batch_p90": round(sorted(times)[int(0.9 * (len(times) - 1))], 2),
        "faces_per_s": round(len(faces) / (median / 1000), 1),
    }


def one_request(url: str, faces: Sequence[FaceCrop]) -> list[Score]:
    """The alternative to the engine's two requests: scores and masks of every face in one (the output flag)."""
    import tritonclient.grpc as grpc

    client = _clients.setdefault(url, grpc.InferenceServerClient(url))
    images = grpc.InferInput(INPUT_NAME, [len(faces), faces[0].pixels.shape[0], faces[0].pixels.shape[1], 3], "UINT8")
    images.set_data_from_numpy(np.stack([face.pixels for face in faces]))
    outputs = [grpc.InferRequestedOutput(SCORE_OUTPUT), grpc.InferRequestedOutput(MASK_OUTPUT)]
    result = client.infer("streamguard", [images], outputs=outputs)
    p_fake, masks = result.as_numpy(SCORE_OUTPUT).reshape(-1), result.as_numpy(MASK_OUTPUT)
    return [Score(face, float(p_fake[i]), masks[i], "triton") for i, face in enumerate(faces)]


_clients: dict[str, Any] = {}


def bench(checkpoint: Path, batches: list[int], repeats: int, url: str | None, work: Path) -> dict[str, Any]:
    """Parity and speed of both backends; starts a local test Triton unless `url` names one."""
    configure_torch_threads(None)
    local = DetectorEngine(Detector.load(checkpoint, device="cpu"))
    report: dict[str, Any] = {"checkpoint": str(checkpoint), "version": local.version, "batches": {}}

    def run(triton_url: str) -> None:
        remote = TritonEngine(TritonConfig(url=triton_url))
        remote.connect()
        parity_faces = crops(16, local.input_size, seed=1)
        here, there = local.process(parity_faces), remote.process(parity_faces)
        report["parity_max_abs_p_fake"] = max(abs(a.value - b.value) for a, b in zip(here, there, strict=True))
        report["parity_max_abs_mask"] = max(
            float(np.abs(a.mask - b.mask).max()) for a, b in zip(here, there, strict=True)
        )
        scores_only = TritonEngine(TritonConfig(url=triton_url), mask_min_p=2.0)  # no face reaches the gate
        scores_only.connect()
        for size in batches:
            faces = crops(size, local.input_size, seed=size)
            report["batches"][size] = {
                "torch_local": timed(local.process, faces, repeats),
                "triton_loopback": timed(remote.process, faces, repeats),
                "triton_scores_only": timed(scores_only.process, faces, repeats),
                "triton_one_request_both_outputs": timed(lambda f: one_request(triton_url, f), faces, repeats),
            }
            print(size, report["batches"][size], flush=True)
        scores_only.close()
        remote.close()

    if url is not None:
        run(url)
        return report
    exported = work / "exported"
    write_triton_repository(checkpoint, exported, TritonModelOptions(max_batch=max(batches), max_delay_ms=0.0))
    with running_triton_server(served_repository(exported, work / "served"), work / "triton") as server:
        run(server.grpc_url)
    return report


def main() -> None:
    """Run the comparison and write its JSON report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("models/streamguard-v2.pt"))
    parser.add_argument("--batch", type=int, action="append", default=None, help="Batch sizes (default 1, 8, 32).")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--url", default=None, help="A running Triton's gRPC HOST:PORT (default: start one here).")
    parser.add_argument("--out", type=Path, default=Path("runs/triton/bench.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        report = bench(args.checkpoint, args.batch or [1, 8, 32], args.repeats, args.url, Path(work))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
