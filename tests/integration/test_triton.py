"""Remote inference on a real Triton Inference Server (127.0.0.1, CPU): the export, the client, the daemon.

The server is the bundled ``tritonserver`` of `tests.support.triton_server`, serving the repository that
``streamguard export --format triton`` writes. Nothing about Triton is mocked: the daemon's batches travel as
KServe v2 gRPC requests and come back as Triton computed them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import numpy as np
import onnxruntime as ort
import pytest
import redis.asyncio as aioredis

from streamguard.config import InferenceBackend, TritonConfig, config_from_overrides
from streamguard.daemon import Daemon
from streamguard.demo.clip import write_demo_clip
from streamguard.errors import ConfigError, InferenceUnavailable
from streamguard.export.triton import TritonModelOptions, read_model_config, write_triton_repository
from streamguard.inference.engine import DetectorEngine
from streamguard.inference.triton import TritonEngine
from streamguard.model.detector import Detector
from streamguard.model.served import VERSION_PARAMETER
from streamguard.types import FaceCrop
from tests.support.crops import random_crop
from tests.support.daemon_checks import alert_entries, metric_value, wait_for
from tests.support.redis_server import RedisServer
from tests.support.triton_server import TritonServer, running_triton_server, served_repository

MODEL = "streamguard"


@pytest.fixture(scope="module")
def exported(demo_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model as a Triton repository (dynamic batching may wait 20 ms to merge requests)."""
    out = tmp_path_factory.mktemp("triton-repository")
    write_triton_repository(demo_model_path, out, TritonModelOptions(model_name=MODEL, max_batch=32, max_delay_ms=20))
    return out


@pytest.fixture
def triton(exported: Path, tmp_path: Path) -> Iterator[TritonServer]:
    repository = served_repository(exported, tmp_path / "served")
    with running_triton_server(repository, tmp_path / "triton") as server:
        yield server


def crops(n: int, size: int, seed: int = 0) -> list[FaceCrop]:
    return [random_crop(i, seed * 1000 + i, size) for i in range(n)]


