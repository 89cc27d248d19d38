"""Fixtures of the end-to-end tests: a detector trained on demo-like forgeries, and the real servers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamguard.demo.model import train_demo_model
from tests.support.redis_server import redis_server
from tests.support.rtsp_server import rtsp_server

__all__ = ["demo_model_path", "redis_server", "rtsp_server"]


@pytest.fixture(scope="session")
def demo_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's own quick model (trained once per session, ~1 min on 2 cores).

    `STREAMGUARD_TEST_DEMO_MODEL` names an already trained one, to iterate on these tests faster.
    """
    prebuilt = os.environ.get("STREAMGUARD_TEST_DEMO_MODEL")
    if prebuilt:
        return Path(prebuilt)
    out = tmp_path_factory.mktemp("demo-model") / "demo.pt"
    train_demo_model(out, device="cpu")
    return out
