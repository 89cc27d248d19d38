"""The CPU runtimes (ONNX Runtime, OpenVINO) against PyTorch fp32 on the same checkpoint and crops."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch

from streamguard.export.exporter import export_graphs
from streamguard.inference.compiled import CompiledEngine, GraphRunner, onnxruntime_runner, openvino_runner
from streamguard.inference.engine import DetectorEngine
from streamguard.model.checkpoint import CheckpointMeta, save_checkpoint
from streamguard.model.detector import Detector
from streamguard.model.factory import build_network
from streamguard.model.variants import get_variant
from tests.support.crops import random_crop

SIZE = 160
RUNTIMES = {
    "onnxruntime": functools.partial(onnxruntime_runner, threads=1),
    "openvino": functools.partial(openvino_runner, precision="f32", threads=1),
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random v2-style network (EfficientNet-Lite encoder, linear head, mask decoder)."""
    torch.manual_seed(0)
    variant = get_variant("effnet_lite0_linear")
    model = build_network(variant, pretrained=False).eval()
    path = tmp_path_factory.mktemp("model") / "small.pt"
    save_checkpoint(path, model, CheckpointMeta(variant=variant.name, input_size=SIZE))
    return path


def engines(
    checkpoint: Path, runtime: str, tmp_path: Path, gate: float | None
) -> tuple[DetectorEngine, CompiledEngine]:
    detector = Detector.load(checkpoint, device="cpu")
    graphs = export_graphs(checkpoint, tmp_path / "compiled", detector.version)
    make_runner: functools.partial[GraphRunner] = RUNTIMES[runtime]
    compiled = CompiledEngine.load(graphs, make_runner, detector.version, SIZE, mask_min_p=gate)
    return DetectorEngine(detector, mask_min_p=gate), compiled


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_compiled_runtimes_score_like_torch_fp32(checkpoint: Path, runtime: str, tmp_path: Path) -> None:
    local, compiled = engines(checkpoint, runtime, tmp_path, gate=None)
    faces = [random_crop(i, seed=i, size=SIZE) for i in range(6)]
    here, there = local.process(faces), compiled.process(faces)
    assert [s.face.track_id for s in there] == list(range(6)) and compiled.version == local.version
    assert max(abs(a.value - b.value) for a, b in zip(here, there, strict=True)) < 1e-4
    assert max(float(np.abs(a.mask - b.mask).max()) for a, b in zip(here, there, strict=True)) < 1e-4


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_masks_only_for_faces_at_the_gate(checkpoint: Path, runtime: str, tmp_path: Path) -> None:
    faces = [random_crop(i, seed=10 + i, size=SIZE) for i in range(8)]
    ungated = engines(checkpoint, runtime, tmp_path, gate=None)[1].process(faces)
    gate = float(np.median([s.value for s in ungated]))
    gated = engines(checkpoint, runtime, tmp_path, gate=gate)[1].process(faces)
    for score, full in zip(gated, ungated, strict=True):
        assert score.value == pytest.approx(full.value, abs=1e-6)
        if full.value >= gate:
            np.testing.assert_allclose(score.mask, full.mask, atol=1e-5)
        else:
            assert not score.mask.any()


def test_graphs_are_exported_once_per_version(checkpoint: Path, tmp_path: Path) -> None:
    version = Detector.load(checkpoint, device="cpu").version
    first = export_graphs(checkpoint, tmp_path, version)
    stamps = (first.scores.stat().st_mtime_ns, first.full.stat().st_mtime_ns)
    again = export_graphs(checkpoint, tmp_path, version)
    assert again == first and (again.scores.stat().st_mtime_ns, again.full.stat().st_mtime_ns) == stamps
    assert not list(tmp_path.rglob("*.partial.onnx"))


def test_a_crop_of_the_wrong_size_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    _, compiled = engines(checkpoint, "onnxruntime", tmp_path, gate=0.5)
    with pytest.raises(ValueError, match="expected a"):
        compiled.process([random_crop(0, 0, SIZE + 8)])
