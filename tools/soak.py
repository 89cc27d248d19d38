"""The soak: the daemon under load for minutes while cameras drop and Redis restarts once (outside CI).

    .venv/bin/python -m tools.soak --minutes 60 --streams 7 --model models/streamguard-v2.pt --out runs/soak/soak.json

The daemon runs as its own process (`streamguard run`), so its memory is measured alone. RTSP cameras are a
real RTSP server on loopback, killed and restarted twice; Redis is a real redis-server with an append-only
file, restarted once. At the end every alert event the daemon produced must be in Redis exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from streamguard.bench.scenarios import histogram_quantiles, slope_per_hour
from streamguard.bench.stage_cpu import cpu_ticks
from tests.support.redis_process import RedisServer, free_port
from tests.support.rtsp_process import RtspServer


@dataclass(frozen=True, slots=True)
class SoakPlan:
    """When things go wrong during the soak (as fractions of its duration), and for how long.

    Attributes:
        camera_drops: When the RTSP server (every camera) goes away.
        redis_restart: When Redis goes away.
        camera_outage_s: How long the cameras stay away (``--camera-outage-s 300``: a camera gone 5 minutes).
        redis_outage_s: How long Redis stays away (``--redis-outage-s 60``).
    """

    camera_drops: tuple[float, ...] = (0.25, 0.6)
    redis_restart: float = 0.5
    camera_outage_s: float = 5.0
    redis_outage_s: float = 3.0


def run_soak(
    minutes: float,
    streams: int,
    clip: Path,
    model: Path,
    workdir: Path,
    log: Callable[[str], None] = print,
    plan: SoakPlan | None = None,
) -> dict[str, Any]:
    """Run the soak and return RSS samples and slope, events written vs read back, reconnects and errors."""
    workdir.mkdir(parents=True, exist_ok=True)
    redis = RedisServer(workdir=workdir / "redis", appendonly=True).start()
    rtsp = RtspServer(workdir / "rtsp-media")
    daemon: subprocess.Popen[bytes] | None = None
    try:
        shutil.copy(clip, rtsp.media_dir / "cam.mp4")
        rtsp.start()
        port = free_port()
        config = _write_config(workdir, streams, rtsp.url("cam.mp4"), redis.url, model, port)
        daemon_log = workdir / "daemon.log"
        with daemon_log.open("wb") as out:
            daemon = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "streamguard", "run", "--config", str(config), "--log-level", "warning"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait_ready(port)
        cpu_before = _daemon_cpu_s(daemon.pid), _machine_cpu_s(), time.monotonic()
        samples, outages = _drive(minutes * 60, daemon.pid, rtsp, redis, log, plan or SoakPlan())
        load = _load(cpu_before, (_daemon_cpu_s(daemon.pid), _machine_cpu_s(), time.monotonic()))
        metrics = _scrape(port)
        daemon.send_signal(signal.SIGTERM)
        exit_code = daemon.wait(timeout=60)
        events = _read_events(redis.url)
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
        rtsp.stop()
        redis.stop()
    report = _summary(samples, metrics, events, exit_code, daemon_log, streams, minutes)
    report["outages"] = [_outage_report(outage, events) for outage in outages]
    report["load"] = load
    return report


def _daemon_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used, from ``/proc/PID/stat``."""
    return cpu_ticks(Path(f"/proc/{pid}/stat")) / os.sysconf("SC_CLK_TCK")


def _machine_cpu_s() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine since boot (``/proc/stat``: every process, the cameras too)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


def _load(
    before: tuple[float, tuple[float, float], float], after: tuple[float, tuple[float, float], float]
) -> dict[str, float]:
    """How loaded the machine was over the soak: the daemon's cores and the share of every core in use."""
    (daemon_0, (busy_0, total_0), t_0), (daemon_1, (busy_1, total_1), t_1) = before, after
    return {
        "daemon_cores": round((daemon_1 - daemon_0) / (t_1 - t_0), 3),
        "machine_busy_share": round((busy_1 - busy_0) / max(total_1 - total_0, 1e-9), 3),
        "cores": os.cpu_count() or 1,
    }


