"""Hostile media through WHIP, the long run: damaged H.264/VP8 publishers against a daemon for minutes (outside CI).

    .venv/bin/python -m tools.fuzz_whip --minutes 2 --out runs/fuzz/whip.json

For each codec, a hostile publisher sends seeded damaged payloads (`tests.support.fuzz.HostilePacketTrack`)
to one WebRTC stream while a clean publisher feeds the stream beside it. Whenever the daemon ends the hostile
session (a decoder that stopped producing frames is dropped after ``api.webrtc.stall_s``) the publisher
comes back with a new seed. The report counts sessions and damaged payloads, the frames the stream beside
analysed, worker restarts, and this process's resident memory (the daemon runs in it) along the way.

The clean publisher loops a 4 s clip with aiortc's `MediaPlayer`, which restarts timestamps at each pass; the
daemon then sees no new video and ends the session after ``stall_s``, and the publisher comes back (counted in
``healthy_sessions``): the stream beside is up about 4 s in 7, analysed at full rate while up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import aioice.ice
import numpy as np

from streamguard.bench.scenarios import random_model, rss_mb
from streamguard.config import DaemonConfig
from streamguard.daemon import Daemon
from streamguard.demo.clip import write_demo_clip
from streamguard.model.detector import Detector
from tests.support.fuzz import HostilePacketTrack, encoded_packets
from tests.support.redis_process import RedisServer

ENCODERS = {"video/H264": "libx264", "video/VP8": "libvpx"}
SESSION_MAX_S = 30.0
RUN_STARTED = time.monotonic()


async def fuzz_whip(minutes: float, seed: int, work: Path, model: Path) -> dict[str, Any]:
    """Run the hostile publishers for `minutes` per codec; returns the report."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # loopback only
    redis = RedisServer(workdir=work / "redis").start()
    config = DaemonConfig.model_validate(
        {
            "streams": [{"id": "hostile", "type": "webrtc"}, {"id": "healthy", "type": "webrtc"}],
            "inference": {"model": str(model), "device": "cpu"},
            "redis": {"url": redis.url},
            "server": {"listen": "127.0.0.1:0"},
            "data_dir": str(work / "data"),
            "api": {"webrtc": {"host_addresses": ["127.0.0.1"], "stall_s": 3.0, "connect_timeout_s": 10.0}},
        }
    )
    clip = write_demo_clip(work / "clean.mp4", seconds=4, forged_span=None, seed=35).path
    daemon = Daemon(config, detector=Detector.load(model, device="cpu"))
    await daemon.start()
    assert daemon.server is not None and daemon.api is not None  # noqa: S101 - started above
    base = daemon.server.url
    report: dict[str, Any] = {"minutes_per_codec": minutes, "seed": seed, "codecs": {}, "rss_mb": []}
    healthy = asyncio.create_task(_keep_publishing(daemon, base, clip, report))
    try:
        for codec in sorted(ENCODERS):
            report["codecs"][codec] = await _one_codec(daemon, base, codec, minutes * 60, seed, report["rss_mb"])
        report["worker_restarts"] = {stream: handle.restarts for stream, handle in daemon.streams.items()}
    finally:
        healthy.cancel()
        await asyncio.gather(healthy, return_exceptions=True)
        await daemon.stop()
        redis.stop()
    return report


async def _keep_publishing(daemon: Daemon, base: str, clip: Path, report: dict[str, Any]) -> None:
    """The clean publisher beside the hostile one; if the daemon drops its session, it comes back (counted)."""
    from tests.support.whip_client import WhipPublisher

    report["healthy_sessions"] = 0
    while True:
        publisher = WhipPublisher(f"{base}/whip/healthy", clip, audio=False)
        try:
            if await publisher.publish() == 201:
                report["healthy_sessions"] += 1
                await _while_session_live(daemon, time.monotonic() + 24 * 3600, "healthy")
        finally:
            await publisher.close()
        await asyncio.sleep(0.5)


async def _one_codec(
    daemon: Daemon, base: str, codec: str, seconds: float, seed: int, rss: list[list[float]]
) -> dict[str, Any]:
    from tests.support.whip_client import WhipPublisher

    payloads = encoded_packets(ENCODERS[codec])
    beside = daemon.streams["healthy"].worker
    analysed_before = beside.status.analyzed
    sessions = damaged = refused = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        track = HostilePacketTrack(payloads, np.random.default_rng([seed, len(codec), sessions]))
        publisher = WhipPublisher(f"{base}/whip/hostile", None, audio=False, codec=codec, track=track)
        if await publisher.publish() != 201:
            refused += 1  # the last session is still being torn down
            await asyncio.sleep(1.0)
            continue
        sessions += 1
        await _while_session_live(daemon, min(deadline, time.monotonic() + SESSION_MAX_S))
        damaged += track.damaged
        await publisher.close()
        rss.append([round(time.monotonic() - RUN_STARTED), round(rss_mb(), 1)])  # after each hostile session
        await _while_session_live(daemon, time.monotonic() + 60.0)
    return {
        "sessions": sessions,
        "refused_while_closing": refused,
        "damaged_payloads": damaged,
        "analysed_beside_per_s": round((beside.status.analyzed - analysed_before) / seconds, 2),
        "daemon_sessions_now": len(daemon.api.whip.sessions) if daemon.api else None,
    }


async def _while_session_live(daemon: Daemon, until: float, stream_id: str = "hostile") -> None:
    """Poll (twice a second) until the stream has no session or `until` (monotonic) has come."""
    for _ in range(int(max(0.0, until - time.monotonic()) * 2)):
        if not _session_live(daemon, stream_id):
            return
        await asyncio.sleep(0.5)


def _session_live(daemon: Daemon, stream_id: str) -> bool:
    return daemon.api is not None and any(s.stream_id == stream_id for s in daemon.api.whip.sessions.values())


def main() -> None:
    """Run the WHIP fuzz and write its JSON report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0, help="Minutes of hostile publishing per codec.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: random weights)")
    parser.add_argument("--out", type=Path, default=Path("runs/fuzz/whip.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("streamguard.api.whip").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as work:
        model = args.model or random_model(Path(work))
        report = asyncio.run(fuzz_whip(args.minutes, args.seed, Path(work), model))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
