"""Fixtures of the end-to-end tests: the real servers (the demo model fixture is in tests/conftest.py)."""

from __future__ import annotations

from tests.support.redis_server import redis_server
from tests.support.rtsp_server import rtsp_server

__all__ = ["redis_server", "rtsp_server"]
