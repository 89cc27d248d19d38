"""Interop: headless Chromium (an independent WebRTC stack) publishes a forged clip over WHIP from our page."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from streamguard.config import DaemonConfig
from streamguard.daemon import Daemon
from streamguard.demo.clip import write_demo_clip
from streamguard.model.detector import Detector
from tests.support.browser import PAGE, find_chromium, start_chromium, write_y4m
from tests.support.daemon_checks import alert_entries, wait_for
from tests.support.redis_server import RedisServer

TOKEN = "browser-test-token"  # noqa: S105 - a test token


async def serve_page(lines: list[str]) -> web.AppRunner:
    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE)

    async def log(request: web.Request) -> web.Response:
        lines.append(await request.text())
        return web.Response()

    app = web.Application()
    app.router.add_get("/whip_publish.html", page)
    app.router.add_post("/log", log)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def test_headless_chromium_publishes_over_whip_and_is_analysed(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer
) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.fail("chromium is not installed (Debian package `chromium`, listed in deploy/apt-packages.txt)")
    clip = write_demo_clip(tmp_path / "forged.mp4", seconds=6, forged_span=(0.0, 6.0), seed=51)
    y4m = write_y4m(clip.path, tmp_path / "forged.y4m")
    config = DaemonConfig.model_validate(
        {
            "streams": [{"id": "browser", "type": "webrtc"}],
            "inference": {"model": str(demo_model_path), "device": "cpu"},
            "redis": {"url": redis_server.url},
            "server": {"listen": "127.0.0.1:0"},
            "data_dir": str(tmp_path / "data"),
            "api": {"token": TOKEN, "webrtc": {"host_addresses": ["127.0.0.1"], "stall_s": 5.0}},
        }
    )
    daemon = Daemon(config, detector=Detector.load(demo_model_path, device="cpu"))
    client = aioredis.from_url(redis_server.url)
    lines: list[str] = []
    await daemon.start()
    assert daemon.server is not None and daemon.api is not None
    page = await serve_page(lines)
    port = page.addresses[0][1]
    endpoint = f"{daemon.server.url}/whip/browser"
    url = f"http://127.0.0.1:{port}/whip_publish.html?endpoint={endpoint}&token={TOKEN}"
    browser_log = tmp_path / "chromium.log"
    process = start_chromium(chromium, url, y4m, tmp_path / "profile", browser_log)
    started = time.monotonic()
    try:

        async def alerted() -> list[dict[str, str]]:
            if process.poll() is not None:
                raise AssertionError(f"chromium exited: {browser_log.read_text(errors='replace')[-3000:]}")
            return [e for e in await alert_entries(client) if e["stream_id"] == "browser" and e["event"] == "start"]

        try:
            starts = await wait_for(alerted, within_s=60)
        except AssertionError as e:
            raise AssertionError(f"{e}; page log: {lines}; chromium: {browser_log.read_text()[-2000:]}") from e
        print(f"\nChromium page load -> alert start: {time.monotonic() - started:.2f} s; page log: {lines}")
        assert any(line.startswith("post:201:/whip/browser/") for line in lines), lines
        offered = next(line for line in lines if line.startswith("candidates:")).removeprefix("candidates:").split(",")
        assert offered and set(offered) == {"127.0.0.1"}, lines
        gathered = next(line for line in lines if line.startswith("gathered:")).removeprefix("gathered:").split(",")
        assert not any(host.endswith(".local") for host in gathered), gathered  # no mDNS names to resolve
        assert float(starts[0]["score"]) >= config.scoring.on_threshold

        async def browser_state_published() -> bool:
            state = await client.hgetall("streamguard:stream:browser")
            return state.get(b"status") == b"up" and int(state.get(b"analyzed", 0)) > 0

        await wait_for(browser_state_published, within_s=10)
        session = next(iter(daemon.api.whip.sessions.values()))
        assert session.frames > 0

        # Chromium killed without DELETE: the session is cleaned up and the stream goes down.
        process.kill()
        process.wait(timeout=10)

        async def cleaned_up() -> bool:
            return not daemon.api.whip.sessions  # type: ignore[union-attr]

        await wait_for(cleaned_up, within_s=config.api.webrtc.stall_s + 10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        await page.cleanup()
        await daemon.stop()
        await client.aclose()
