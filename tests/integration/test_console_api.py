"""The console's HTTP surface without a browser: auth modes, the resumable alerts feed, images, acks, hardening."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from streamguard.config import DaemonConfig
from streamguard.daemon import Daemon
from streamguard.model.detector import Detector
from streamguard.sinks.encoding import crop_jpeg
from tests.support.daemon_checks import metric_value, wait_for
from tests.support.redis_server import RedisServer

TOKEN = "console-api-token"  # noqa: S105 - a test token
KEY = "streamguard:alerts"


def config(tmp_path: Path, redis_url: str, model: Path, *, token: str | None, **console: Any) -> DaemonConfig:
    api: dict[str, Any] = {"token": token} if token else {}
    return DaemonConfig.model_validate(
        {
            "inference": {"model": str(model), "device": "cpu"},
            "redis": {"url": redis_url},
            "server": {"listen": "127.0.0.1:0"},
            "data_dir": str(tmp_path / "data"),
            "api": api,
            "console": {"backlog": 2, "max_feeds": 2, **console},
        }
    )


@pytest.fixture
async def running(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Daemon, str, aioredis.Redis]]:
    monkeypatch.delenv("STREAMGUARD_API_TOKEN", raising=False)
    daemon = Daemon(
        config(tmp_path, redis_server.url, demo_model_path, token=TOKEN), detector=detector(demo_model_path)
    )
    client = aioredis.from_url(redis_server.url)
    await daemon.start()
    assert daemon.server is not None
    try:
        yield daemon, daemon.server.url, client
    finally:
        await daemon.stop()
        await client.aclose()


def detector(path: Path) -> Detector:
    return Detector.load(path, device="cpu")


async def add_alert(client: aioredis.Redis, alert_id: str, event: str, **fields: str) -> str:
    entry: dict[FieldT, EncodableT] = {
        "event": event,
        "alert_id": alert_id,
        "stream_id": "cam",
        "track_id": "1",
        "sequence": "0",
    }
    entry.update(**fields)  # later fields win, as with {**base, **fields}
    entry_id: Any = await client.xadd(KEY, entry)
    return str(entry_id.decode())


async def login(http: aiohttp.ClientSession, base: str, token: str = TOKEN) -> int:
    async with http.post(f"{base}/console/login", json={"operator": "ops", "token": token}) as response:
        return response.status


async def read_events(
    http: aiohttp.ClientSession, url: str, n: int, headers: dict[str, str] | None = None
) -> list[Any]:
    """The first `n` alert events of the SSE feed (ids and data)."""
    events: list[Any] = []
    async with http.get(url, headers=headers or {}) as response:
        assert response.status == 200 and response.content_type == "text/event-stream"
        current: dict[str, str] = {}
        while len(events) < n:
            line = (await asyncio.wait_for(response.content.readline(), timeout=10)).decode().rstrip("\n")
            if not line:
                if "data" in current:
                    events.append((current["id"], json.loads(current["data"])))
                current = {}
            elif not line.startswith(":") and ":" in line:
                name, _, value = line.partition(":")
                current[name] = value.strip()
    return events


async def test_login_is_required_and_the_feed_replays_then_resumes_after_the_last_id(
    running: tuple[Daemon, str, aioredis.Redis],
) -> None:
    daemon, base, client = running
    first = [await add_alert(client, f"old-{i}", "start", opened_at="1.0") for i in range(3)]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"] == "/login"
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        async with http.get(f"{base}/console/api/streams") as response:
            assert response.status == 401
        assert await login(http, base, "wrong") == 401
        assert await login(http, base) == 204
        async with http.get(f"{base}/console/api/session") as response:
            assert (await response.json())["operator"] == "ops"

        # A fresh connection replays the backlog (2 here) and follows new entries.
        feed = asyncio.create_task(read_events(http, f"{base}/console/api/alerts/events", 3))
        await asyncio.sleep(0.5)
        new = await add_alert(client, "new-1", "start")
        events = await feed
        assert [e[0] for e in events] == [*first[1:], new]
        assert events[2][1]["alert_id"] == "new-1" and events[2][1]["entry_id"] == new

        # Reconnecting with Last-Event-ID resumes right after it: nothing lost, nothing repeated.
        resumed = await read_events(http, f"{base}/console/api/alerts/events", 2, {"Last-Event-ID": first[0]})
        assert [e[0] for e in resumed] == first[1:]

        # Feeds are bounded (each holds a Redis connection); closed ones free their slot within a blocking read.
        async def no_feeds() -> bool:
            return not daemon.console._feeds  # type: ignore[union-attr]

        await wait_for(no_feeds, within_s=5)
        async with http.get(f"{base}/console/api/alerts/events", headers={"Last-Event-ID": "nonsense"}) as response:
            assert response.status == 400

        async with (
            http.get(f"{base}/console/api/alerts/events") as one,
            http.get(f"{base}/console/api/alerts/events") as two,
        ):
            assert one.status == two.status == 200
            async with http.get(f"{base}/console/api/alerts/events") as three:
                assert three.status == 503


async def test_alert_detail_images_history_and_acknowledgement(running: tuple[Daemon, str, aioredis.Redis]) -> None:
    _daemon, base, client = running
    crop = crop_jpeg(np.full((32, 32, 3), 90, np.uint8))
    await client.set("streamguard:crop:a1:0", crop)
    await client.set("streamguard:history:a1", json.dumps([[10.0, 0.2], [11.0, 0.8]]))
    await add_alert(client, "a1", "start", crop_key="streamguard:crop:a1:0", history_key="streamguard:history:a1",
                    peak_score="0.9", score="0.8", opened_at="11.0", model="m1")  # fmt: skip
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await login(http, base) == 204
        async with http.get(f"{base}/console/api/alerts/a1") as response:
            detail = await response.json()
        assert detail["state"] == "open" and detail["model"] == "m1" and detail["history"] == [[10.0, 0.2], [11.0, 0.8]]
        assert detail["images"]["mask"] is None
        async with http.get(base + detail["images"]["crop"]) as response:
            assert response.status == 200 and await response.read() == crop
        async with http.get(f"{base}/console/api/alerts/missing") as response:
            assert response.status == 404

        ack_url = f"{base}/console/api/alerts/a1/ack"
        async with http.post(
            ack_url, json={"action": "ack", "note": "ok"}, headers={"Origin": "http://evil.example"}
        ) as r:
            assert r.status == 403  # another site's page cannot act
        async with http.post(ack_url, json={"action": "explode"}) as response:
            assert response.status == 422
        async with http.post(ack_url, json={"action": "dismiss", "note": " false positive "}) as response:
            assert response.status == 201
            entry_id = (await response.json())["entry_id"]
    raw: Any = await client.xrange(KEY, min=entry_id, max=entry_id)
    fields = {k.decode(): v.decode() for k, v in raw[0][1].items()}
    assert fields["event"] == "dismiss" and fields["by"] == "ops" and fields["note"] == "false positive"
    assert fields["alert_id"] == "a1" and fields["stream_id"] == "cam"


async def test_static_files_only_and_unknown_streams(running: tuple[Daemon, str, aioredis.Redis]) -> None:
    _daemon, base, _client = running
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await login(http, base) == 204
        async with http.get(f"{base}/console/static/console.js") as response:
            assert response.status == 200 and "javascript" in response.content_type
        for name in ("..%2Fapp.py", "app.py", ".hidden.js", "missing.js"):
            async with http.get(f"{base}/console/static/{name}") as response:
                assert response.status == 404, name
        async with http.get(f"{base}/console/api/streams/ghost/preview.jpg") as response:
            assert response.status == 404


async def test_failed_logins_are_throttled_per_address_and_counted(running: tuple[Daemon, str, aioredis.Redis]) -> None:
    daemon, base, _client = running
    limit = daemon.config.console.login_failures_per_minute
    async with aiohttp.ClientSession() as http:
        statuses = [await login(http, base, f"guess-{i}") for i in range(limit + 2)]
        assert statuses == [401] * limit + [429, 429]
        assert await login(http, base) == 429  # locked out for the window, even with the right token
        async with http.post(f"{base}/console/login", json={"operator": "ops", "token": TOKEN}) as response:
            assert 1 <= int(response.headers["Retry-After"]) <= 60
        async with http.get(f"{base}/metrics") as response:
            assert metric_value(await response.text(), "streamguard_api_refused_total", reason="rate_limited") == 4


@pytest.mark.parametrize("read_only", [False, True])
async def test_without_a_token_the_console_is_refused_or_read_only(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, read_only: bool
) -> None:
    monkeypatch.delenv("STREAMGUARD_API_TOKEN", raising=False)
    cfg = config(tmp_path, redis_server.url, demo_model_path, token=None, read_only_without_token=read_only)
    daemon = Daemon(cfg, detector=detector(demo_model_path))
    await daemon.start()
    assert daemon.server is not None
    client = aioredis.from_url(redis_server.url)
    try:
        await add_alert(client, "ro-1", "start")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{daemon.server.url}/", allow_redirects=False) as response:
                assert response.status == (200 if read_only else 403)
            async with http.get(f"{daemon.server.url}/console/api/session") as response:
                assert response.status == (200 if read_only else 401)
                if read_only:
                    assert (await response.json())["read_only"] is True
            async with http.post(f"{daemon.server.url}/console/api/alerts/ro-1/ack", json={"action": "ack"}) as r:
                assert r.status == (403 if read_only else 401)
            assert await login(http, daemon.server.url) == 404
    finally:
        await daemon.stop()
        await client.aclose()
