"""Units of the runtime API: bearer auth, SDP offer checks, the runtime stream store, the API config."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streamguard.api.auth import bearer_middleware, bearer_token, token_matches
from streamguard.api.openapi import openapi_document
from streamguard.api.policy import StreamPolicy
from streamguard.api.ratelimit import MinuteLimit, rate_limit_middleware
from streamguard.api.runtime import check_exposure
from streamguard.api.server import ClientDeadlines, HttpServer
from streamguard.api.slowclients import body_deadline_middleware
from streamguard.api.streams import RuntimeStreamStore
from streamguard.api.whip import OfferError, check_offer
from streamguard.config import ApiConfig, StreamConfig
from streamguard.config.api import TOKEN_ENV
from streamguard.errors import ConfigError
from streamguard.types import RefusalReason

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
    "a=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n"
)


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer") is None
    assert bearer_token(None) is None
    assert token_matches("abc", ["x", "abc"])
    assert not token_matches("abd", ["abc"])
    assert not token_matches("", ["abc"])


async def test_middleware_guards_api_and_whip_only() -> None:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[bearer_middleware("global", {"cam": "cam-token"})])
    app.router.add_get("/api/streams", ok)
    app.router.add_get("/api/openapi.json", ok)
    app.router.add_post("/whip/{stream_id}", ok)
    app.router.add_route("OPTIONS", "/whip/{stream_id}", ok)
    app.router.add_get("/healthz", ok)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/api/openapi.json")).status == 200
        assert (await client.options("/whip/cam")).status == 200
        missing = await client.get("/api/streams")
        assert missing.status == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = await client.get("/api/streams", headers={"Authorization": "Bearer cam-token"})
        assert wrong.status == 401 and 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
        assert (await client.get("/api/streams", headers={"Authorization": "Bearer global"})).status == 200
        assert (await client.post("/whip/cam", headers={"Authorization": "Bearer cam-token"})).status == 200
        assert (await client.post("/whip/cam", headers={"Authorization": "Bearer global"})).status == 200
        assert (await client.post("/whip/other", headers={"Authorization": "Bearer cam-token"})).status == 401


def test_a_valid_offer_passes() -> None:
    description = check_offer(OFFER)
    assert [m.kind for m in description.media] == ["video"]


@pytest.mark.parametrize(
    ("offer", "reason"),
    [
        ("", "first line must be v=0"),
        ("hello", "first line must be v=0"),
        ("v=0\r\nthis is not sdp\r\n", "line 2 is not <letter>=<value>"),
        ("v=0\r\nm=video x\r\n", "line 2 is not m=<media>"),
        ("v=0\r\nm=video 9 RTP/AVP 300\r\n", "line 2 is not m=<media>"),
        (OFFER.replace("VP8", "AV1"), "no supported video codec"),
        (OFFER.split("m=video")[0], "exactly one video section, it has 0"),
        (OFFER + OFFER[OFFER.index("m=video") :], "exactly one video section, it has 2"),
        (OFFER.replace("a=ice-ufrag:abcd\r\n", ""), "no ICE credentials"),
        (OFFER.replace("a=fingerprint:sha-256 AA:BB\r\n", ""), "no DTLS fingerprint"),
        (OFFER.replace("a=fingerprint:sha-256 AA:BB", "a=fingerprint:sha-256"), "malformed SDP: ValueError"),
    ],
)
def test_bad_offers_are_refused_with_a_reason(offer: str, reason: str) -> None:
    with pytest.raises(OfferError, match=reason.replace("(", r"\(")):
        check_offer(offer)


def test_store_round_trip_skips_bad_entries(tmp_path: Path) -> None:
    store = RuntimeStreamStore(tmp_path / "sub" / "streams.json")
    assert store.load() == []
    streams = [StreamConfig(id="a", url="rtsp://cam/live"), StreamConfig(id="b", type="webrtc")]
    store.save(streams)
    assert store.load() == streams
    store.path.write_text('[{"id": "ok", "url": "x.mp4"}, {"id": "bad id"}, 3]')
    assert [s.id for s in store.load()] == ["ok"]
    store.path.write_text("{not json")
    assert store.load() == []


def test_token_from_config_or_environment() -> None:
    assert ApiConfig().resolved_token({}) is None
    assert ApiConfig().resolved_token({"STREAMGUARD_API_TOKEN": "env"}) == "env"
    assert ApiConfig().resolved_token({"STREAMGUARD_API_TOKEN": ""}) is None
    assert ApiConfig.model_validate({"token": "cfg"}).resolved_token({"STREAMGUARD_API_TOKEN": "env"}) == "cfg"
    assert ApiConfig().resolved_streams_file(Path("d")) == Path("d/streams.json")


def test_openapi_document_uses_the_stream_model() -> None:
    document = openapi_document("0")
    assert document["components"]["schemas"]["StreamConfig"]["properties"].keys() == StreamConfig.model_fields.keys()
    assert "/whip/{stream_id}" in document["paths"] and "/api/streams/{stream_id}" in document["paths"]


def test_udp_port_range_needs_both_ends_in_order() -> None:
    from pydantic import ValidationError

    from streamguard.config.api import WebRtcConfig

    assert WebRtcConfig(udp_port_min=40000, udp_port_max=40100).udp_port_max == 40100
    for bad in ({"udp_port_min": 40000}, {"udp_port_max": 40100}, {"udp_port_min": 40100, "udp_port_max": 40000}):
        try:
            WebRtcConfig.model_validate(bad)
        except ValidationError as e:
            assert "udp_port" in str(e)
        else:
            raise AssertionError(f"accepted {bad}")


def _policy(**api: object) -> StreamPolicy:
    return StreamPolicy.from_config(ApiConfig.model_validate(api))


def _refusal(policy: StreamPolicy, url: str) -> RefusalReason | None:
    refusal = policy.refusal(StreamConfig(id="s", url=url))
    if refusal is not None:
        assert "hunter2" not in refusal.message  # the URL's credentials never reach the caller
    return None if refusal is None else refusal.reason


def test_default_policy_allows_rtsp_anywhere_and_nothing_local_or_http() -> None:
    policy = _policy()
    assert _refusal(policy, "rtsp://u:hunter2@10.0.0.5/live") is None
    assert _refusal(policy, "rtsps://cam.example.com/live") is None
    assert _refusal(policy, "http://169.254.169.254/latest/meta-data") == RefusalReason.SCHEME_NOT_ALLOWED
    assert _refusal(policy, "https://u:hunter2@internal/x.mp4") == RefusalReason.SCHEME_NOT_ALLOWED
    assert _refusal(policy, "/etc/passwd") == RefusalReason.PATH_NOT_ALLOWED
    assert _refusal(policy, "file:///etc/passwd") == RefusalReason.PATH_NOT_ALLOWED
    assert policy.refusal(StreamConfig(id="w", type="webrtc")) is None  # pushed to us: nothing is fetched


def test_hosts_match_networks_names_and_suffixes_never_by_resolving() -> None:
    policy = _policy(allowed_hosts=["10.1.0.0/16", "cam1.local", "*.cams.example.com", "::1"])
    assert _refusal(policy, "rtsp://10.1.2.3/live") is None
    assert _refusal(policy, "rtsp://[::1]:8554/live") is None
    assert _refusal(policy, "rtsp://CAM1.local/live") is None
    assert _refusal(policy, "rtsp://a.cams.example.com/live") is None
    assert _refusal(policy, "rtsp://10.2.0.1/live") == RefusalReason.HOST_NOT_ALLOWED
    assert _refusal(policy, "rtsp://cams.example.com.evil.net/live") == RefusalReason.HOST_NOT_ALLOWED
    assert _refusal(policy, "rtsp://localhost/live") == RefusalReason.HOST_NOT_ALLOWED  # a name, not resolved
    with pytest.raises(ValueError, match="not an IP address"):
        ApiConfig(allowed_hosts=["rtsp://x"])


def test_local_files_only_under_the_roots_after_resolving_links_and_dots(tmp_path: Path) -> None:
    root, outside = tmp_path / "media", tmp_path / "secret"
    root.mkdir()
    outside.mkdir()
    (outside / "x.mp4").write_bytes(b"")
    (root / "link.mp4").symlink_to(outside / "x.mp4")
    policy = _policy(allowed_path_roots=[str(root)])
    assert _refusal(policy, f"{root}/clip.mp4?loop=1") is None
    assert _refusal(policy, f"file://{root}/clip.mp4") is None
    assert _refusal(policy, f"{root}/../secret/x.mp4") == RefusalReason.PATH_NOT_ALLOWED
    assert _refusal(policy, f"{root}/link.mp4") == RefusalReason.PATH_NOT_ALLOWED
    assert _refusal(policy, f"{root}/clip.mp4?colour=red") == RefusalReason.PATH_NOT_ALLOWED


@pytest.mark.parametrize(
    ("listen", "api", "environ", "refused"),
    [
        ("0.0.0.0:8080", {}, {}, True),
        ("[::]:8080", {}, {}, True),
        ("cams.internal:8080", {}, {}, True),
        ("0.0.0.0:8080", {"allow_unauthenticated": True}, {}, False),
        ("0.0.0.0:8080", {"token": "t0k"}, {}, False),
        ("0.0.0.0:8080", {}, {TOKEN_ENV: "t0k"}, False),
        ("127.0.0.1:8080", {}, {}, False),
        ("127.8.0.1:8080", {}, {}, False),
        ("localhost:8080", {}, {}, False),
        ("[::1]:8080", {}, {}, False),
    ],
)
def test_an_exposed_listener_needs_a_token_or_an_explicit_opt_out(
    listen: str, api: dict[str, object], environ: dict[str, str], refused: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    config = ApiConfig.model_validate(api)
    if refused:
        with pytest.raises(ConfigError, match=r"server.listen .* no API token.*api.allow_unauthenticated"):
            check_exposure(listen, config)
    else:
        check_exposure(listen, config)


def test_the_token_can_come_from_a_file_and_a_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-from-file\n")
    assert ApiConfig(token_file=secret).resolved_token({}) == "s3cret-from-file"
    check_exposure("0.0.0.0:8080", ApiConfig(token_file=secret))
    (tmp_path / "empty").write_text("  \n")
    with pytest.raises(ConfigError, match=r"api\.token_file: .* is empty"):
        ApiConfig(token_file=tmp_path / "empty").resolved_token({})
    with pytest.raises(ConfigError, match=r"api\.token_file: cannot read"):
        ApiConfig(token_file=tmp_path / "missing").resolved_token({})
    with pytest.raises(ValueError, match="token or token_file, not both"):
        ApiConfig.model_validate({"token": "a", "token_file": str(secret)})


async def test_each_caller_has_its_own_request_budget_and_429_says_when_to_retry() -> None:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    limited: list[int] = []
    middlewares = [
        rate_limit_middleware(MinuteLimit(3), MinuteLimit(100), lambda: limited.append(1)),
        bearer_middleware(None, {"a": "token-a", "b": "token-b"}),
    ]
    app = web.Application(middlewares=middlewares)
    app.router.add_post("/whip/{stream_id}", ok)
    app.router.add_get("/healthz", ok)
    async with TestClient(TestServer(app)) as client:
        as_a = {"Authorization": "Bearer token-a"}
        assert [(await client.post("/whip/a", headers=as_a)).status for _ in range(3)] == [200] * 3
        refused = await client.post("/whip/a", headers=as_a)
        assert refused.status == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "token-a" not in await refused.text()
        assert (await client.post("/whip/b", headers={"Authorization": "Bearer token-b"})).status == 200
        assert [(await client.get("/healthz")).status for _ in range(5)] == [200] * 5  # health is never limited
    assert len(limited) == 1


async def test_failed_authentications_lock_the_address_out_for_the_window() -> None:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(
        middlewares=[rate_limit_middleware(MinuteLimit(0), MinuteLimit(3)), bearer_middleware("right", {})]
    )
    app.router.add_get("/api/streams", ok)
    async with TestClient(TestServer(app)) as client:
        guesses = [
            (await client.get("/api/streams", headers={"Authorization": f"Bearer guess{i}"})).status for i in range(5)
        ]
        assert guesses == [401, 401, 401, 429, 429]  # each guess is a new token: the address is what is limited
        assert (await client.get("/api/streams", headers={"Authorization": "Bearer right"})).status == 429


async def _read_all(reader: asyncio.StreamReader, within_s: float) -> bytes:
    return await asyncio.wait_for(reader.read(), within_s)


async def test_slow_clients_lose_their_connection_or_get_408_and_are_counted() -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await request.read())))

    expired: list[str] = []
    app = web.Application(middlewares=[body_deadline_middleware(0.3, lambda: expired.append("body"))])
    app.router.add_post("/api/streams", echo)
    server = HttpServer(app, "127.0.0.1:0", deadlines=ClientDeadlines(0.3, 5.0, lambda: expired.append("head")))
    await server.start()
    try:
        # A head that never ends: the connection is closed at the deadline, nothing is answered.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /api/streams HTTP/1.1\r\nHost: x\r\n")
        assert await _read_all(reader, 5) == b"" and expired == ["head"]
        writer.close()
        # A body that never ends: 408, counted.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /api/streams HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        status_line = (await asyncio.wait_for(reader.readline(), 5)).decode()
        assert " 408 " in status_line and expired == ["head", "body"]
        writer.close()
        # A prompt client, its head split across writes, is served (the head deadline stops at the head's end).
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        for part in (
            b"POST /api/streams HTTP/1.1\r\nHost: x\r",
            b"\nContent-Length: 3\r\nConnection: close\r\n\r",
            b"\nabc",
        ):
            writer.write(part)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.4)  # past the head deadline: the connection must still be open
        response = await _read_all(reader, 5)
        assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"3") and expired == ["head", "body"]
        writer.close()
    finally:
        await server.close()


async def test_a_head_trickled_on_a_kept_alive_connection_is_closed_at_the_keepalive_timeout() -> None:
    """Later heads of a connection: aiohttp closes a connection still idle (no complete head) at keepalive_s."""

    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application()
    app.router.add_get("/", hello)
    server = HttpServer(app, "127.0.0.1:0", deadlines=ClientDeadlines(5.0, 0.5))
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"hi"), 5)).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        closed_after: float | None = None
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60:
            if writer.is_closing() or reader.at_eof():
                break
            writer.write(bytes([byte]))
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(1), 0.1) == b"":
                    closed_after = time.monotonic() - started
                    break
        assert closed_after is not None and closed_after < 2.0, closed_after
        writer.close()
    finally:
        await server.close()
