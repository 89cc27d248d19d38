"""The `rtsp_server` fixture: a real RTSP file server on 127.0.0.1 (see `tests.support.rtsp_process`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.rtsp_process import RtspServer, free_port, port_accepts

__all__ = ["RtspServer", "free_port", "port_accepts", "rtsp_server"]


@pytest.fixture
def rtsp_server(tmp_path: Path) -> Iterator[RtspServer]:
    """A running RTSP server serving `tmp_path / "rtsp-media"` (write clips there); stopped at the end."""
    server = RtspServer(tmp_path / "rtsp-media").start()
    try:
        yield server
    finally:
        server.stop()
