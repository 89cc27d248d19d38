"""WHIP ingest end to end: an aiortc publisher -> daemon -> real redis-server, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from streamguard.config import DaemonConfig
from streamguard.daemon import Daemon
from streamguard.demo.clip import write_demo_clip
from streamguard.model.detector import Detector
from tests.support.daemon_checks import alert_entries, metric_value, wait_for
from tests.support.redis_server import RedisServer
from tests.support.rtsp_server import RtspServer
from tests.support.whip_client import WhipPublisher, loopback_ice

__all__ = ["loopback_ice"]

TOKEN = "whip-test-token"  # noqa: S105 - a test token
GUEST_TOKEN = "guest-token"  # noqa: S105 - a test token
SDP = {"Content-Type": "application/sdp"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def whip_config(tmp_path: Path, redis_url: str, rtsp_url: str, model: Path) -> DaemonConfig:
    return DaemonConfig.model_validate(
        {
            "streams": [
                {"id": "pub", "type": "webrtc"},
                {"id": "pub2", "type": "webrtc"},
                {"id": "cam", "url": rtsp_url},
            ],
            "inference": {"model": str(model), "device": "cpu"},
            "redis": {"url": redis_url},
            "server": {"listen": "127.0.0.1:0"},
            "data_dir": str(tmp_path / "data"),
            "api": {
                "token": TOKEN,
                "max_sdp_bytes": 4096,
                "max_sessions": 1,
                "max_sessions_per_stream": 1,
                "retry_after_s": 3,
                "body_timeout_s": 1.0,
                "webrtc": {"host_addresses": ["127.0.0.1"], "stall_s": 2.0, "connect_timeout_s": 10.0},
            },
        }
    )


async def bad_requests(base: str, offer: str) -> list[tuple[str, int, dict[str, str], str]]:
    """Every kind of refused request once; returns (what, status, headers, body)."""
    cases: list[tuple[str, str, str, dict[str, str], bytes | str]] = [
        ("no token", "POST", "/whip/pub2", SDP, offer),
        ("wrong token", "POST", "/whip/pub2", {**SDP, "Authorization": "Bearer nope"}, offer),
        ("basic auth", "POST", "/whip/pub2", {**SDP, "Authorization": "Basic dXNlcjpwYXNz"}, offer),
        ("garbage SDP", "POST", "/whip/pub2", {**SDP, **AUTH}, "hello, I am not SDP"),
        ("truncated SDP", "POST", "/whip/pub2", {**SDP, **AUTH}, offer[: len(offer) // 3]),
        ("SDP m= line broken", "POST", "/whip/pub2", {**SDP, **AUTH}, "v=0\r\nm=video x\r\n"),
        ("binary body", "POST", "/whip/pub2", {**SDP, **AUTH}, b"\xff\xfe\x00\x01" * 64),
        ("oversized SDP", "POST", "/whip/pub2", {**SDP, **AUTH}, "v=0\r\n" + "a=x-pad:" + "A" * 8192 + "\r\n"),
        ("wrong content type", "POST", "/whip/pub2", {"Content-Type": "application/json", **AUTH}, "{}"),
        ("unknown stream", "POST", "/whip/nosuch", {**SDP, **AUTH}, offer),
        ("RTSP stream", "POST", "/whip/cam", {**SDP, **AUTH}, offer),
        ("second publisher", "POST", "/whip/pub", {**SDP, **AUTH}, offer),
        ("over max_sessions", "POST", "/whip/pub2", {**SDP, **AUTH}, offer),
        ("trickle PATCH", "PATCH", "/whip/pub/abc", {"Content-Type": "application/trickle-ice-sdpfrag", **AUTH}, ""),
        ("unknown session", "DELETE", "/whip/pub/abc", AUTH, ""),
        ("GET on endpoint", "GET", "/whip/pub", AUTH, ""),
    ]
    results = []
    async with aiohttp.ClientSession() as http:

        async def one(case: tuple[str, str, str, dict[str, str], bytes | str]) -> tuple[str, int, dict[str, str], str]:
            what, method, path, headers, body = case
            async with http.request(method, base + path, headers=headers, data=body) as response:
                return what, response.status, dict(response.headers), await response.text()

        results = await asyncio.gather(*(one(case) for case in cases))
    return list(results)


EXPECTED = {
    "no token": 401,
    "wrong token": 401,
    "basic auth": 401,
    "garbage SDP": 400,
    "truncated SDP": 400,
    "SDP m= line broken": 400,
    "binary body": 400,
    "oversized SDP": 413,
    "wrong content type": 415,
    "unknown stream": 404,
    "RTSP stream": 409,
    "second publisher": 409,
    "over max_sessions": 503,
    "trickle PATCH": 405,
    "unknown session": 404,
    "GET on endpoint": 405,
}


def check_refusals(results: list[tuple[str, int, dict[str, str], str]]) -> None:
    for what, status, headers, body in results:
        assert status == EXPECTED[what], (what, status, body)
        if status == 401:
            assert headers["WWW-Authenticate"].startswith("Bearer"), what
        if what in ("second publisher", "over max_sessions"):
            assert headers["Retry-After"] == "3", what
        if what == "trickle PATCH":
            assert headers["Allow"] == "DELETE,OPTIONS", headers


async def test_whip_publisher_is_analysed_alerts_and_bad_requests_are_refused(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer, rtsp_server: RtspServer, loopback_ice: None
) -> None:
    forged = write_demo_clip(tmp_path / "forged.mp4", seconds=6, forged_span=(0.0, 6.0), seed=31)
    write_demo_clip(rtsp_server.media_dir / "clean.mp4", seconds=6, forged_span=None, seed=32)
    config = whip_config(tmp_path, redis_server.url, rtsp_server.url("clean.mp4", loop=True), demo_model_path)
    daemon = Daemon(config, detector=Detector.load(demo_model_path, device="cpu"))
    client = aioredis.from_url(redis_server.url)
    await daemon.start()
    assert daemon.server is not None and daemon.api is not None
    base = daemon.server.url
    publisher = WhipPublisher(f"{base}/whip/pub", forged.path, token=TOKEN)
    try:
        # Publish: 201, the answer, Location and ETag; the answer's candidates are all on loopback.
        assert await publisher.publish() == 201
        assert publisher.location and publisher.location.startswith("/whip/pub/")
        assert publisher.etag and publisher.answer and "a=candidate:" in publisher.answer
        candidates = [line for line in publisher.answer.splitlines() if line.startswith("a=candidate:")]
        assert all(" 127.0.0.1 " in line for line in candidates), candidates
        assert "m=audio" in publisher.answer and "a=inactive" in publisher.answer
        assert "VP8/90000" in publisher.answer

        # Publish -> first score latency: the worker's first frame with a scored face.
        worker = daemon.streams["pub"].worker
        while worker.status.faces == 0:
            assert publisher.posted_at is not None
            assert time.monotonic() - publisher.posted_at < 30, "no face scored within 30 s of the POST"
            await asyncio.sleep(0.01)
        first_score_s = time.monotonic() - publisher.posted_at  # type: ignore[operator]
        print(f"\nWHIP publish -> first score: {first_score_s * 1000:.0f} ms")

        async def pub_alert() -> list[dict[str, str]]:
            return [e for e in await alert_entries(client) if e["stream_id"] == "pub" and e["event"] == "start"]

        starts = await wait_for(pub_alert, within_s=40)
        print(f"WHIP publish -> alert start: {time.monotonic() - publisher.posted_at:.2f} s")  # type: ignore[operator]
        assert float(starts[0]["score"]) >= config.scoring.on_threshold
        state = await client.hgetall("streamguard:stream:pub")
        assert state[b"status"] == b"up" and state[b"url"] == b"whip://pub"

        # Bad requests hammer the endpoint while both streams keep being analysed.
        cam_before = daemon.streams["cam"].worker.status.analyzed
        pub_before = worker.status.analyzed
        offer = publisher.pc.localDescription.sdp  # type: ignore[union-attr]
        for _ in range(5):
            results = await bad_requests(base, offer)
            check_refusals(results)
        for what, status, _, body in results:
            print(f"  {what:<20} -> {status} {body[:100]!r}")
        # An offer trickled slower than api.body_timeout_s: 408, counted, the connection freed.
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = f"POST /whip/pub2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        writer.write((head + "Content-Type: application/sdp\r\nContent-Length: 900\r\n\r\nv=0\r\n").encode())
        assert " 408 " in (await asyncio.wait_for(reader.readline(), 10)).decode()
        writer.close()
        await asyncio.sleep(2.0)
        assert daemon.streams["cam"].worker.status.analyzed > cam_before
        assert worker.status.analyzed > pub_before
        assert len(daemon.api.whip.sessions) == 1
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/metrics") as response:
                exposition = await response.text()
        assert metric_value(exposition, "streamguard_whip_sessions") == 1
        # Five rounds of bad requests, each with a missing and a wrong token.
        assert metric_value(exposition, "streamguard_api_refused_total", reason="unauthorized") >= 10
        assert metric_value(exposition, "streamguard_api_refused_total", reason="slow_client") == 1

        # DELETE ends the session; the stream goes down and waits for the next publisher.
        assert await publisher.delete(base) == 200
        assert not daemon.api.whip.sessions

        async def pub_waiting() -> bool:
            return (await client.hgetall("streamguard:stream:pub")).get(b"status") == b"waiting"

        await wait_for(pub_waiting, within_s=5)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/metrics") as response:
                exposition = await response.text()
                assert metric_value(exposition, "streamguard_stream_up", stream="pub") == 0
                assert metric_value(exposition, "streamguard_whip_sessions") == 0
            async with http.delete(base + publisher.location, headers=AUTH) as response:
                assert response.status == 404

        # A publisher that vanishes without DELETE is torn down after stall_s; the slot is free again.
        vanishing = WhipPublisher(f"{base}/whip/pub", forged.path, token=TOKEN, audio=False, codec="video/H264")
        assert await vanishing.publish() == 201
        assert "H264/90000" in (vanishing.answer or "") and "VP8/90000" not in (vanishing.answer or "")
        analysed = worker.status.analyzed

        async def flowing() -> bool:
            return worker.status.analyzed > analysed + 2

        await wait_for(flowing, within_s=20)
        await vanishing.close()

        async def cleaned_up() -> bool:
            return not daemon.api.whip.sessions  # type: ignore[union-attr]

        await wait_for(cleaned_up, within_s=config.api.webrtc.stall_s + 10)
        await wait_for(pub_waiting, within_s=5)
        again = WhipPublisher(f"{base}/whip/pub", forged.path, token=TOKEN, audio=False)
        assert await again.publish() == 201
        await again.delete(base)
    finally:
        await publisher.close()
        await daemon.stop()
        await client.aclose()


async def test_dynamic_stream_lives_as_long_as_its_session(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer, loopback_ice: None
) -> None:
    clip = write_demo_clip(tmp_path / "clip.mp4", seconds=4, forged_span=None, seed=33)
    config = DaemonConfig.model_validate(
        {
            "inference": {"model": str(demo_model_path), "device": "cpu"},
            "redis": {"url": redis_server.url},
            "server": {"listen": "127.0.0.1:0"},
            "data_dir": str(tmp_path / "data"),
            "api": {"stream_tokens": {"guest": GUEST_TOKEN}, "dynamic_streams": True},
        }
    )
    daemon = Daemon(config, detector=Detector.load(demo_model_path, device="cpu"))
    await daemon.start()
    assert daemon.server is not None
    base = daemon.server.url
    publisher = WhipPublisher(f"{base}/whip/guest", clip.path, token=GUEST_TOKEN, audio=False)
    try:
        assert await WhipPublisher(f"{base}/whip/guest", clip.path, token=TOKEN).publish() == 401
        assert "guest" not in daemon.streams
        assert await publisher.publish() == 201
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/streams/guest") as response:
                described = await response.json()
        assert described["type"] == "webrtc" and described["sessions"] == 1 and described["runtime"] is False

        async def analysed() -> bool:
            return daemon.streams["guest"].worker.status.analyzed > 2

        await wait_for(analysed, within_s=20)
        assert await publisher.delete(base) == 200
        assert "guest" not in daemon.streams
        assert not (config.data_dir / "streams.json").exists()
    finally:
        await publisher.close()
        await daemon.stop()


async def test_media_sockets_stay_in_the_configured_udp_port_range(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer, loopback_ice: None
) -> None:
    import aioice.ice

    original_gather = aioice.ice.Connection.get_component_candidates
    low, high = 47110, 47140
    clip = write_demo_clip(tmp_path / "clip.mp4", seconds=4, forged_span=None, seed=34)
    config = DaemonConfig.model_validate(
        {
            "streams": [{"id": "pub", "type": "webrtc"}],
            "inference": {"model": str(demo_model_path), "device": "cpu"},
            "redis": {"url": redis_server.url},
            "server": {"listen": "127.0.0.1:0"},
            "data_dir": str(tmp_path / "data"),
            "api": {"token": TOKEN, "webrtc": {"udp_port_min": low, "udp_port_max": high}},
        }
    )
    daemon = Daemon(config, detector=Detector.load(demo_model_path, device="cpu"))
    await daemon.start()
    assert daemon.server is not None
    publisher = WhipPublisher(f"{daemon.server.url}/whip/pub", clip.path, token=TOKEN, audio=False)
    try:
        assert await publisher.publish() == 201
        assert publisher.answer is not None
        ports = [int(line.split()[5]) for line in publisher.answer.splitlines() if line.startswith("a=candidate:")]
        assert ports and all(low <= port <= high for port in ports), ports

        async def analysed() -> bool:
            return daemon.streams["pub"].worker.status.analyzed > 2

        await wait_for(analysed, within_s=20)
    finally:
        await publisher.close()
        await daemon.stop()
    assert aioice.ice.Connection.get_component_candidates is original_gather  # restored on stop