def test_the_exported_repository_is_a_valid_triton_model(demo_model_path: Path, tmp_path: Path) -> None:
    options = TritonModelOptions(model_name="sg", max_batch=16, max_delay_ms=3.0, gpu=True)
    model_dir = write_triton_repository(demo_model_path, tmp_path, options)
    config = read_model_config(model_dir / "config.pbtxt")  # strict: Triton's own schema
    detector = Detector.load(demo_model_path, device="cpu")
    size = detector.input_size
    assert (config.name, config.platform, config.max_batch_size) == ("sg", "onnxruntime_onnx", 16)
    assert config.dynamic_batching.max_queue_delay_microseconds == 3000
    assert [(t.name, list(t.dims)) for t in config.input] == [("images", [size, size, 3])]
    assert [(t.name, list(t.dims)) for t in config.output] == [("p_fake", [1]), ("mask", [size, size])]
    assert config.parameters[VERSION_PARAMETER].string_value == detector.version
    assert config.instance_group[0].kind == config.instance_group[0].KIND_GPU
    assert config.optimization.execution_accelerators.gpu_execution_accelerator[0].name == "tensorrt"
    # The version folder's graph takes any batch size.
    session = ort.InferenceSession(str(model_dir / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    p_fake, mask = session.run(None, {"images": np.zeros((5, size, size, 3), np.uint8)})
    assert p_fake.shape == (5,) and mask.shape == (5, size, size)


def test_triton_scores_equal_the_local_backend_and_merges_concurrent_batches(
    triton: TritonServer, demo_model_path: Path
) -> None:
    detector = Detector.load(demo_model_path, device="cpu")
    local = DetectorEngine(detector)
    remote = TritonEngine(TritonConfig(url=triton.grpc_url, model_name=MODEL))
    remote.connect()
    try:
        assert remote.version == local.version and remote.input_size == local.input_size
        faces = crops(12, local.input_size)
        here, there = local.process(faces), remote.process(faces)
        assert max(abs(a.value - b.value) for a, b in zip(here, there, strict=True)) < 1e-4
        assert max(float(np.abs(a.mask - b.mask).max()) for a, b in zip(here, there, strict=True)) < 1e-4
        # With a mask gate, only faces at or above it get their mask requested.
        gate = float(np.median([s.value for s in here]))
        gated = TritonEngine(TritonConfig(url=triton.grpc_url, model_name=MODEL), mask_min_p=gate)
        gated.connect()
        for score, full in zip(gated.process(faces), here, strict=True):
            assert score.mask.any() == (full.value >= gate)
        gated.close()

        # Four daemons' batches at the same moment: Triton's dynamic batcher merges them into fewer executions.
        # (prometheus_client's parser gives Triton's counters the `_total` suffix.)
        def counts() -> tuple[float, float]:
            metrics = triton.metrics()
            return (
                metric_value(metrics, "nv_inference_request_success_total"),
                metric_value(metrics, "nv_inference_exec_count_total"),
            )

        def settled_counts() -> tuple[float, float]:
            """Triton counts a request when it releases it, just after the response: wait for the counts to settle."""
            last = counts()
            for _ in range(50):
                time.sleep(0.2)
                now = counts()
                if now == last:
                    return now
                last = now
            return last

        requests_before, executions_before = settled_counts()
        barrier = threading.Barrier(4)

        def send(seed: int) -> None:
            engine = TritonEngine(TritonConfig(url=triton.grpc_url, model_name=MODEL))
            engine.connect()
            barrier.wait()
            engine.process(crops(2, local.input_size, seed))  # two requests: the scores, then the masks
            engine.close()

        threads = [threading.Thread(target=send, args=(seed,)) for seed in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        requests_after, executions_after = settled_counts()
        requests, executions = requests_after - requests_before, executions_after - executions_before
        print(f"\n4 concurrent clients: {requests:.0f} requests -> {executions:.0f} Triton executions")
        assert requests == 8 and 2 <= executions < requests
    finally:
        remote.close()


def test_an_unreachable_server_fails_fast_and_the_start_names_the_setting(tmp_path: Path) -> None:
    engine = TritonEngine(TritonConfig(url="127.0.0.1:9", model_name=MODEL, connect_timeout_s=1.0))
    with pytest.raises(ConfigError, match=r"inference.triton: model 'streamguard' at 127.0.0.1:9 not ready"):
        engine.connect()


async def test_the_daemon_on_triton_alerts_and_rides_out_a_server_crash(
    tmp_path: Path, redis_server: RedisServer, triton: TritonServer, demo_model_path: Path
) -> None:
    forged = write_demo_clip(tmp_path / "forged.mp4", seconds=8, forged_span=(0.0, 8.0), seed=51)
    config = config_from_overrides(None, [f"cam={forged.path}"], redis_server.url, "127.0.0.1:0")
    remote = TritonConfig(
        url=triton.grpc_url, model_name=MODEL, timeout_s=1.0, backoff_initial_s=0.2, backoff_max_s=1.0
    )
    inference = config.inference.model_copy(update={"backend": InferenceBackend.TRITON, "triton": remote})
    streams = [stream.model_copy(update={"loop": True, "realtime": True}) for stream in config.streams]
    config = config.model_copy(update={"inference": inference, "streams": streams, "data_dir": tmp_path / "data"})
    daemon = Daemon(config)
    client = aioredis.from_url(redis_server.url)
    await daemon.start()
    assert daemon.server is not None
    base = daemon.server.url

    async def scrape() -> str:
        async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as response:
            return await response.text()

    async def readyz() -> tuple[int, dict[str, object]]:
        async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as response:
            return response.status, await response.json()

    try:

        async def alerted() -> bool:
            return any(e["event"] == "start" and e["stream_id"] == "cam" for e in await alert_entries(client))

        await wait_for(alerted, within_s=60)
        status, body = await readyz()
        assert status == 200 and body["checks"]["inference_reachable"] is True  # type: ignore[index]
        metrics = await scrape()
        served = Detector.load(demo_model_path).version  # the daemon never loaded it: Triton told it
        assert metric_value(metrics, "streamguard_model_info", version=served) == 1
        assert metric_value(metrics, "streamguard_inference_errors_total") == 0

        # Triton crashes: faces go unscored (counted), the stream keeps decoding, /readyz says why.
        triton.kill()

        async def not_ready() -> bool:
            return (await readyz())[0] == 503

        await wait_for(not_ready, within_s=15)
        status, body = await readyz()
        assert body["checks"] == {**body["checks"], "inference_reachable": False}  # type: ignore[dict-item]
        assert "triton" in str(body["reasons"]) and triton.grpc_url in str(body["reasons"])
        decoded = metric_value(await scrape(), "streamguard_frames_decoded_total", stream="cam")
        await asyncio.sleep(2.0)
        metrics = await scrape()
        assert metric_value(metrics, "streamguard_frames_decoded_total", stream="cam") > decoded
        assert metric_value(metrics, "streamguard_inference_errors_total", stream="cam", reason="unavailable") > 0
        assert daemon.streams["cam"].restarts == 0

        # Back on the same address: scoring resumes by itself.
        triton.start()

        async def ready_again() -> bool:
            return (await readyz())[0] == 200

        await wait_for(ready_again, within_s=30)
        faces_before = metric_value(await scrape(), "streamguard_faces_detected_total", stream="cam")
        errors_before = metric_value(await scrape(), "streamguard_inference_errors_total", stream="cam")

        async def scoring_again() -> bool:
            metrics = await scrape()
            return metric_value(metrics, "streamguard_faces_detected_total", stream="cam") > faces_before + 5

        await wait_for(scoring_again, within_s=30)
        assert metric_value(await scrape(), "streamguard_inference_errors_total", stream="cam") == errors_before
    finally:
        await daemon.stop()
        await client.aclose()


def test_inference_unavailable_marks_timeouts() -> None:
    assert InferenceUnavailable("x", timed_out=True).timed_out and not InferenceUnavailable("x").timed_out
