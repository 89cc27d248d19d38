"""aiohttp application and server: ``/healthz``, ``/readyz`` and ``/metrics``.

Later features (the runtime stream API, WHIP ingest, the console) add their routes to the same
`aiohttp.web.Application` before the server starts, so the daemon listens on exactly one port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from streamguard.api.slowclients import HeadDeadline
from streamguard.config.server import TlsConfig, parse_listen
from streamguard.errors import ConfigError

logger = logging.getLogger(__name__)

ReadinessProbe = Callable[[], Mapping[str, bool]]
"""Returns named readiness checks (e.g. ``model_loaded``, ``sink_ready``); ready when all are true."""

MetricsRenderer = Callable[[], tuple[bytes, str]]
"""Returns the Prometheus exposition body and its content type."""


def build_app(
    readiness: ReadinessProbe,
    render_metrics: MetricsRenderer,
    reasons: Callable[[], Mapping[str, str]] = dict,
) -> web.Application:
    """Create the application with the health, readiness and metrics routes.

    Args:
        readiness: The named checks of ``/readyz``.
        render_metrics: The Prometheus exposition of ``/metrics``.
        reasons: Why failing checks fail (shown under ``reasons`` while not ready).
    """

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        checks = dict(readiness())
        ready = bool(checks) and all(checks.values())
        body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
        if not ready:
            body["reasons"] = {name: why for name, why in reasons().items() if not checks.get(name, True)}
        return web.json_response(body, status=200 if ready else 503, dumps=json.dumps)

    async def metrics(_: web.Request) -> web.Response:
        body, content_type = render_metrics()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


def tls_context(tls: TlsConfig) -> ssl.SSLContext:
    """The server-side TLS context of the ``server.tls`` section (TLS 1.2 or later).

    Raises:
        ConfigError: A file cannot be read, or the key does not match the certificate; the message names the
            setting and the file.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except FileNotFoundError as e:
        raise ConfigError(f"server.tls: cannot read {e.filename or tls.cert_file}: {e.strerror}") from e
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(
            f"server.tls.cert_file / key_file: {tls.cert_file} and {tls.key_file} are not a matching PEM "
            f"certificate and key ({getattr(e, 'reason', None) or e})"
        ) from e
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"server.tls.client_ca_file: cannot load {tls.client_ca_file}: {e}") from e
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass(frozen=True)
class ClientDeadlines:
    """How long clients may take (`streamguard.api.slowclients`).

    Attributes:
        head_s: From connecting to the end of the first request's headers.
        keepalive_s: An idle keep-alive connection stays open this long.
        on_head_expired: Called for each connection closed for a late head.
    """

    head_s: float = 10.0
    keepalive_s: float = 75.0
    on_head_expired: Callable[[], None] = lambda: None


class HttpServer:
    """Runs an application on one TCP address; `port` is the bound port once started.

    Args:
        app: The application.
        listen: ``HOST:PORT``.
        ssl_context: Serve HTTPS with this context (`tls_context`); None: plain HTTP.
        deadlines: Slow-client limits of every connection.
    """

    def __init__(
        self,
        app: web.Application,
        listen: str,
        ssl_context: ssl.SSLContext | None = None,
        deadlines: ClientDeadlines | None = None,
    ) -> None:
        self.app = app
        self._ssl = ssl_context
        self._deadlines = deadlines or ClientDeadlines()
        self._listener: asyncio.Server | None = None
        try:
            self.host, self._requested_port = parse_listen(listen)
        except ValueError as e:
            raise ConfigError(f"server.listen: {e}") from e
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        """Bind and serve; a bind failure raises `ConfigError` naming the address."""
        deadlines = self._deadlines
        runner = web.AppRunner(self.app, access_log=None, keepalive_timeout=deadlines.keepalive_s)
        await runner.setup()
        handler_factory = runner.server
        assert handler_factory is not None  # noqa: S101 - set up above

        # Our own listener instead of a TCPSite, so that every connection's protocol gets the head deadline.
        def protocol() -> asyncio.Protocol:
            return HeadDeadline(handler_factory(), deadlines.head_s, deadlines.on_head_expired)

        try:
            self._listener = await asyncio.get_running_loop().create_server(
                protocol, self.host, self._requested_port, ssl=self._ssl
            )
        except OSError as e:
            await runner.cleanup()
            raise ConfigError(f"server.listen: cannot bind {self.host}:{self._requested_port}: {e.strerror}") from e
        self._runner = runner
        sockets = self._listener.sockets
        self.port = int(sockets[0].getsockname()[1]) if sockets else self._requested_port
        logger.info("HTTP server listening on %s (/metrics, /healthz, /readyz)", self.url)

    @property
    def url(self) -> str:
        """Base URL of the running server (``https://`` with TLS)."""
        scheme = "https" if self._ssl is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def close(self) -> None:
        """Stop listening, end the connections; idempotent."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()  # closes the connections aiohttp's server knows
        if listener is not None:
            await listener.wait_closed()
