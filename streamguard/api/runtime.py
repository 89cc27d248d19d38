"""Everything the daemon serves besides health and metrics: auth, the stream API, WHIP, the OpenAPI document."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from streamguard import __version__
from streamguard.api.auth import bearer_middleware
from streamguard.api.openapi import OPENAPI_PATH, openapi_document
from streamguard.api.registry import StreamRegistry
from streamguard.api.streams import RuntimeStreamStore, StreamRoutes
from streamguard.api.whip import WhipEndpoint
from streamguard.config import ApiConfig

logger = logging.getLogger(__name__)


class RuntimeApi:
    """The runtime API of a daemon: install it on the app before the server starts.

    Args:
        registry: The streams the API manages (the daemon).
        config: The ``api`` section.
        data_dir: The daemon's data folder (where runtime streams persist by default).
    """

    def __init__(self, registry: StreamRegistry, config: ApiConfig, data_dir: Path) -> None:
        self.config = config
        self.whip = WhipEndpoint(registry, config)
        store = RuntimeStreamStore(config.resolved_streams_file(data_dir))
        self.streams = StreamRoutes(registry, store, self.whip.session_count, self.whip.end_stream_sessions)
        self._document = openapi_document(__version__)

    def install(self, app: web.Application) -> None:
        """Add the middleware and routes to `app`."""
        token = self.config.resolved_token()
        stream_tokens = {sid: secret.get_secret_value() for sid, secret in self.config.stream_tokens.items()}
        app.middlewares.append(bearer_middleware(token, stream_tokens))
        app.router.add_get(OPENAPI_PATH, self.openapi)
        self.streams.install(app)
        self.whip.install(app)
        if token is None and not stream_tokens:
            logger.warning("API and WHIP without authentication: set api.token or STREAMGUARD_API_TOKEN")

    async def openapi(self, _: web.Request) -> web.Response:
        """``GET /api/openapi.json``."""
        return web.json_response(self._document)

    async def restore_streams(self) -> None:
        """Start the streams added at runtime by earlier runs."""
        await self.streams.restore()

    async def close(self) -> None:
        """End every WHIP session."""
        await self.whip.close()
