"""The `redis_server` fixture: a real redis-server on 127.0.0.1 (see `tests.support.redis_process`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_process import REDIS_SERVER, RedisServer, free_port, ping, running_redis_server

__all__ = [
    "REDIS_SERVER",
    "RedisServer",
    "StreamEntries",
    "free_port",
    "ping",
    "redis_server",
    "running_redis_server",
]

StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]
"""What XRANGE/XREVRANGE return on a client without ``decode_responses`` (redis-py types it more loosely)."""


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server on a free 127.0.0.1 port for one test, stopped by PID afterwards."""
    with running_redis_server(workdir=tmp_path / "redis") as server:
        yield server
