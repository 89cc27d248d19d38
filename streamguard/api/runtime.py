"""Everything the daemon serves besides health and metrics: auth, the stream API, WHIP, the OpenAPI document."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from streamguard import __version__
from streamguard.api.auth import bearer_middleware
from streamguard.api.openapi import OPENAPI_PATH, openapi_document
from streamguard.api.policy import StreamPolicy
from streamguard.api.ratelimit import MinuteLimit, rate_limit_middleware
from streamguard.api.registry import StreamRegistry
from streamguard.api.slowclients import body_deadline_middleware
from streamguard.api.streams import OwnerLookup, RefusalCounter, RuntimeStreamStore, StreamRoutes, owned_everywhere
from streamguard.api.whip import WhipEndpoint
from streamguard.config import ApiConfig
from streamguard.config.api import TOKEN_ENV
from streamguard.config.server import parse_listen
from streamguard.errors import ConfigError
from streamguard.types import RefusalReason

logger = logging.getLogger(__name__)


class RuntimeApi:
    """The runtime API of a daemon: install it on the app before the server starts.

    Args:
        registry: The streams the API manages (the daemon).
        config: The ``api`` section.
        data_dir: The daemon's data folder (where runtime streams persist by default).
        on_refused: Counts refused requests by reason (``streamguard_api_refused_total``).
        other_owner: Which replica owns a stream id when it is not this one (sharded replicas).
    """

    def __init__(
        self,
        registry: StreamRegistry,
        config: ApiConfig,
        data_dir: Path,
        on_refused: RefusalCounter = lambda _: None,
        other_owner: OwnerLookup = owned_everywhere,
    ) -> None:
        self.config = config
        self.on_refused = on_refused
        self.whip = WhipEndpoint(registry, config, functools.partial(on_refused, RefusalReason.SLOW_CLIENT))
        store = RuntimeStreamStore(config.resolved_streams_file(data_dir))
        self.streams = StreamRoutes(
            registry, store, self.whip.session_count, self.whip.end_stream_sessions,
            StreamPolicy.from_config(config), on_refused, other_owner,
        )  # fmt: skip
        self._document = openapi_document(__version__)

    def install(self, app: web.Application) -> None:
        """Add the middleware and routes to `app`."""
        token = self.config.resolved_token()
        stream_tokens = {sid: secret.get_secret_value() for sid, secret in self.config.stream_tokens.items()}
        limits = MinuteLimit(self.config.rate_limit_per_minute), MinuteLimit(self.config.auth_failures_per_minute)
        app.middlewares.append(rate_limit_middleware(*limits, self._counter(RefusalReason.RATE_LIMITED)))
        app.middlewares.append(bearer_middleware(token, stream_tokens, self._counter(RefusalReason.UNAUTHORIZED)))
        timeout_s = self.config.body_timeout_s
        app.middlewares.append(body_deadline_middleware(timeout_s, self._counter(RefusalReason.SLOW_CLIENT)))
        app.router.add_get(OPENAPI_PATH, self.openapi)
        self.streams.install(app)
        self.whip.install(app)
        if token is None and not stream_tokens:
            logger.warning("API and WHIP without authentication: set api.token or STREAMGUARD_API_TOKEN")

    def _counter(self, reason: RefusalReason) -> Callable[[], None]:
        """A callback counting one refusal for `reason`."""
        return functools.partial(self.on_refused, reason)

    async def openapi(self, _: web.Request) -> web.Response:
        """``GET /api/openapi.json``."""
        return web.json_response(self._document)

    async def restore_streams(self) -> None:
        """Start the streams added at runtime by earlier runs."""
        await self.streams.restore()

    async def close(self) -> None:
        """End every WHIP session."""
        await self.whip.close()


def check_exposure(listen: str, config: ApiConfig) -> None:
    """Refuse to serve the API, WHIP and the console without a token on an address others can reach.

    Raises:
        ConfigError: `listen` is not a loopback address, no token is set and ``api.allow_unauthenticated``
            is false.
    """
    try:
        host, _ = parse_listen(listen)
    except ValueError as e:
        raise ConfigError(f"server.listen: {e}") from e
    if config.requires_token_for(host):
        raise ConfigError(
            f"server.listen {listen} is reachable from other machines and no API token is set: anyone reaching "
            "it could add streams, publish WHIP video and open the console. Set api.token (or the "
            f"{TOKEN_ENV} environment variable, or api.token_file), or set api.allow_unauthenticated: true "
            "to serve without authentication"
        )
