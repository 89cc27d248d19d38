"""Checks shared by the end-to-end tests: polling, the alerts stream, scraped metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

import redis.asyncio as aioredis

from tests.support.redis_server import StreamEntries

PREFIX = "streamguard"
T = TypeVar("T")


async def wait_for(predicate: Callable[[], Awaitable[T]], within_s: float, interval_s: float = 0.25) -> T:
    """Poll an async `predicate` until it returns something truthy (returned), or fail after `within_s`."""
    deadline = time.monotonic() + within_s
    while True:
        result = await predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within_s} s")
        await asyncio.sleep(interval_s)


async def alert_entries(client: aioredis.Redis) -> list[dict[str, str]]:
    entries = cast(StreamEntries, await client.xrange(f"{PREFIX}:alerts"))
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


def metric_value(body: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (Prometheus text format)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
