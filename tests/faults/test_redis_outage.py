"""Redis goes away (SIGKILL) while alerts keep coming: nothing is lost silently, nothing is written twice."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TypedDict, cast

import numpy as np
import pytest
import redis.asyncio as aioredis

from streamguard.sinks.encoding import AlertEntry, decode_mask_png
from streamguard.sinks.metrics import Metrics
from streamguard.sinks.redis_sink import RedisSink, marker_key
from streamguard.types import AlertPhase, EndReason
from tests.support.alert_events import disk_mask, make_event, wait_until
from tests.support.redis_server import RedisServer, StreamEntries, running_redis_server

PREFIX = "sgfault"


class RetryOptions(TypedDict):
    """`RedisSink`'s retry keywords."""

    retry_initial_s: float
    retry_max_s: float


FAST_RETRY: RetryOptions = {"retry_initial_s": 0.05, "retry_max_s": 0.5}


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server with an fsync-always AOF, so a SIGKILL loses nothing it acknowledged."""
    with running_redis_server(workdir=tmp_path / "redis", appendonly=True) as server:
        yield server


@pytest.fixture
async def client(durable_redis: RedisServer) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.from_url(durable_redis.url)
    yield connection
    await connection.aclose()


async def alert_ids(client: aioredis.Redis) -> list[str]:
    entries = cast(StreamEntries, await client.xrange(f"{PREFIX}:alerts"))
    return [AlertEntry.from_fields(fields).alert_id for _id, fields in entries]


def sample(metrics: Metrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name)


async def test_outage_spools_then_delivers_every_event_once_in_order(
    durable_redis: RedisServer, client: aioredis.Redis
) -> None:
    metrics = Metrics()
    sink = RedisSink(durable_redis.url, prefix=PREFIX, metrics=metrics, **FAST_RETRY)
    await sink.start()
    for n in range(5):
        sink.publish_alert(make_event(alert_id=f"e{n:03d}"))
    assert await sink.flush(10)

    durable_redis.kill()
    depths = []
    for n in range(5, 35):  # ~3 s of alerts while Redis is dead
        sink.publish_alert(make_event(alert_id=f"e{n:03d}"))
        await asyncio.sleep(0.1)
        depths.append(sink.spool_depth)
    await wait_until(lambda: sink.spool_depth == 30 and not sink.reachable)
    assert depths == sorted(depths), "the spool only grows while Redis is down"
    assert depths[-1] == 30
    assert sample(metrics, "streamguard_sink_spool_depth") == 30
    assert not await sink.flush(0.2)

    durable_redis.restart()
    assert await sink.flush(15)
    assert sink.reachable
    assert await alert_ids(client) == [f"e{n:03d}" for n in range(35)]
    assert sample(metrics, "streamguard_sink_spool_depth") == 0
    assert sample(metrics, "streamguard_sink_published_total") == 35
    assert sample(metrics, "streamguard_sink_dropped_total") == 0
    newest = cast(StreamEntries, await client.xrevrange(f"{PREFIX}:alerts", count=1))
    last = AlertEntry.from_fields(newest[0][1])
    png = cast(bytes | None, await client.get(last.mask_key))  # no decode_responses: bytes
    assert png is not None
    assert np.abs(decode_mask_png(png) - disk_mask()).max() <= 0.5 / 255 + 1e-6
    await sink.close()


async def test_overflow_while_down_drops_only_the_oldest_and_counts_them(
    durable_redis: RedisServer, client: aioredis.Redis
) -> None:
    metrics = Metrics()
    sink = RedisSink(durable_redis.url, prefix=PREFIX, metrics=metrics, spool_max_events=10, **FAST_RETRY)
    await sink.start()
    durable_redis.kill()
    for n in range(25):
        sink.publish_alert(make_event(alert_id=f"e{n:03d}"))
        if n % 4 == 0:
            await asyncio.sleep(0.01)  # let the encoder run: drops happen in the spool and before encoding
    await wait_until(lambda: sink.spool_depth == 10 and sink.dropped == 15)
    assert sample(metrics, "streamguard_sink_dropped_total") == 15
    assert sample(metrics, "streamguard_sink_spool_depth") == 10

    durable_redis.restart()
    assert await sink.flush(15)
    await sink.close()
    assert await alert_ids(client) == [f"e{n:03d}" for n in range(15, 25)]
    assert sample(metrics, "streamguard_sink_published_total") == 10
    assert sample(metrics, "streamguard_sink_dropped_total") == 15


OUTAGE_S = float(os.environ.get("STREAMGUARD_OUTAGE_S", "15"))
"""Length of the long outage: 15 s in the suite; ``STREAMGUARD_OUTAGE_S=60`` (or more) for the long version."""


async def test_a_long_outage_past_the_spools_bytes_drops_only_the_oldest_counted_and_delivers_the_rest(
    durable_redis: RedisServer, client: aioredis.Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rate_hz, kept = 10, 60  # events published a second while Redis is down; events the byte bound holds
    probe_metrics = Metrics()
    probe = RedisSink(durable_redis.url, prefix="probe", metrics=probe_metrics, **FAST_RETRY)
    await probe.start()
    durable_redis.kill()
    probe.publish_alert(make_event(alert_id="probe"))
    await wait_until(lambda: (sample(probe_metrics, "streamguard_sink_spool_bytes") or 0) > 0)
    event_bytes = int(sample(probe_metrics, "streamguard_sink_spool_bytes") or 0)
    await probe.close(timeout_s=0.1)

    metrics = Metrics()
    sink = RedisSink(
        durable_redis.url, prefix=PREFIX, metrics=metrics, spool_path=tmp_path / "spool.jsonl",
        spool_max_bytes=kept * event_bytes + event_bytes // 2, **FAST_RETRY,
    )  # fmt: skip
    await sink.start()
    total = int(OUTAGE_S * rate_hz)
    for n in range(total):
        sink.publish_alert(make_event(alert_id=f"e{n:05d}"))
        await asyncio.sleep(1 / rate_hz)
    await wait_until(lambda: sink.spool_depth == kept and sink.dropped == total - kept)
    assert (sample(metrics, "streamguard_sink_spool_bytes") or 0) <= kept * event_bytes + event_bytes // 2
    assert (tmp_path / "spool.jsonl").stat().st_size <= 3.5 * kept * event_bytes  # the disk copy is bounded too
    assert "dropped the oldest pending event" in caplog.text  # logged, never silent

    durable_redis.restart()
    assert await sink.flush(30)
    await sink.close()
    assert await alert_ids(client) == [f"e{n:05d}" for n in range(total - kept, total)]
    assert sample(metrics, "streamguard_sink_published_total") == kept
    assert sample(metrics, "streamguard_sink_dropped_total") == total - kept


async def test_close_while_down_keeps_events_for_the_next_sink(
    durable_redis: RedisServer, client: aioredis.Redis, tmp_path: Path
) -> None:
    spool_path = tmp_path / "state" / "spool.jsonl"
    durable_redis.kill()
    first = RedisSink(durable_redis.url, prefix=PREFIX, spool_path=spool_path, **FAST_RETRY)
    await first.start()
    assert not first.reachable
    for n in range(8):
        first.publish_alert(make_event(alert_id=f"e{n:03d}", with_peak=n % 2 == 0))
    await first.close(timeout_s=0.3)  # some events may still be waiting for encoding: close keeps them too
    assert first.dropped == 0
    lines = [json.loads(line) for line in spool_path.read_text().splitlines()]
    assert [line["fields"]["alert_id"] for line in lines if line["op"] == "add"] == [f"e{n:03d}" for n in range(8)]

    second = RedisSink(durable_redis.url, prefix=PREFIX, spool_path=spool_path, **FAST_RETRY)
    assert second.spool_depth == 8
    await second.start()
    await asyncio.sleep(0.3)  # still down: nothing may be lost meanwhile
    assert second.spool_depth == 8
    durable_redis.restart()
    assert await second.flush(15)
    await second.close()
    assert await alert_ids(client) == [f"e{n:03d}" for n in range(8)]
    stream = cast(StreamEntries, await client.xrange(f"{PREFIX}:alerts"))
    entries = [AlertEntry.from_fields(f) for _id, f in stream]
    for n, entry in enumerate(entries):
        if n % 2 == 0:
            assert await client.exists(entry.mask_key, entry.overlay_key) == 2
        else:
            assert entry.mask_key == ""
    assert spool_path.read_text() == ""


async def test_a_run_killed_after_exec_but_before_its_spool_commit_is_not_written_twice(
    durable_redis: RedisServer, client: aioredis.Redis, tmp_path: Path
) -> None:
    """SIGKILL between Redis applying a batch and the spool file recording it: the next run on the same spool
    file finds the batch's marker and writes only what Redis never got."""
    spool_path = tmp_path / "spool.jsonl"
    first = RedisSink(durable_redis.url, prefix=PREFIX, spool_path=spool_path, **FAST_RETRY)
    durable_redis.kill()
    await first.start()
    for n in range(5):
        first.publish_alert(make_event(alert_id=f"e{n:03d}"))
    await wait_until(lambda: first.spool_depth == 5 and spool_path.read_text().count("\n") == 5)
    await first.close(timeout_s=0.1)  # the five stay in the file, as after a crash
    durable_redis.restart()
    # What the killed run's last EXEC did before the kill: e000..e002 and the marker, in one transaction.
    records = [json.loads(line) for line in spool_path.read_text().splitlines()]
    async with client.pipeline(transaction=True) as pipe:
        for record in records[:3]:
            pipe.xadd(f"{PREFIX}:alerts", record["fields"])
        pipe.set(marker_key(PREFIX, spool_path, "unused"), records[2]["id"])
        await pipe.execute()

    metrics = Metrics()
    second = RedisSink(durable_redis.url, prefix=PREFIX, spool_path=spool_path, metrics=metrics, **FAST_RETRY)
    await second.start()
    assert await second.flush(15)
    await second.close()
    assert await alert_ids(client) == [f"e{n:03d}" for n in range(5)]  # each once, in order
    assert sample(metrics, "streamguard_sink_published_total") == 5  # the three found written count too


