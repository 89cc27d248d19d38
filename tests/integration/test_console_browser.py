"""The operator console in a real browser: Debian's headless Chromium driven by Playwright, daemon on 127.0.0.1.

Log in (a wrong token first), watch a stream appear with a changing preview, see a forged stream's alert
arrive in the feed without a reload, open it (overlay, crop, mask and score plot load), acknowledge it and
find the acknowledgement in Redis. Every request the browser makes must go to the daemon. Screenshots of
each page are written to ``$STREAMGUARD_TEST_ARTIFACTS/console`` (default ``artifacts/console``).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, Page, async_playwright

from streamguard.config import DaemonConfig, ServerConfig, StreamConfig, TlsConfig
from streamguard.daemon import Daemon
from streamguard.demo.clip import write_demo_clip
from streamguard.model.detector import Detector
from tests.support.browser import QUIET_FLAGS, find_chromium
from tests.support.certificates import TestCa
from tests.support.daemon_checks import alert_entries, wait_for
from tests.support.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]
TOKEN = "console-test-token"  # noqa: S105 - a test token
OPERATOR = "Test Operator"
IMAGE_LOADED = """name => {
  const image = document.querySelector(`[data-testid=${name}]`);
  return image !== null && image.complete && image.naturalWidth > 0;
}"""
CHROMIUM_ARGS = [*QUIET_FLAGS, "--disable-features=MediaRouter,OptimizationHints,Translate"]


def artifacts_dir() -> Path:
    root = Path(os.environ.get("STREAMGUARD_TEST_ARTIFACTS", REPO / "artifacts"))
    path = root / "console"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    binary = find_chromium()
    assert binary is not None, "chromium is required (deploy/apt-packages.txt installs it)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


def console_config(tmp_path: Path, redis_url: str, model: Path) -> DaemonConfig:
    return DaemonConfig.model_validate(
        {
            "inference": {"model": str(model), "device": "cpu"},
            "ingest": {"analysis_fps": 5},
            "redis": {"url": redis_url},
            "server": {"listen": "127.0.0.1:0"},
            "data_dir": str(tmp_path / "data"),
            "api": {"token": TOKEN, "allowed_path_roots": [str(tmp_path)]},
            "console": {"preview_fps": 4},
            "explain": {"enabled": True},
        }
    )


async def frame_of_preview(page: Page, stream_id: str) -> str | None:
    return await page.get_attribute(
        f'[data-testid=stream-tile][data-stream-id="{stream_id}"] [data-testid=preview]', "data-frame"
    )


async def test_console_login_preview_alert_feed_detail_and_acknowledgement(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer, browser: Browser
) -> None:
    shots = artifacts_dir()
    forged = write_demo_clip(tmp_path / "forged.mp4", seconds=8, forged_span=(1.0, 8.0), seed=61)
    config = console_config(tmp_path, redis_server.url, demo_model_path)
    daemon = Daemon(config, detector=Detector.load(demo_model_path, device="cpu"))
    client = aioredis.from_url(redis_server.url)
    await daemon.start()
    assert daemon.server is not None and daemon.console is not None
    base = daemon.server.url
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    failures: list[tuple[int, str]] = []
    context.on("response", lambda r: failures.append((r.status, r.url.removeprefix(base))) if r.status >= 400 else None)
    page = await context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    try:
        # Not logged in: the console sends the browser to the login form. A wrong token is refused.
        await page.goto(base + "/")
        assert page.url == base + "/login"
        await page.fill("input[name=operator]", OPERATOR)
        await page.fill("input[name=token]", "not-the-token")
        await page.click("[data-testid=login-submit]")
        error = page.locator("[data-testid=login-error]")
        await error.wait_for(state="visible", timeout=10_000)
        assert "wrong token" in (await error.inner_text()).lower()
        assert not [c for c in await context.cookies() if c["name"] == "streamguard_console"]
        await page.screenshot(path=str(shots / "login.png"))

        await page.fill("input[name=token]", TOKEN)
        await page.click("[data-testid=login-submit]")
        await page.wait_for_url(base + "/", timeout=10_000)
        cookie = next(c for c in await context.cookies() if c["name"] == "streamguard_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
        assert await page.locator("[data-testid=operator]").inner_text() == OPERATOR
        await page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

        # Previews cost nothing before anyone watches a stream.
        assert daemon.console.previews.rendered["cam"] == 0
        # A stream added at runtime appears, with a preview that changes.
        status, _ = await add_stream(base, "cam", f"{forged.path}?loop=1&realtime=1")
        assert status == 201
        tile = page.locator('[data-testid=stream-tile][data-stream-id="cam"]')
        await tile.wait_for(timeout=15_000)
        first = await wait_for(lambda: frame_of_preview(page, "cam"), within_s=30)
        await wait_for(lambda: changed(page, "cam", first), within_s=15)
        assert daemon.console.previews.rendered["cam"] >= 2

        # The forged stream's alert arrives in the feed without a reload.
        async def started() -> list[dict[str, str]]:
            return [e for e in await alert_entries(client) if e["event"] == "start"]

        start = (await wait_for(started, within_s=60))[0]
        row = page.locator(f'[data-testid=alert-row][data-alert-id="{start["alert_id"]}"]')
        await row.wait_for(timeout=10_000)
        ids: Any = await client.xrange("streamguard:alerts", count=1000)
        start_ms = next(int(i.decode().split("-")[0]) for i, f in ids if f[b"alert_id"].decode() == start["alert_id"])
        delay_s = time.time() - start_ms / 1000
        print(f"\nalert written to Redis -> row visible in the browser: {delay_s * 1000:.0f} ms (upper bound)")
        assert delay_s < 5.0
        assert await page.evaluate("window.__sameDocument === true")
        await page.screenshot(path=str(shots / "streams-and-alerts.png"))

        # The alert's detail: images load, the score plot is drawn.
        await row.click()
        detail = page.locator("[data-testid=alert-detail]")
        await detail.wait_for(timeout=10_000)
        for name in ("overlay-image", "crop-image", "mask-image"):
            image = page.locator(f"[data-testid={name}]")
            await page.wait_for_function(
                IMAGE_LOADED,
                arg=name,
                timeout=10_000,
            )
            src = await image.get_attribute("src")
            assert src is not None
            response = await page.request.get(src if src.startswith("http") else base + src)
            body = await response.body()
            assert response.status == 200 and len(body) > 0
            assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED) is not None
        assert await page.locator("[data-testid=score-plot] polyline").count() >= 1
        # The explanation went through Redis and reads the same on the page (the demo model has no attribute
        # head: no attribute; its regions are the face-mesh regions its mask covers).
        assert {"attribute", "attribute_p", "regions", "explanation"} <= start.keys()
        assert start["attribute"] == "" and await fact(page, "attribute") == "—"
        regions = json.loads(start["regions"])
        assert await fact(page, "regions") == (
            ", ".join(f"{r['region']} {round(r['coverage'] * 100)} %" for r in regions) or "—"
        )
        assert await fact(page, "what") == (start["explanation"] or "—")
        print(f"\nexplanation of the demo alert: {start['explanation']!r}, regions {regions}")
        await page.screenshot(path=str(shots / "alert-detail.png"))

        # Nobody watches the grid now: previews stop being drawn while the stream is still analysed.
        await asyncio.sleep(1.0)
        drawn = daemon.console.previews.rendered["cam"]
        analysed = daemon.streams["cam"].worker.status.analyzed
        await asyncio.sleep(2.0)
        assert daemon.console.previews.rendered["cam"] == drawn
        assert daemon.streams["cam"].worker.status.analyzed > analysed

        # Acknowledge: recorded in the alerts stream with who, and shown on the page.
        await page.fill("[data-testid=ack-note]", "checked by the browser test")
        await page.click("[data-testid=ack-button]")
        await page.locator("[data-testid=ack-list]", has_text=OPERATOR).wait_for(timeout=10_000)

        async def acknowledged() -> list[dict[str, str]]:
            return [e for e in await alert_entries(client) if e["event"] == "ack"]

        ack = (await wait_for(acknowledged, within_s=5))[0]
        assert ack["alert_id"] == start["alert_id"] and ack["by"] == OPERATOR
        assert ack["note"] == "checked by the browser test" and ack["stream_id"] == "cam"
        await page.screenshot(path=str(shots / "alert-acknowledged.png"))

        # Back on the overview the row shows the new state, and the filters select by it.
        await page.click("[data-testid=back]")
        acked_row = page.locator(f'[data-testid=alert-row][data-alert-id="{start["alert_id"]}"]')
        await page.wait_for_function(
            'id => document.querySelector(`[data-testid=alert-row][data-alert-id="${id}"]`)?.dataset.state'
            " === 'acknowledged'",
            arg=start["alert_id"],
            timeout=10_000,
        )
        await page.select_option("[data-testid=filter-state]", "dismissed")
        await acked_row.wait_for(state="hidden", timeout=5_000)
        await page.select_option("[data-testid=filter-state]", "acknowledged")
        await page.select_option("[data-testid=filter-stream]", "cam")
        await acked_row.wait_for(state="visible", timeout=5_000)

        # A request with a wrong token is refused by the console API too.
        refused = await page.request.get(base + "/console/api/streams", headers={"Authorization": "Bearer nope"})
        assert refused.status == 401
    except Exception as e:
        raise AssertionError(f"{e}\nbrowser console errors: {console_errors}\nfailed: {failures}") from e
    finally:
        await context.close()
        await daemon.stop()
        await client.aclose()

    outside = [url for url in requests if not url.startswith((base + "/", "blob:", "data:"))]
    assert requests and not outside, outside
    assert failures == [(401, "/console/login")], failures  # only the wrong token was refused
    assert not [e for e in console_errors if "Failed to load resource" not in e], console_errors


def regions_in_words(regions: list[dict[str, Any]]) -> str:
    """What the console writes for an alert's regions (JavaScript's Math.round: halves go up)."""
    words = [f"{r['region']} {math.floor(r['coverage'] * 100 + 0.5)} %" for r in regions]
    return ", ".join(words) or "—"


async def fact(page: Page, name: str) -> str:
    """The text of one row of the alert detail's facts table."""
    return (await page.locator(f"[data-testid=fact-{name}]").inner_text()).strip()


