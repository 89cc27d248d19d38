"""Read the alerts stream back: the engine of ``streamguard alerts [--follow]`` and a reference consumer.

Production consumers should use a consumer group (``XREADGROUP`` + ``XACK``) so every alert is processed
once across restarts; this reader uses plain ``XREAD`` because a terminal tail needs no acknowledgement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from streamguard.errors import SinkError
from streamguard.redaction import redact_text, redact_url
from streamguard.sinks.encoding import alerts_key, decode_entry

NEWEST = "$"


async def read_alerts(
    redis_url: str,
    prefix: str = "streamguard",
    follow: bool = False,
    start_id: str = "0",
    *,
    block_ms: int = 1000,
    count: int = 100,
) -> AsyncIterator[dict[str, Any]]:
    """Yield alert entries of ``{prefix}:alerts`` oldest first, decoded with `decode_entry`.

    Args:
        redis_url: ``redis://...`` or ``unix:///path/redis.sock``.
        prefix: Key prefix of the daemon.
        follow: Keep waiting for new entries (``XREAD BLOCK``) instead of stopping at the end.
        start_id: Yield entries *after* this stream id; ``"0"`` for all, ``"$"`` for new ones only.
        block_ms: How long one blocking read waits before it is issued again (follow mode).
        count: Entries per read.

    Yields:
        The entry's fields, typed, plus ``"id"`` (the stream entry id, e.g. ``"1718000000000-0"``).

    Raises:
        SinkError: Redis cannot be reached or read.
    """
    key = alerts_key(prefix)
    client = aioredis.from_url(redis_url)
    try:
        last_id = await _resolve_start(client, key, start_id)
        while True:
            reply: Any = await client.xread({key: last_id}, count=count, block=block_ms if follow else None)
            entries = _entries(reply)
            if not entries and not follow:
                return
            for entry_id, fields in entries:
                last_id = _text(entry_id)
                yield {"id": last_id, **decode_entry(fields)}
    except (RedisError, OSError) as e:
        message = redact_text(str(e), [redis_url])
        raise SinkError(f"cannot read alerts from {redact_url(redis_url)}: {message}") from e
    finally:
        await client.aclose()


def format_alert(alert: Mapping[str, Any]) -> str:
    """One readable line for an alert entry (as yielded by `read_alerts`).

    Example:
        ``2025-06-01 12:00:03.120  START   cam1  track 3  score 0.91  peak 0.97  n=12  alert cam1-3-1748...
        mask streamguard:mask:cam1-3-1748...:0``
    """
    event = str(alert.get("event", "?")).upper()
    parts = [
        _when(alert.get("ts")),
        f"{event:<6}",
        str(alert.get("stream_id", "?")),
        f"track {alert.get('track_id', '?')}",
        f"score {_number(alert.get('score'))}",
        f"peak {_number(alert.get('peak_score'))}",
        f"n={alert.get('n_samples', '?')}",
    ]
    if alert.get("reason"):
        parts.append(f"reason={alert['reason']}")
    if alert.get("explanation"):
        parts.append(f"what: {alert['explanation']}")
    regions = alert.get("regions")
    if isinstance(regions, list) and regions:
        parts.append("regions " + ",".join(f"{r.get('region')}:{_number(r.get('coverage'))}" for r in regions))
    parts.append(f"alert {alert.get('alert_id', '?')}")
    if alert.get("mask_key"):
        parts.append(f"mask {alert['mask_key']}")
    return "  ".join(parts)


async def _resolve_start(client: aioredis.Redis, key: str, start_id: str) -> str:
    """Turn ``$`` into the current last id, so entries added between two blocking reads are not skipped."""
    if start_id != NEWEST:
        return start_id
    newest: Any = await client.xrevrange(key, count=1)
    return _text(newest[0][0]) if newest else "0-0"


def _entries(reply: Any) -> list[tuple[bytes | str, dict[Any, Any]]]:
    """Flatten an ``XREAD`` reply (RESP2 list or RESP3 map) to its ``(id, fields)`` entries."""
    if not reply:
        return []
    streams = reply.values() if isinstance(reply, dict) else (stream_entries for _key, stream_entries in reply)
    return [(entry_id, dict(fields)) for stream_entries in streams for entry_id, fields in stream_entries]


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "????-??-?? ??:??:??.???"
    moment = datetime.fromtimestamp(ts, tz=UTC).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _number(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "?"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
