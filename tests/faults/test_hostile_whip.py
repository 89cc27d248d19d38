"""Hostile bitstreams through WHIP: damaged H.264 and VP8 payloads over real RTP into the running daemon.

A publisher (aiortc, loopback) packetizes pre-encoded payloads as they are, half of them mutated (seeded):
the damage reaches the daemon's depacketizer, decoder and source. The daemon must keep serving, the other
WebRTC stream beside it must keep being analysed, and a clean publisher must be able to take the stream over
afterwards. The long file-path version is ``python -m tools.fuzz_media``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from streamguard.config import DaemonConfig
from streamguard.daemon import Daemon
from streamguard.demo.clip import write_demo_clip
from streamguard.model.detector import Detector
from tests.support.daemon_checks import metric_value, wait_for
from tests.support.fuzz import HostilePacketTrack, encoded_packets
from tests.support.redis_server import RedisServer, redis_server
from tests.support.whip_client import WhipPublisher, loopback_ice

__all__ = ["loopback_ice", "redis_server"]

DAMAGE_S = 8.0
ENCODERS = {"video/H264": "libx264", "video/VP8": "libvpx"}


def config_for(tmp_path: Path, redis_url: str, model: Path) -> DaemonConfig:
    return DaemonConfig.model_validate(
        {
            "streams": [{"id": "hostile", "type": "webrtc"}, {"id": "healthy", "type": "webrtc"}],
            "inference": {"model": str(model), "device": "cpu"},
            "redis": {"url": redis_url},
            "server": {"listen": "127.0.0.1:0"},
            "data_dir": str(tmp_path / "data"),
            "api": {"webrtc": {"host_addresses": ["127.0.0.1"], "stall_s": 3.0, "connect_timeout_s": 10.0}},
        }
    )


@pytest.mark.parametrize("codec", sorted(ENCODERS))
async def test_damaged_bitstreams_over_whip_never_hurt_the_daemon_or_the_stream_beside_them(
    codec: str, tmp_path: Path, demo_model_path: Path, redis_server: RedisServer, loopback_ice: None
) -> None:
    # Longer than the whole test: aiortc's MediaPlayer restarts timestamps when it loops, and the daemon then drops
    # the session after stall_s, which would end the stream beside mid-test.
    clip = write_demo_clip(tmp_path / "clean.mp4", seconds=20, forged_span=None, seed=35)
    daemon = Daemon(config_for(tmp_path, redis_server.url, demo_model_path), detector=Detector.load(demo_model_path))
    await daemon.start()
    assert daemon.server is not None
    base = daemon.server.url
    track = HostilePacketTrack(encoded_packets(ENCODERS[codec]), np.random.default_rng(len(codec)))
    hostile = WhipPublisher(f"{base}/whip/hostile", None, audio=False, codec=codec, track=track)
    healthy = WhipPublisher(f"{base}/whip/healthy", clip.path, audio=False)
    recovered = WhipPublisher(f"{base}/whip/hostile", clip.path, audio=False)
    source = daemon.streams["hostile"].source
    worker = daemon.streams["hostile"].worker
    beside = daemon.streams["healthy"].worker
    try:
        assert await healthy.publish() == 201
        assert await hostile.publish() == 201

        async def hostile_decoding() -> bool:
            return source.stats.decoded >= 5

        await wait_for(hostile_decoding, within_s=20)
        analysed_beside = beside.status.analyzed
        await asyncio.sleep(DAMAGE_S)
        stats = source.stats.snapshot()
        print(
            f"\n{codec}: {track.damaged} damaged payloads sent; hostile stream decoded {stats.decoded}, "
            f"sampled {stats.sampled}, errors {stats.errors}; stream beside analysed "
            f"{beside.status.analyzed - analysed_beside} frames meanwhile"
        )
        # The damage went out (fewer when the daemon drops a publisher whose video stopped decoding).
        assert track.damaged >= 20
        # The stream beside keeps (at least half of) its 5 fps analysis rate throughout.
        assert beside.status.analyzed >= analysed_beside + DAMAGE_S * 5 / 2

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with http.get(f"{base}/metrics") as response:
                exposition = await response.text()
        for stream in ("hostile", "healthy"):
            assert metric_value(exposition, "streamguard_worker_restarts_total", stream=stream) == 0

        # Whatever state the damage left the session in, it ends and the stream is free for a clean publisher.
        await hostile.close()

        async def session_gone() -> bool:
            assert daemon.api is not None
            return not any(session.stream_id == "hostile" for session in daemon.api.whip.sessions.values())

        await wait_for(session_gone, within_s=15)
        assert await recovered.publish() == 201
        analysed = worker.status.analyzed

        async def recovered_flowing() -> bool:
            return worker.status.analyzed >= analysed + 3

        await wait_for(recovered_flowing, within_s=30)
    finally:
        await recovered.close()
        await hostile.close()
        await healthy.close()
        await daemon.stop()
