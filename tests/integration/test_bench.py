"""`streamguard bench --quick` produces a well-formed report (no timing assertions: figures are machine facts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REQUIRED = (
    "machine", "decode_ceiling_streams", "pipeline_streams", "ratio", "latency_p50_s", "latency_p95_s",
    "latency_p95_s_loaded", "alert_latency_p95_s", "mb_per_stream", "model_faces_per_s",
    "model_ms_per_face_1core_b8",
)  # fmt: skip


def test_quick_bench_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "streamguard", "bench", "--quick", "--out", str(out), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(REQUIRED) <= set(report)
    assert report["machine"]["cores_usable"] >= 1 and report["machine"]["cpu"]
    for key in ("decode_ceiling_streams", "latency_p50_s", "latency_p95_s", "model_faces_per_s",
                "model_ms_per_face_1core_b8"):  # fmt: skip
        assert isinstance(report[key], float) and report[key] > 0, key
    assert isinstance(report["pipeline_streams"], int) and report["pipeline_streams"] >= 1
    assert report["ratio"] == round(report["pipeline_streams"] / report["decode_ceiling_streams"], 3)
    search = report["details"]["pipeline"]["search"]
    assert [r["streams"] for r in search] == list(range(1, len(search) + 1))
    assert all(r["analyzed"] > 0 and 0 <= r["drop_ratio"] <= 1 for r in search)
    rows = report["details"]["model"]["rows"]
    assert {r["setting"] for r in rows} >= {"fp32", "fp32_contiguous", "bf16"}
    assert report["model_faces_per_s"] == max(r["faces_per_s"] for r in rows if "faces_per_s" in r)
    assert "| decode ceiling" in run.stdout
