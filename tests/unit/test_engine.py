"""DetectorEngine: face crops through a real (tiny, randomly initialised) detector, alone and via the batcher."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import torch

from streamguard.inference import DetectorEngine, MicroBatcher, available_cpus, configure_torch_threads
from streamguard.model import CheckpointMeta, Detector, YShapedAutoencoder, get_variant, save_checkpoint
from streamguard.types import FaceCrop, Score
from tests.support.crops import random_crop

SIZE = 64


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    torch.manual_seed(0)
    model = YShapedAutoencoder(get_variant("proposed_new")).eval()
    path = Path(tmp_path_factory.mktemp("model")) / "tiny.pt"
    save_checkpoint(path, model, CheckpointMeta(variant="proposed_new", input_size=SIZE))
    return Detector.load(path, device="cpu")


def face(track_id: int, seed: int, size: int = SIZE) -> FaceCrop:
    return random_crop(track_id, seed, size)


def test_process_scores_each_face_in_order(detector: Detector) -> None:
    engine = DetectorEngine(detector)
    faces = [face(1, seed=1), face(2, seed=2)]
    scores = engine.process(faces)
    assert [s.face for s in scores] == faces
    assert all(isinstance(s, Score) and s.model_version == detector.version for s in scores)
    assert engine.version == detector.version and detector.version.startswith("tiny:proposed_new:")
    for score in scores:
        assert 0.0 <= score.value <= 1.0
        assert score.mask.shape == (SIZE, SIZE) and score.mask.dtype == np.float32
        assert float(score.mask.min()) >= 0.0 and float(score.mask.max()) <= 1.0
    # The batch result equals scoring each crop alone (so the i-th Score belongs to the i-th face).
    p_fake, masks = detector.predict(np.stack([f.pixels for f in faces]))
    np.testing.assert_allclose([s.value for s in scores], p_fake, rtol=1e-6)
    for i, single in enumerate(faces):
        alone = engine.process([single])[0]
        assert alone.value == pytest.approx(scores[i].value, abs=1e-4)
        np.testing.assert_allclose(alone.mask, masks[i], atol=1e-4)
    assert not np.shares_memory(scores[0].mask, scores[1].mask)


def test_process_rejects_a_crop_of_the_wrong_size(detector: Detector) -> None:
    engine = DetectorEngine(detector)
    assert engine.process([]) == []
    with pytest.raises(ValueError, match=r"stream cam track 7: expected a \(64, 64, 3\) uint8 crop"):
        engine.process([face(1, seed=1), face(7, seed=2, size=32)])


async def test_engine_behind_the_batcher(detector: Detector) -> None:
    engine = DetectorEngine(detector)
    engine.warmup(batch_size=2)
    batches: list[int] = []
    batcher = MicroBatcher(engine.process, max_batch=4, max_delay_s=0.05, on_batch=lambda n, _s: batches.append(n))
    faces = [face(i, seed=10 + i) for i in range(3)]
    scores = await asyncio.wait_for(asyncio.gather(*(batcher.submit(f) for f in faces)), timeout=60)
    await batcher.close()
    assert [s.face for s in scores] == faces
    assert sum(batches) == 3


def test_configure_torch_threads() -> None:
    before = torch.get_num_threads()
    try:
        assert configure_torch_threads(1) == 1
        assert torch.get_num_threads() == 1
        assert configure_torch_threads(None) == available_cpus()
        with pytest.raises(ValueError, match=">= 1"):
            configure_torch_threads(0)
    finally:
        torch.set_num_threads(before)