async def changed(page: Page, stream_id: str, first: str | None) -> bool:
    return (await frame_of_preview(page, stream_id)) not in (None, first)


async def add_stream(base: str, stream_id: str, url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        body = {"id": stream_id, "url": url}
        async with http.post(f"{base}/api/streams", json=body, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            return r.status, await r.text()


async def test_the_console_works_over_native_https_with_a_secure_session_cookie(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer, browser: Browser
) -> None:
    server = TestCa(tmp_path).issue("server")
    clip = write_demo_clip(tmp_path / "clip.mp4", seconds=4, forged_span=None, seed=62)
    config = console_config(tmp_path, redis_server.url, demo_model_path).model_copy(
        update={
            "server": ServerConfig(listen="127.0.0.1:0", tls=TlsConfig(cert_file=server.cert, key_file=server.key)),
            "streams": [StreamConfig(id="lobby", url=str(clip.path), loop=True, realtime=True)],
        }
    )
    daemon = Daemon(config, detector=Detector.load(demo_model_path, device="cpu"))
    await daemon.start()
    assert daemon.server is not None
    base = daemon.server.url
    # The test CA is not in the browser's store: certificate errors are waived here, TLS itself is not.
    context = await browser.new_context(ignore_https_errors=True)
    page = await context.new_page()
    try:
        assert base.startswith("https://")
        await page.goto(base + "/")
        assert page.url == base + "/login"
        await page.fill("input[name=operator]", OPERATOR)
        await page.fill("input[name=token]", TOKEN)
        await page.click("[data-testid=login-submit]")
        await page.wait_for_url(base + "/", timeout=10_000)
        cookie = next(c for c in await context.cookies() if c["name"] == "streamguard_console")
        assert cookie["secure"] and cookie["httpOnly"] and TOKEN not in cookie["value"]
        await page.locator('[data-testid=stream-tile][data-stream-id="lobby"]').wait_for(timeout=15_000)
    finally:
        await context.close()
        await daemon.stop()
