"""Bearer-token authentication for the runtime API and WHIP ingest (RFC 6750 style challenges)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

PROTECTED_PREFIXES = ("/api/", "/whip/")
PUBLIC_PATHS = frozenset({"/api/openapi.json"})
REALM = "streamguard"


def is_guarded(request: web.Request) -> bool:
    """Whether tokens and rate limits apply: an API or WHIP request, but no CORS pre-flight or OpenAPI document."""
    path = request.path
    return request.method != "OPTIONS" and path not in PUBLIC_PATHS and path.startswith(PROTECTED_PREFIXES)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None``."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def token_matches(presented: str, accepted: list[str]) -> bool:
    """Compare `presented` with every accepted token in constant time (no early exit)."""
    matched = False
    for token in accepted:
        matched |= hmac.compare_digest(presented.encode(), token.encode())
    return matched


def bearer_middleware(
    token: str | None, stream_tokens: Mapping[str, str], on_refused: Callable[[], None] = lambda: None
) -> Middleware:
    """Require a bearer token on ``/api/*`` and ``/whip/*`` (except the OpenAPI document and CORS pre-flights).

    Args:
        token: The token accepted everywhere; ``None``: no global token.
        stream_tokens: Tokens accepted on ``/whip/{stream_id}...`` of one stream besides `token`.
        on_refused: Called for every request refused for its token (missing or wrong).

    Returns:
        An aiohttp middleware; a request without an accepted token gets ``401`` with ``WWW-Authenticate``.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_guarded(request):
            return await handler(request)
        accepted = [token] if token else []
        stream_id = request.match_info.get("stream_id") if request.path.startswith("/whip/") else None
        if stream_id is not None and stream_id in stream_tokens:
            accepted.append(stream_tokens[stream_id])
        if not accepted:
            return await handler(request)
        presented = bearer_token(request.headers.get("Authorization"))
        if presented is None:
            on_refused()
            raise _unauthorized(f'Bearer realm="{REALM}"', "a bearer token is required")
        if not token_matches(presented, accepted):
            on_refused()
            raise _unauthorized(f'Bearer realm="{REALM}", error="invalid_token"', "invalid bearer token")
        return await handler(request)

    return middleware


def _unauthorized(challenge: str, message: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        headers={"WWW-Authenticate": challenge, "Access-Control-Allow-Origin": "*"},
        text=f'{{"error": "{message}"}}',
        content_type="application/json",
    )
