"""End to end: real RTSP server and files -> daemon -> real redis-server, checked through Redis and /metrics."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import cast

import aiohttp
import cv2
import numpy as np
import pytest
import redis.asyncio as aioredis
import yaml

from streamguard.config import DaemonConfig, config_from_overrides
from streamguard.daemon import Daemon
from streamguard.demo.clip import ClipTruth, write_demo_clip
from streamguard.model.detector import Detector
from tests.support.daemon_checks import PREFIX, alert_entries, metric_value, wait_for
from tests.support.media import write_garbage, write_truncated, write_unsupported_codec
from tests.support.redis_server import RedisServer
from tests.support.rtsp_server import RtspServer


def mask_in_frame(mask_png: bytes, crop_box: list[float], frame_size: tuple[int, int]) -> np.ndarray:
    """Paste the bright part (>= half its peak) of a crop-space mask PNG into a frame-sized boolean array."""
    mask = cv2.imdecode(np.frombuffer(mask_png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert mask is not None and mask.ndim == 2
    assert mask.max() >= 64, f"mask peak {mask.max()} / 255: nothing bright in it"
    x, y, side, _ = (round(v) for v in crop_box)
    width, height = frame_size
    full = np.zeros((height, width), dtype=bool)
    full[y : y + side, x : x + side] = cv2.resize(mask, (side, side), interpolation=cv2.INTER_NEAREST) >= mask.max() / 2
    return full


def union_box(truth: ClipTruth) -> tuple[int, int, int, int]:
    boxes = [b for b in truth.forged_boxes if b is not None]
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


async def test_forged_rtsp_stream_alerts_clean_file_does_not_and_bad_streams_are_isolated(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer, rtsp_server: RtspServer
) -> None:
    forged = write_demo_clip(rtsp_server.media_dir / "forged.mp4", seconds=10, forged_span=(2.0, 6.0), seed=11)
    clean = write_demo_clip(tmp_path / "clean.mp4", seconds=8, forged_span=None, seed=12)
    garbage = write_garbage(tmp_path / "garbage.mp4")
    truncated = write_truncated(tmp_path / "truncated.mp4")
    unsupported = write_unsupported_codec(tmp_path / "unsupported.mkv")
    sources = [
        f"cam={rtsp_server.url('forged.mp4', loop=False)}",
        f"clean={clean.path}",
        f"garbage={garbage}",
        f"truncated={truncated}",
        f"unsupported={unsupported}",
    ]
    config = config_from_overrides(None, sources, redis_server.url, "127.0.0.1:0")
    config = config.model_copy(update={"data_dir": tmp_path / "data"})
    daemon = Daemon(config, detector=Detector.load(demo_model_path, device="cpu"))
    client = aioredis.from_url(redis_server.url)
    await daemon.start()
    try:

        async def alert_started_and_ended() -> list[dict[str, str]] | None:
            entries = await alert_entries(client)
            starts = [e for e in entries if e["event"] == "start"]
            ended = {e["alert_id"] for e in entries if e["event"] == "end"}
            return entries if starts and starts[0]["alert_id"] in ended else None

        entries = await wait_for(alert_started_and_ended, within_s=60)
        assert entries is not None  # wait_for returns only a truthy result

        # Only the forged stream alerts; the clean clip, analysed to its end meanwhile, raises none.
        assert {e["stream_id"] for e in entries} == {"cam"}
        start = next(e for e in entries if e["event"] == "start")
        end = next(e for e in entries if e["event"] == "end" and e["alert_id"] == start["alert_id"])
        assert float(start["score"]) >= config.scoring.on_threshold
        assert end["reason"] in {"below_threshold", "track_lost"}
        for field in ("alert_id", "track_id", "ts", "peak_score", "window_s", "n_samples", "bbox", "model"):
            assert start[field]

        # The peak mask is a decodable PNG whose bright area lies on the forged region.
        mask_png = cast(bytes | None, await client.get(start["mask_key"]))  # no decode_responses: bytes
        assert mask_png is not None
        assert await client.ttl(start["mask_key"]) > 0
        frame_size = tuple(json.loads(start["frame_size"]))
        bright = mask_in_frame(mask_png, json.loads(start["crop_box"]), frame_size)
        assert bright.sum() > 500
        x0, y0, x1, y1 = union_box(forged)
        inside = bright[y0:y1, x0:x1].sum() / bright.sum()
        assert inside > 0.8, f"only {inside:.0%} of the mask lies on the forged region"
        overlay = cast(bytes | None, await client.get(start["overlay_key"]))
        assert overlay is not None and cv2.imdecode(np.frombuffer(overlay, np.uint8), cv2.IMREAD_COLOR) is not None

        # The clean file ran to its end; every bad file is reported and ended without hurting the others.
        async def files_done() -> bool:
            states = {s: await client.hgetall(f"{PREFIX}:stream:{s}") for s in ("clean", "garbage", "truncated")}
            unsupported = await client.hgetall(f"{PREFIX}:stream:unsupported")
            return all(st.get(b"status") == b"ended" for st in states.values()) and b"last_error" in unsupported

        await wait_for(files_done, within_s=30)
        for bad in ("garbage", "unsupported"):
            state = await client.hgetall(f"{PREFIX}:stream:{bad}")
            assert bad in cast(bytes, state[b"last_error"]).decode(), state
        assert (await client.hgetall(f"{PREFIX}:stream:cam"))[b"status"] in {b"up", b"reconnecting"}

        # Metrics scraped over HTTP agree with what happened.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{daemon.server.url}/metrics") as response:  # type: ignore[union-attr]
                body = await response.text()
            async with http.get(f"{daemon.server.url}/readyz") as response:  # type: ignore[union-attr]
                assert response.status == 200
        clean_state = await client.hgetall(f"{PREFIX}:stream:clean")
        assert metric_value(body, "streamguard_frames_decoded_total", stream="clean") == clean.n_frames
        analysed = metric_value(body, "streamguard_frames_analyzed_total", stream="clean")
        assert analysed == int(clean_state[b"analyzed"]) >= 0.8 * clean.n_frames / clean.fps * 5
        assert clean_state[b"failed"] == b"0"
        entries = await alert_entries(client)
        for event in ("start", "end"):
            count = sum(e["event"] == event for e in entries)
            assert metric_value(body, "streamguard_alerts_total", stream="cam", event=event) == count
        assert metric_value(body, "streamguard_alerts_total", stream="clean", event="start") == 0
        assert "track_id" not in body
    finally:
        await daemon.stop()
        await client.aclose()


def test_sigterm_ends_open_alerts_and_exits_zero(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer
) -> None:
    clip = write_demo_clip(tmp_path / "forged.mp4", seconds=6, forged_span=(0.0, 6.0), seed=21)
    config_path = tmp_path / "daemon.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "streams": [{"id": "loop", "url": str(clip.path), "loop": True, "realtime": True}],
                "inference": {"model": str(demo_model_path), "device": "cpu"},
                "redis": {"url": redis_server.url},
                "server": {"listen": "127.0.0.1:0"},
                "data_dir": str(tmp_path / "data"),
            }
        )
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamguard", "run", "--config", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:

        async def started() -> bool:
            client = aioredis.from_url(redis_server.url)
            try:
                return any(e["event"] == "start" for e in await alert_entries(client))
            finally:
                await client.aclose()

        asyncio.run(wait_for(started, within_s=90))
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output.decode(errors="replace")[-3000:]

    async def ended() -> list[dict[str, str]]:
        client = aioredis.from_url(redis_server.url)
        try:
            return await alert_entries(client)
        finally:
            await client.aclose()

    entries = asyncio.run(ended())
    open_ids = {e["alert_id"] for e in entries if e["event"] == "start"}
    end_reasons = {e["alert_id"]: e["reason"] for e in entries if e["event"] == "end"}
    assert open_ids and open_ids <= set(end_reasons)
    assert "shutdown" in end_reasons.values()

    # `streamguard alerts` shows the same events, readable.
    shown = subprocess.run(
        [sys.executable, "-m", "streamguard", "alerts", "--redis", redis_server.url],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if line.strip()]
    assert len(lines) == len(entries)
    assert all(alert_id in shown.stdout for alert_id in open_ids)
    assert "shutdown" in shown.stdout


def test_alerts_left_open_by_a_killed_daemon_end_with_reason_restart_once(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer
) -> None:
    clip = write_demo_clip(tmp_path / "forged.mp4", seconds=6, forged_span=(0.0, 6.0), seed=23)
    settings = {
        "streams": [{"id": "loop", "url": str(clip.path), "loop": True, "realtime": True}],
        "inference": {"model": str(demo_model_path), "device": "cpu"},
        "redis": {"url": redis_server.url, "spool_path": str(tmp_path / "data" / "spool.jsonl")},
        "server": {"listen": "127.0.0.1:0"},
        "data_dir": str(tmp_path / "data"),
    }
    config_path = tmp_path / "daemon.yaml"
    config_path.write_text(yaml.safe_dump(settings))

    async def entries() -> list[dict[str, str]]:
        client = aioredis.from_url(redis_server.url)
        try:
            return await alert_entries(client)
        finally:
            await client.aclose()

    async def started() -> list[dict[str, str]]:
        return [e for e in await entries() if e["event"] == "start"]

    process = subprocess.Popen(
        [sys.executable, "-m", "streamguard", "run", "--config", str(config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        crashed = asyncio.run(wait_for(started, within_s=90))[0]["alert_id"]
    finally:
        process.kill()  # SIGKILL: no shutdown, the alert stays open in Redis
        process.wait(timeout=30)
    assert not [e for e in asyncio.run(entries()) if e["event"] == "end"]

    async def restart() -> list[dict[str, str]]:
        daemon = Daemon(DaemonConfig.model_validate(settings), detector=Detector.load(demo_model_path))
        await daemon.start()
        try:

            async def ended() -> list[dict[str, str]]:
                return [e for e in await entries() if e["event"] == "end" and e["alert_id"] == crashed]

            await wait_for(ended, within_s=30)
            await asyncio.sleep(1.0)  # a second end would come right after the first
            return await entries()
        finally:
            await daemon.stop()

    after = asyncio.run(restart())
    ends = [e for e in after if e["event"] == "end" and e["alert_id"] == crashed]
    assert [e["reason"] for e in ends] == ["restart"]
    assert ends[0]["stream_id"] == "loop" and float(ends[0]["opened_at"]) > 0
    # The new run's own alerts end with its shutdown, not as left open.
    own = {e["alert_id"] for e in after if e["event"] == "start"} - {crashed}
    assert all(e["reason"] != "restart" for e in after if e["event"] == "end" and e["alert_id"] in own)

    async def nothing_left_open() -> bool:
        client = aioredis.from_url(redis_server.url)
        try:
            return not await client.hgetall(f"{PREFIX}:open:loop")
        finally:
            await client.aclose()

    assert asyncio.run(nothing_left_open())


def test_bad_config_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("streams:\n  - id: cam\n    url: rtsp://user:hunter2@10.0.0.1/live\n    analysis_fps: -3\n")
    result = subprocess.run(
        [sys.executable, "-m", "streamguard", "check-config", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    message = result.stdout + result.stderr
    assert "bad.yaml" in message and "analysis_fps" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("model", ["quick", "shipped"])
async def test_live_demo_flags_the_forged_part_only(tmp_path: Path, demo_model_path: Path, model: str) -> None:
    """`make demo` with the shipped model (a self-blended face), and with the quick demo model (its edit)."""
    from rich.console import Console

    from streamguard.demo.live import SHIPPED_MODEL, DemoOptions, run_demo

    checkpoint = SHIPPED_MODEL if model == "shipped" else demo_model_path
    options = DemoOptions(
        workdir=tmp_path / "demo", model=checkpoint, seconds=9.0, forged_span=(3.0, 6.0), listen="127.0.0.1:0"
    )
    console = Console(record=True, width=120)
    result = await run_demo(options, console)
    assert result.forged_alerts(), console.export_text()
    assert not result.false_alerts(), console.export_text()
    assert result.passed
    text = console.export_text()
    assert "start" in text and ("self-blend" if model == "shipped" else "edit") in text


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino", "auto"])
async def test_the_daemon_on_a_compiled_cpu_runtime_alerts_on_the_forged_clip(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer, backend: str
) -> None:
    """`inference.backend: onnxruntime|openvino` (and `auto` on a CPU): the checkpoint's exported graphs, served."""
    forged = write_demo_clip(tmp_path / "forged.mp4", seconds=6, forged_span=(0.0, 6.0), seed=61)
    config = DaemonConfig.model_validate(
        {
            "streams": [{"id": "cam", "url": str(forged.path), "loop": True, "realtime": True}],
            "inference": {"model": str(demo_model_path), "backend": backend},
            "redis": {"url": redis_server.url},
            "server": {"listen": "127.0.0.1:0"},
            "data_dir": str(tmp_path / "data"),
        }
    )
    daemon = Daemon(config)
    client = aioredis.from_url(redis_server.url)
    await daemon.start()
    try:

        async def started() -> bool:
            return any(e["event"] == "start" for e in await alert_entries(client))

        await wait_for(started, within_s=40)
        assert list((tmp_path / "data" / "compiled").glob("*/scores.onnx"))
        start = next(e for e in await alert_entries(client) if e["event"] == "start")
        assert start["model"] == Detector.load(demo_model_path).version
        assert float(start["score"]) >= config.scoring.on_threshold
    finally:
        await daemon.stop()
        await client.aclose()
