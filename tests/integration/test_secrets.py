"""Secrets never leak: a whole daemon run with every kind of secret set, then every output searched for them.

The API token, a per-stream WHIP token, the Redis password and two camera passwords (one camera up, one that
refuses connections) are set in the configuration file itself, the riskiest place. The daemon runs as
`streamguard run` at debug level; afterwards its log, /metrics, every API and console answer (errors
included), the OpenAPI document and every key in Redis are searched for each secret.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
import yaml

from streamguard.demo.clip import write_demo_clip
from tests.support.daemon_checks import alert_entries, wait_for
from tests.support.redis_process import RedisServer, free_port
from tests.support.rtsp_server import RtspServer

API_SECRET = "apiTok3nQx81"  # noqa: S105 - test secrets, searched for in every output
PHONE_SECRET = "ph0neTokZ27"  # noqa: S105
REDIS_SECRET = "redisPassW95"  # noqa: S105
CAMERA_SECRET = "camPassK44"  # noqa: S105
DEAD_CAMERA_SECRET = "deadCamP66"  # noqa: S105
SECRETS = (API_SECRET, PHONE_SECRET, REDIS_SECRET, CAMERA_SECRET, DEAD_CAMERA_SECRET)


async def redis_dump(url: str) -> str:
    """Every key and value of the database, as text."""
    client = aioredis.from_url(url)
    parts: list[str] = []
    try:
        async for key in client.scan_iter():
            kind_reply: bytes | str = await client.type(key)
            kind = kind_reply.decode() if isinstance(kind_reply, bytes) else kind_reply
            if kind == "string":
                value: object = await client.get(key)
            elif kind == "hash":
                value = await client.hgetall(key)
            elif kind == "stream":
                value = await client.xrange(key)
            else:
                value = kind
            parts.append(f"{key!r} {value!r}")
    finally:
        await client.aclose()
    return "\n".join(parts)


async def http_outputs(base: str) -> list[str]:
    """What a caller can read: health, metrics, the API (good and bad requests), the console."""
    auth = {"Authorization": f"Bearer {API_SECRET}"}
    texts: list[str] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for path, headers in (
            ("/healthz", {}),
            ("/readyz", {}),
            ("/metrics", {}),
            ("/api/openapi.json", {}),
            ("/api/streams", auth),
            ("/api/streams/cam", auth),
            ("/api/streams/deadcam", auth),
            ("/api/streams", {"Authorization": "Bearer wrong"}),
        ):
            async with http.get(base + path, headers=headers) as response:
                texts.append(f"{path} {response.status} {dict(response.headers)} {await response.text()}")
        bad = {"id": "x", "url": f"rtsp://u:{CAMERA_SECRET}@127.0.0.1:1/x", "analysis_fps": -1}
        async with http.post(base + "/api/streams", json=bad, headers=auth) as response:
            texts.append(f"POST invalid {response.status} {await response.text()}")
        async with http.post(base + "/console/login", json={"operator": "ops", "token": API_SECRET}) as response:
            texts.append(f"login {response.status} {dict(response.headers)}")
        for path in ("/", "/console/api/session", "/console/api/streams"):
            async with http.get(base + path) as response:
                texts.append(f"{path} {response.status} {await response.text()}")
        texts.append(repr(list(http.cookie_jar)))
    return texts


def test_no_secret_appears_in_any_output(tmp_path: Path, demo_model_path: Path, rtsp_server: RtspServer) -> None:
    write_demo_clip(rtsp_server.media_dir / "forged.mp4", seconds=6, forged_span=(0.0, 6.0), seed=51)
    redis = RedisServer(password=REDIS_SECRET, workdir=tmp_path / "redis").start()
    port = free_port()
    settings = {
        "streams": [
            {"id": "cam", "url": rtsp_server.url("forged.mp4", user="viewer", password=CAMERA_SECRET)},
            {"id": "deadcam", "url": f"rtsp://viewer:{DEAD_CAMERA_SECRET}@127.0.0.1:{free_port()}/live"},
            {"id": "phone", "type": "webrtc"},
        ],
        "inference": {"model": str(demo_model_path), "device": "cpu"},
        "redis": {"url": redis.url, "spool_path": str(tmp_path / "data" / "spool.jsonl")},
        "server": {"listen": f"127.0.0.1:{port}"},
        "data_dir": str(tmp_path / "data"),
        "api": {"token": API_SECRET, "stream_tokens": {"phone": PHONE_SECRET}},
    }
    config_path = tmp_path / "daemon.yaml"
    config_path.write_text(yaml.safe_dump(settings))
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamguard", "run", "--config", str(config_path), "--log-level", "debug"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:

        async def observe() -> tuple[list[str], str]:
            client = aioredis.from_url(redis.url)
            try:

                async def alerted() -> bool:
                    return any(e["event"] == "start" for e in await alert_entries(client))

                await wait_for(alerted, within_s=90)
                await redis_restart()
            finally:
                await client.aclose()
            return await http_outputs(f"http://127.0.0.1:{port}"), await redis_dump(redis.url)

        async def redis_restart() -> None:
            # A Redis outage makes the sink log its connection errors (with the URL) and retry.
            redis.kill()
            await asyncio.sleep(2.0)
            redis.start()
            await asyncio.sleep(2.0)

        texts, dump = asyncio.run(observe())
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        redis.stop()
    log_text = log_path.read_text(errors="replace")
    assert "deadcam" in log_text and "alert" in log_text  # the log did record the failures and the alert
    assert "cam" in dump and "alerts" in dump
    outputs = {"log": log_text, "redis": dump, **{f"http[{i}]": text for i, text in enumerate(texts)}}
    spool = tmp_path / "data" / "spool.jsonl"
    if spool.exists():
        outputs["spool"] = spool.read_text()
    leaks = [(name, secret) for name, text in outputs.items() for secret in SECRETS if secret in text]
    assert not leaks, json.dumps(leaks)
