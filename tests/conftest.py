"""Shared fixtures: paths to the shared data, a small toy dataset and the demo model, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamguard.datasets.toy import ToyDataset, write_toy_dataset
from streamguard.demo.model import train_demo_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the repository, or `STREAMGUARD_SHARED_DATA`."""
    return Path(os.environ.get("STREAMGUARD_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory: pytest.TempPathFactory) -> ToyDataset:
    """Astronaut reals and blended-edit fakes (images and videos with masks), plus two undecodable files."""
    root = tmp_path_factory.mktemp("toy")
    toy = write_toy_dataset(root, n_images=8, n_videos=1, frames_per_video=8, seed=1)
    (root / "fake" / "blend" / "broken.mp4").write_bytes(os.urandom(4096))
    (root / "real" / "truncated.jpg").write_bytes((root / "real" / "astro_000.jpg").read_bytes()[:200])
    return toy


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