async def test_alerts_opened_by_a_dead_run_are_left_open_even_when_the_next_run_writes_them(
    durable_redis: RedisServer, tmp_path: Path
) -> None:
    """An alert whose start only reached the dead run's spool file is still that run's: the next run, which
    replays the file, reports it as left open; its own alerts are not."""
    spool_path = tmp_path / "spool.jsonl"
    first = RedisSink(durable_redis.url, prefix=PREFIX, spool_path=spool_path, **FAST_RETRY)
    durable_redis.kill()
    await first.start()
    first.publish_alert(make_event(alert_id="dead-run"))
    await wait_until(lambda: spool_path.read_text().count("\n") == 1)
    await first.close(timeout_s=0.1)
    durable_redis.restart()
    second = RedisSink(durable_redis.url, prefix=PREFIX, spool_path=spool_path, **FAST_RETRY)
    await second.start()
    second.publish_alert(make_event(alert_id="this-run"))
    second.publish_alert(make_event(alert_id="ended", ts=1.0))
    second.publish_alert(make_event(AlertPhase.END, alert_id="ended", reason=EndReason.BELOW_THRESHOLD))
    assert await second.flush(15)
    left = await second.alerts_left_open(["cam1", "other"])
    await second.close()
    assert [entry.alert_id for entry in left] == ["dead-run"]


