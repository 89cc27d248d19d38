"""Units of the runtime API: bearer auth, SDP offer checks, the runtime stream store, the API config."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streamguard.api.auth import bearer_middleware, bearer_token, token_matches
from streamguard.api.openapi import openapi_document
from streamguard.api.streams import RuntimeStreamStore
from streamguard.api.whip import OfferError, check_offer
from streamguard.config import ApiConfig, StreamConfig

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
