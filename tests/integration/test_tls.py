"""Native TLS on the daemon's one port: the API, the console and /metrics over HTTPS, mutual TLS, bad files."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from streamguard.api.client import ApiError, StreamApiClient
from streamguard.api.server import tls_context
from streamguard.config import DaemonConfig, TlsConfig
from streamguard.daemon import Daemon
from streamguard.demo.clip import write_demo_clip
from streamguard.errors import ConfigError
from streamguard.model.detector import Detector
from tests.support.certificates import TestCa
from tests.support.daemon_checks import wait_for
from tests.support.redis_server import RedisServer
from tests.support.whip_client import WhipPublisher, loopback_ice

__all__ = ["loopback_ice"]

TOKEN = "tls-test-token"  # noqa: S105 - a test token


def tls_config(tmp_path: Path, redis_url: str, model: Path, tls: dict[str, Any]) -> DaemonConfig:
    return DaemonConfig.model_validate(
        {
            "inference": {"model": str(model), "device": "cpu"},
            "redis": {"url": redis_url},
            "server": {"listen": "127.0.0.1:0", "tls": tls},
            "data_dir": str(tmp_path / "data"),
            "api": {"token": TOKEN},
        }
    )


def client_context(ca: TestCa, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.cert))
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


async def test_api_console_and_metrics_over_https_and_plain_http_refused(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer
) -> None:
    ca = TestCa(tmp_path)
    server = ca.issue("server")
    config = tls_config(
        tmp_path, redis_server.url, demo_model_path, {"cert_file": str(server.cert), "key_file": str(server.key)}
    )
    daemon = Daemon(config, detector=Detector.load(demo_model_path, device="cpu"))
    await daemon.start()
    assert daemon.server is not None
    base = daemon.server.url
    assert base.startswith("https://127.0.0.1:")
    try:
        connector = aiohttp.TCPConnector(ssl=client_context(ca))
        async with aiohttp.ClientSession(connector=connector) as http:
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with http.get(f"{base}/metrics") as response:
                assert response.status == 200 and "streamguard_api_refused_total" in await response.text()
            async with http.get(f"{base}/api/streams", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                assert response.status == 200 and (await response.json()) == {"streams": []}
            form = {"operator": "ops", "token": TOKEN}
            async with http.post(f"{base}/console/login", data=form, allow_redirects=False) as response:
                assert response.status in (302, 303), await response.text()
                cookie = response.headers["Set-Cookie"]
                assert "Secure" in cookie and "HttpOnly" in cookie  # the session cookie never travels in clear
        # `streamguard streams` verifies the daemon against a private CA given with --ca-file.
        assert await asyncio.to_thread(StreamApiClient(base, TOKEN, ca.cert).list) == []
        with pytest.raises(ApiError, match=r"cannot reach .*certificate"):
            await asyncio.to_thread(StreamApiClient(base, TOKEN).list)
        listed = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "streamguard", "streams", "list", "--json", "--api", base, "--ca-file", str(ca.cert),
            env={**os.environ, "STREAMGUARD_API_TOKEN": TOKEN}, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(listed.communicate(), timeout=60)
        assert listed.returncode == 0 and output.decode().strip() == "[]"
        # Plain HTTP to the TLS port gets no answer; a client that does not trust the CA refuses the server.
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientError):
                async with http.get(base.replace("https://", "http://") + "/healthz") as response:
                    await response.read()
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with http.get(f"{base}/healthz") as response:
                    await response.read()
    finally:
        await daemon.stop()


async def test_mutual_tls_admits_only_clients_signed_by_the_configured_ca(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer
) -> None:
    (tmp_path / "other").mkdir()
    ca, other = TestCa(tmp_path), TestCa(tmp_path / "other")
    server, client = ca.issue("server"), ca.issue("client", server=False)
    stranger = other.issue("stranger", server=False)
    tls = {"cert_file": str(server.cert), "key_file": str(server.key), "client_ca_file": str(ca.cert)}
    daemon = Daemon(
        tls_config(tmp_path, redis_server.url, demo_model_path, tls),
        detector=Detector.load(demo_model_path, device="cpu"),
    )
    await daemon.start()
    assert daemon.server is not None
    try:
        for cert, admitted in ((client, True), (stranger, False), (None, False)):
            context = client_context(ca, cert.cert if cert else None, cert.key if cert else None)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
                if admitted:
                    async with http.get(f"{daemon.server.url}/healthz") as response:
                        assert response.status == 200
                else:
                    with pytest.raises(aiohttp.ClientError):
                        async with http.get(f"{daemon.server.url}/healthz") as response:
                            await response.read()
    finally:
        await daemon.stop()


def test_unreadable_or_mismatched_certificates_are_clear_startup_errors(tmp_path: Path) -> None:
    ca = TestCa(tmp_path)
    server, other = ca.issue("server"), ca.issue("other")
    with pytest.raises(ConfigError, match=r"server\.tls: cannot read .*missing\.pem"):
        tls_context(TlsConfig(cert_file=tmp_path / "missing.pem", key_file=server.key))
    with pytest.raises(ConfigError, match=r"server\.tls\.cert_file / key_file: .* not a matching"):
        tls_context(TlsConfig(cert_file=server.cert, key_file=other.key))
    (tmp_path / "garbage.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"not a matching PEM"):
        tls_context(TlsConfig(cert_file=tmp_path / "garbage.pem", key_file=server.key))
    with pytest.raises(ConfigError, match=r"server\.tls\.client_ca_file"):
        tls_context(TlsConfig(cert_file=server.cert, key_file=server.key, client_ca_file=tmp_path / "garbage.pem"))


async def test_a_whip_publisher_over_https_is_analysed(
    tmp_path: Path, demo_model_path: Path, redis_server: RedisServer, loopback_ice: None
) -> None:
    ca = TestCa(tmp_path)
    server = ca.issue("server")
    config = DaemonConfig.model_validate(
        {
            "streams": [{"id": "pub", "type": "webrtc"}],
            "inference": {"model": str(demo_model_path), "device": "cpu"},
            "redis": {"url": redis_server.url},
            "server": {"listen": "127.0.0.1:0", "tls": {"cert_file": str(server.cert), "key_file": str(server.key)}},
            "data_dir": str(tmp_path / "data"),
            "api": {"token": TOKEN, "webrtc": {"host_addresses": ["127.0.0.1"]}},
        }
    )
    clip = write_demo_clip(tmp_path / "clip.mp4", seconds=4, forged_span=None, seed=61)
    daemon = Daemon(config, detector=Detector.load(demo_model_path, device="cpu"))
    await daemon.start()
    assert daemon.server is not None
    base = daemon.server.url
    publisher = WhipPublisher(f"{base}/whip/pub", clip.path, token=TOKEN, audio=False, ssl_context=client_context(ca))
    try:
        assert await publisher.publish() == 201
        worker = daemon.streams["pub"].worker

        async def analysed() -> bool:
            return worker.status.analyzed > 3

        await wait_for(analysed, within_s=30)
        assert await publisher.delete(base) == 200
        untrusting = WhipPublisher(f"{base}/whip/pub", clip.path, token=TOKEN, audio=False)
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await untrusting.publish()
        await untrusting.close()
    finally:
        await publisher.close()
        await daemon.stop()
