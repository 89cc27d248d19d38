"""The runtime stream API against a running daemon on 127.0.0.1: add, inspect, remove, restart, CLI, fuzzing."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from streamguard.config import DaemonConfig, ResolvedStream
from streamguard.daemon import Daemon
from streamguard.daemon.core import build_source
from streamguard.demo.clip import write_demo_clip
from streamguard.ingest.base import BaseSource, EventCallback
from streamguard.ingest.push import PushSource
from streamguard.model.detector import Detector
from tests.support.daemon_checks import alert_entries, wait_for
from tests.support.redis_server import RedisServer

REPO = str(Path(__file__).resolve().parents[2])
HOOKS = "tests.support.schemathesis_hooks"
TOKEN = "api-test-token"  # noqa: S105 - a test token
AUTH = {"Authorization": f"Bearer {TOKEN}"}


LOW_THRESHOLDS = {"on_threshold": 0.55, "off_threshold": 0.4}


def api_config(tmp_path: Path, redis_url: str, model: Path, **api: Any) -> DaemonConfig:
    return DaemonConfig.model_validate(
        {
            "inference": {"model": str(model), "device": "cpu"},
            "redis": {"url": redis_url},
            "server": {"listen": "127.0.0.1:0"},
            "data_dir": str(tmp_path / "data"),
            "api": {"token": TOKEN, "allowed_path_roots": [str(tmp_path)], **api},
        }
    )


async def call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        kwargs: dict[str, Any] = {"headers": AUTH if headers is None else headers}
        if isinstance(body, str):
            kwargs["data"] = body
            kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/json"}
        elif body is not None:
            kwargs["json"] = body
        async with http.request(method, url, **kwargs) as response:
            text = await response.text()
            return response.status, json.loads(text) if text and response.content_type == "application/json" else text


async def cli(*args: str, api: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamguard",
        "streams",
        *args,
        "--api",
        api,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "STREAMGUARD_API_TOKEN": TOKEN, "COLUMNS": "200"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, output.decode()


async def test_add_remove_restart_and_cli(tmp_path: Path, demo_model_path: Path, redis_server: RedisServer) -> None:
    forged = write_demo_clip(tmp_path / "forged.mp4", seconds=6, forged_span=(0.0, 6.0), seed=41)
    clean = write_demo_clip(tmp_path / "clean.mp4", seconds=4, forged_span=None, seed=42)
    # This test is about the API, not the detector: thresholds well below the quick demo model's scores on its
    # forged clip (a window mean near 0.7 on some installs), so that an alert is surely open when it is removed.
    config = api_config(tmp_path, redis_server.url, demo_model_path)
    config = config.model_copy(update={"scoring": config.scoring.model_copy(update=LOW_THRESHOLDS)})
    detector = Detector.load(demo_model_path, device="cpu")
    daemon = Daemon(config, detector=detector)
    client = aioredis.from_url(redis_server.url)
    await daemon.start()
    assert daemon.server is not None
    api = daemon.server.url
    try:
        stream = {"id": "lobby", "url": str(forged.path), "loop": True, "realtime": True}
        assert (await call("POST", f"{api}/api/streams", stream, headers={}))[0] == 401
        status, created = await call("POST", f"{api}/api/streams", stream)
        assert status == 201, created
        assert created["id"] == "lobby" and created["type"] == "file" and created["runtime"] is True
        assert (await call("POST", f"{api}/api/streams", stream))[0] == 409

        # Invalid bodies: 422 naming the field (never the URL's secrets); non-JSON: 400.
        invalid = [
            ({"id": "a", "url": "rtsp://u:hunter2@10.0.0.1/x", "analysis_fps": -1}, "analysis_fps"),
            ({"id": "bad id!", "url": "x.mp4"}, "id"),
            ({"id": "b"}, "url"),
            ({"id": "c", "url": "ftp://host/x"}, "url"),
            ({"id": "d", "url": "x.mp4", "colour": "red"}, "colour"),
            ({"id": "e", "type": "webrtc", "url": "x.mp4"}, "url"),
            ([1, 2], "body"),
        ]
        for body, field in invalid:
            status, problem = await call("POST", f"{api}/api/streams", body)
            assert status == 422, (body, problem)
            assert field in [d["field"] for d in problem["detail"]], (body, problem)
            assert "hunter2" not in json.dumps(problem)
        assert (await call("POST", f"{api}/api/streams", "{not json"))[0] == 400
        # Bodies and headers are bounded before any handler reads them.
        assert (await call("POST", f"{api}/api/streams", '{"id": "' + "x" * 2_000_000 + '"}'))[0] == 413
        assert (await call("GET", f"{api}/api/streams", headers={**AUTH, "X-Pad": "p" * 20_000}))[0] == 400

        # Outside the allowlist: 403 with the reason (never the URL), counted by reason.
        refused = [
            ({"id": "f", "url": "/etc/hostname"}, "path_not_allowed"),
            ({"id": "g", "url": f"{tmp_path}/../../etc/hostname"}, "path_not_allowed"),
            ({"id": "h", "url": "http://169.254.169.254/latest/meta-data"}, "scheme_not_allowed"),
            ({"id": "i", "url": "file:///etc/hostname"}, "path_not_allowed"),
        ]
        for body, reason in refused:
            status, problem = await call("POST", f"{api}/api/streams", body)
            assert status == 403 and problem["detail"] == [{"field": "url", "message": reason}], (body, problem)
            assert "169.254" not in problem["error"] and "/etc" not in problem["error"]
        metrics = (await call("GET", f"{api}/metrics", headers={}))[1]
        assert 'streamguard_api_refused_total{reason="path_not_allowed"} 3.0' in metrics
        assert 'streamguard_api_refused_total{reason="scheme_not_allowed"} 1.0' in metrics
        assert 'streamguard_api_refused_total{reason="unauthorized"} 1.0' in metrics
        assert set(daemon.streams) == {"lobby"}

        # Frames flow and the forged stream alerts.
        async def analysed() -> bool:
            return int((await call("GET", f"{api}/api/streams/lobby"))[1].get("analyzed", 0)) > 3

        await wait_for(analysed, within_s=30)

        async def started() -> list[dict[str, str]]:
            return [e for e in await alert_entries(client) if e["stream_id"] == "lobby" and e["event"] == "start"]

        start = (await wait_for(started, within_s=40))[0]

        # The CLI is a client of the same API.
        code, out = await cli("add", "desk", str(clean.path), "--loop", "--realtime", api=api)
        assert code == 0, out
        code, out = await cli("list", api=api)
        assert code == 0 and "lobby" in out and "desk" in out, out
        code, out = await cli("add", "desk", str(clean.path), api=api)
        assert code == 2 and "409" in out, out
        status, listed = await call("GET", f"{api}/api/streams")
        assert status == 200 and [s["id"] for s in listed["streams"]] == ["desk", "lobby"]

        # DELETE stops the stream and ends its open alert (stream_removed).
        status, _ = await call("DELETE", f"{api}/api/streams/lobby")
        assert status == 204
        assert (await call("GET", f"{api}/api/streams/lobby"))[0] == 404
        assert (await call("DELETE", f"{api}/api/streams/lobby"))[0] == 404

        # The sink publishes asynchronously, so the end event and state hash are waited for.
        async def ended() -> list[dict[str, str]]:
            entries = await alert_entries(client)
            return [e for e in entries if e["event"] == "end" and e["alert_id"] == start["alert_id"]]

        ends = await wait_for(ended, within_s=10)
        assert ends[0]["reason"] == "stream_removed"

        async def marked_removed() -> bool:
            return (await client.hgetall("streamguard:stream:lobby")).get(b"status") == b"removed"

        await wait_for(marked_removed, within_s=10)
    finally:
        await daemon.stop()

    # Runtime streams survive a restart: `desk` comes back, `lobby` (removed) does not.
    stored = json.loads((config.data_dir / "streams.json").read_text())
    assert [s["id"] for s in stored] == ["desk"]
    daemon = Daemon(config, detector=detector)
    await daemon.start()
    assert daemon.server is not None
    api = daemon.server.url
    try:
        assert set(daemon.streams) == {"desk"}
        status, desk = await call("GET", f"{api}/api/streams/desk")
        assert status == 200 and desk["runtime"] is True

        async def desk_analysed() -> bool:
            return int((await call("GET", f"{api}/api/streams/desk"))[1].get("analyzed", 0)) > 0

        await wait_for(desk_analysed, within_s=30)
        code, out = await cli("rm", "desk", api=api)
        assert code == 0, out
        assert not daemon.streams
        assert json.loads((config.data_dir / "streams.json").read_text()) == []
    finally:
        await daemon.stop()
        await client.aclose()


async def test_api_fuzzed_from_its_openapi_document_gives_no_5xx(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer
) -> None:
    """Schemathesis generates requests from /api/openapi.json; every answer must be below 500.

    Fuzzed streams get a `PushSource` instead of their URL's source, so no generated URL is ever contacted.
    """

    def offline_source(stream: ResolvedStream, on_event: EventCallback) -> BaseSource:
        if stream.kind == "webrtc":
            return build_source(stream, on_event)
        return PushSource(stream.id, "fuzz://offline", on_event=on_event)

    every_url = {"allowed_url_schemes": ["rtsp", "rtsps", "http", "https"], "allowed_path_roots": ["/"]}
    config = api_config(tmp_path, redis_server.url, demo_model_path, dynamic_streams=True, max_sessions=4, **every_url)
    daemon = Daemon(config, detector=Detector.load(demo_model_path, device="cpu"), source_factory=offline_source)
    await daemon.start()
    assert daemon.server is not None
    try:
        status, document = await call("GET", f"{daemon.server.url}/api/openapi.json", headers={})
        assert status == 200 and document["openapi"].startswith("3.")
        routes = {(r.method, r.resource.canonical) for r in daemon.server.app.router.routes() if r.resource}
        documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops if m != "parameters"}
        # The console's pages, assets, feed and JSON (cookie sessions for its own page) are not part of the API.
        api_routes = {
            (m, p) for m, p in routes if m != "HEAD" and p not in {"/", "/login"} and not p.startswith("/console/")
        }
        assert documented == api_routes
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{daemon.server.url}/api/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "15",
            "--max-time",
            "30",
            "--workers",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--suppress-health-check",
            "all",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": REPO},
            cwd=tmp_path,  # schemathesis keeps its state in ./.schemathesis
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
        text = output.decode(errors="replace")
        print(text[-3000:])
        assert process.returncode == 0, text[-6000:]
    finally:
        await daemon.stop()


async def test_sharded_replicas_refuse_and_do_not_restore_streams_another_replica_owns(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer
) -> None:
    """Replica 0 of 2 (rendezvous hashing of the id, as for configured streams): another replica's id is 421."""
    from streamguard.ops.sharding import other_owner_lookup, owner

    ids = [f"cam{i}" for i in range(12)]
    mine = next(i for i in ids if owner(i, 2) == 0)
    theirs = next(i for i in ids if owner(i, 2) == 1)
    lookup = other_owner_lookup({"STREAMGUARD_REPLICAS": "2", "STREAMGUARD_REPLICA_INDEX": "streamguard-0"})
    clip = write_demo_clip(tmp_path / "clip.mp4", seconds=3, forged_span=None, seed=43)
    config = api_config(tmp_path, redis_server.url, demo_model_path)
    detector = Detector.load(demo_model_path, device="cpu")
    daemon = Daemon(config, detector=detector, other_owner=lookup)
    await daemon.start()
    assert daemon.server is not None
    try:
        status, refused = await call("POST", f"{daemon.server.url}/api/streams", {"id": theirs, "url": str(clip.path)})
        assert status == 421 and refused["detail"] == [{"field": "id", "message": "owner_replica=1"}], refused
        status, _ = await call("POST", f"{daemon.server.url}/api/streams", {"id": mine, "url": str(clip.path)})
        assert status == 201 and daemon.stream_ids() == [mine]
    finally:
        await daemon.stop()
    # A streams file from before a re-sharding holds both: only the owned one comes back.
    store = config.api.resolved_streams_file(config.data_dir)
    store.write_text(json.dumps([{"id": mine, "url": str(clip.path)}, {"id": theirs, "url": str(clip.path)}]))
    again = Daemon(config, detector=detector, other_owner=lookup)
    await again.start()
    try:
        assert again.stream_ids() == [mine]
    finally:
        await again.stop()