def _write_config(workdir: Path, streams: int, url: str, redis_url: str, model: Path, port: int) -> Path:
    config = {
        "streams": [{"id": f"cam{i}", "url": url} for i in range(streams)],
        "ingest": {"stall_timeout_s": 3, "open_timeout_s": 3, "read_timeout_s": 3,
                   "backoff_initial_s": 0.5, "backoff_max_s": 4},
        "inference": {"model": str(model), "device": "auto"},
        "redis": {"url": redis_url},
        "server": {"listen": f"127.0.0.1:{port}"},
        "data_dir": str(workdir / "data"),
    }  # fmt: skip
    path = workdir / "soak.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _wait_ready(port: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the daemon was not ready on port {port} within {timeout_s:.0f} s")


@dataclass(frozen=True, slots=True)
class Outage:
    """One injected fault: what went away, and when (Unix time) it went and came back."""

    kind: str
    down_at: float
    up_at: float


def _drive(
    duration_s: float, pid: int, rtsp: RtspServer, redis: RedisServer, log: Callable[[str], None], plan: SoakPlan
) -> tuple[list[tuple[float, float]], list[Outage]]:
    """Sample RSS and inject the planned faults on time.

    RSS is read every second and recorded as the median of each interval (a tenth of the run, at most a
    minute): buffers handed back to the system move it by tens of MB from one second to the next, and a single
    reading per interval would make that noise look like growth or shrinkage.
    """
    interval = min(60.0, duration_s / 10)
    faults = sorted(
        [(f * duration_s, "camera") for f in plan.camera_drops] + [(plan.redis_restart * duration_s, "redis")]
    )
    started = time.monotonic()
    samples: list[tuple[float, float]] = []
    outages: list[Outage] = []
    next_sample, next_reading = interval, 0.0
    readings: list[float] = []
    while (elapsed := time.monotonic() - started) < duration_s:
        if faults and elapsed >= faults[0][0]:
            _, kind = faults.pop(0)
            log(f"  soak t={elapsed:.0f}s: {kind} outage")
            down_at = time.time()
            _outage(
                rtsp if kind == "camera" else redis, plan.camera_outage_s if kind == "camera" else plan.redis_outage_s
            )
            outages.append(Outage(kind, down_at, time.time()))
        if elapsed >= next_reading:
            readings.append(_rss_mb(pid))
            next_reading += 1.0
        if elapsed >= next_sample:
            samples.append((elapsed, statistics.median(readings)))
            readings, next_sample = [], next_sample + interval
        time.sleep(0.2)
    if readings:
        samples.append((time.monotonic() - started, statistics.median(readings)))
    return samples, outages


def _outage(server: RtspServer | RedisServer, seconds: float) -> None:
    server.stop()
    time.sleep(seconds)
    server.start()


def _outage_report(outage: Outage, events: list[dict[str, str]]) -> dict[str, Any]:
    """What the alerts did around one outage: ends as lost when it began, starts once it was over."""

    def count(phase: str, since: float, until: float, reason: str | None = None) -> int:
        return sum(
            e["event"] == phase and since <= float(e["ts"]) < until and (reason is None or e.get("reason") == reason)
            for e in events
        )

    return {
        "kind": outage.kind,
        "seconds": round(outage.up_at - outage.down_at, 1),
        "ended_track_lost_within_30s": count("end", outage.down_at - 1, outage.down_at + 30, "track_lost"),
        "events_during": sum(outage.down_at + 30 <= float(e["ts"]) < outage.up_at for e in events),
        "starts_within_60s_after": count("start", outage.up_at, outage.up_at + 60),
    }


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def _read_events(redis_url: str) -> list[dict[str, str]]:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        entries = cast(list[tuple[str, dict[str, str]]], client.xrange("streamguard:alerts"))
    finally:
        client.close()
    return [dict(fields) for _, fields in entries]