async def test_memory_spool_counts_events_left_at_close_as_dropped(redis_server_down: RedisServer) -> None:
    metrics = Metrics()
    sink = RedisSink(redis_server_down.url, prefix=PREFIX, metrics=metrics, **FAST_RETRY)
    await sink.start()
    for n in range(3):
        sink.publish_alert(make_event(alert_id=f"e{n}"))
    await sink.close(timeout_s=0.2)
    assert sink.dropped == 3
    assert sample(metrics, "streamguard_sink_dropped_total") == 3


@pytest.fixture
def redis_server_down(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis_server(workdir=tmp_path / "redis") as server:
        server.kill()
        yield server


def debug_sleep(port: int, seconds: float) -> None:
    """Block the whole server for `seconds` (``DEBUG SLEEP``) from a raw connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds + 5) as sock:
        sock.sendall(f"DEBUG SLEEP {seconds}\r\n".encode())
        assert sock.recv(64).startswith(b"+OK")


async def test_write_whose_reply_was_lost_is_not_written_twice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="streamguard.sinks.redis_sink")
    with running_redis_server(workdir=tmp_path / "redis", extra_args=["--enable-debug-command", "yes"]) as server:
        sink = RedisSink(server.url, prefix=PREFIX, socket_timeout_s=0.3, retry_initial_s=2.0, retry_max_s=2.0)
        await sink.start()
        sink.publish_alert(make_event(alert_id="before"))
        assert await sink.flush(10)

        # The server stalls: the sink's EXEC times out on the client side, yet Redis runs it once it wakes.
        sleeper = threading.Thread(target=debug_sleep, args=(server.port, 1.2))
        sleeper.start()
        await asyncio.sleep(0.1)
        sink.publish_alert(make_event(alert_id="during"))
        await wait_until(lambda: not sink.reachable, within_s=5)
        assert await sink.flush(15)
        await asyncio.to_thread(sleeper.join)
        await sink.close()

        client = aioredis.from_url(server.url)
        try:
            assert await alert_ids(client) == ["before", "during"]
        finally:
            await client.aclose()
    assert "not writing them again" in caplog.text
