"""CPU cost of the live pipeline per stream-second under setting variants (issue 17's lever table).

Runs the daemon in-process (`streamguard.bench.scenarios.run_pipeline`) on the bench's camera-like 720p25
clips, once per variant, and reports the CPU the process used per stream and second of video (decoding and
analysis together), with drops and latency. A decode-only variant (analysis at 0.1 fps) gives the decoding
share, so the analysis cost is the difference. CPU time, unlike capacity, barely moves with other load.

    python -m tools.pipeline_levers --streams 4 --seconds 20 --out runs/bench/levers.json
    python -m tools.pipeline_levers --streams 4 --only "decode only" --only "as shipped"   # the CPU split
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streamguard.bench.scenarios import bench_clips, run_pipeline

BEFORE: dict[str, dict[str, Any]] = {
    "faces": {"detect_every": 1},
    "scoring": {"calm_every": 1},
    "inference": {"torch_threads": 2, "backend": "onnxruntime"},
}
"""The settings before the second pass's levers (with ONNX Runtime's spinning threads: `SPINNING`)."""

SPINNING = "before: ONNX Runtime on 2 spinning threads, detect every sample, score every face"

VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "decode only (analysis at 0.1 fps)": {"ingest": {"analysis_fps": 0.1}},
    SPINNING: BEFORE,
    "threads no longer spin": BEFORE,
    "1 inference thread": {**BEFORE, "inference": {"torch_threads": 1}},
    "+ detect every 5th sample": {**BEFORE, "inference": {"torch_threads": 1}, "faces": {"detect_every": 5}},
    "+ calm tracks every 3rd sample (defaults)": {"inference": {"torch_threads": 1}},
    "as shipped (defaults, inference on all cores)": {},
}


def main() -> None:
    """Run every variant and print and write one row each."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--model", type=Path, default=Path("models/streamguard-v2.pt"))
    parser.add_argument("--workdir", type=Path, default=Path("runs/bench"))
    parser.add_argument("--out", type=Path, default=Path("runs/bench/levers.json"))
    parser.add_argument("--only", action="append", default=[], help="run the variants whose name holds this")
    args = parser.parse_args()
    clips = bench_clips(args.workdir / "clips", n=2, seconds=12.0)
    rows = []
    chosen = {name: v for name, v in VARIANTS.items() if not args.only or any(o in name for o in args.only)}
    for name, sections in chosen.items():
        with _spinning(name == SPINNING):
            run = run_pipeline(clips, args.streams, args.seconds, args.model, 5.0, sections=sections)
        row = {
            "variant": name, "sections": sections, "core_ms_per_stream_s": round(run.core_ms_per_stream_s, 1),
            "cpu_by_stage": run.cpu_by_stage, "analyzed": run.analyzed, "sampled": run.sampled, "dropped": run.dropped,
            "latency_p95_s": run.latency_s.get("p95"), "rss_mb": round(run.rss_mb, 1),
        }  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"streams": args.streams, "seconds": args.seconds, "model": str(args.model), "rows": rows}
    args.out.write_text(json.dumps(report, indent=2) + "\n")


@contextlib.contextmanager
def _spinning(on: bool) -> Iterator[None]:
    """Open the daemon's ONNX Runtime sessions with spinning threads (ONNX Runtime's default) while `on`."""
    from streamguard.daemon import core

    original = core.onnxruntime_runner  # type: ignore[attr-defined]
    if on:
        core.onnxruntime_runner = functools.partial(original, spin=True)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        core.onnxruntime_runner = original  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