def _metric_sum(body: str, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(s.value for f in text_string_to_metric_families(body) for s in f.samples if s.name == name)


def _summary(
    samples: list[tuple[float, float]],
    metrics: str,
    events: list[dict[str, str]],
    exit_code: int,
    daemon_log: Path,
    streams: int,
    minutes: float,
) -> dict[str, Any]:
    # Events the daemon produced: those counted before the scrape, plus the shutdown ends produced after it.
    produced = _metric_sum(metrics, "streamguard_alerts_total") + sum(e.get("reason") == "shutdown" for e in events)
    ids = [(e["alert_id"], e["event"], e.get("sequence", ""), e["ts"]) for e in events]
    errors = sum(
        " ERROR " in line or "Traceback" in line for line in daemon_log.read_text(errors="replace").splitlines()
    )
    return {
        "minutes": minutes,
        "streams": streams,
        "rss_mb": [[round(t, 1), round(mb, 1)] for t, mb in samples],
        "rss_slope_mb_per_h": round(slope_per_hour(samples), 2),
        "rss_slope_after_10_min_mb_per_h": round(slope_per_hour(samples, skip_s=600.0), 2),
        "frames_analyzed": int(_metric_sum(metrics, "streamguard_frames_analyzed_total")),
        "frames_dropped": int(_metric_sum(metrics, "streamguard_frames_dropped_total")),
        "events_written": int(produced),
        "events_read_back": len(events),
        "duplicate_events": len(ids) - len(set(ids)),
        "end_reasons": dict(Counter(e.get("reason", "") for e in events if e["event"] == "end")),
        "sink_dropped": int(_metric_sum(metrics, "streamguard_sink_dropped_total")),
        "reconnects": int(_metric_sum(metrics, "streamguard_stream_reconnects_total")),
        "stalls": int(_metric_sum(metrics, "streamguard_stream_stalls_total")),
        "error_log_lines": errors,
        "exit_code": exit_code,
        "latency_s": histogram_quantiles(_ScrapedRegistry(metrics), "streamguard_e2e_latency_seconds"),
    }


class _ScrapedRegistry:
    """Adapts a scraped exposition to the ``collect()`` interface `histogram_quantiles` reads."""

    def __init__(self, body: str) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        self._families = list(text_string_to_metric_families(body))

    def collect(self) -> list[Any]:
        return self._families


def main(argv: list[str] | None = None) -> None:
    """Run the soak on a generated 720p25 clip and write its JSON report."""
    from streamguard.bench.scenarios import bench_clips, random_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: random weights)")
    parser.add_argument("--workdir", type=Path, default=Path("runs/soak"))
    parser.add_argument("--out", type=Path, default=Path("runs/soak/soak.json"))
    defaults = SoakPlan()
    parser.add_argument("--camera-outage-s", type=float, default=defaults.camera_outage_s)
    parser.add_argument("--redis-outage-s", type=float, default=defaults.redis_outage_s)
    parser.add_argument("--clip", type=Path, default=None, help="the cameras' clip (default: a generated 720p25 one)")
    args = parser.parse_args(argv)
    plan = SoakPlan(camera_outage_s=args.camera_outage_s, redis_outage_s=args.redis_outage_s)
    # SIGTERM as an exception, so that the servers and the daemon are stopped by the `finally` of `run_soak`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    clip = args.clip or bench_clips(args.workdir / "clips", n=1, seconds=12.0)[0]
    model = args.model or random_model(args.workdir)
    report = run_soak(args.minutes, args.streams, clip, model, args.workdir, plan=plan)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"rss slope {report['rss_slope_mb_per_h']:.1f} MB/h; report {args.out}")


if __name__ == "__main__":
    main()
