"""Request rate limits of the API and WHIP: per caller, and per address for failed logins and tokens.

A caller is its bearer token when it presents one (hashed: the key never holds the secret) and its address
otherwise, so one busy publisher cannot starve the others and a flood without a token is bounded too. Failed
authentications are also counted per address: past `failures_per_minute` the address is answered ``429`` for
the rest of the window whatever it presents, which stops token guessing. Moving windows from the `limits`
library (the one behind Flask-Limiter and SlowAPI), kept in memory: limits are per daemon.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from limits import RateLimitItemPerMinute, storage, strategies

from streamguard.api.auth import bearer_token, is_guarded
from streamguard.api.errors import json_error


class MinuteLimit:
    """At most `per_minute` hits per key in any 60-second window (0: unlimited)."""

    def __init__(self, per_minute: int) -> None:
        self._item = RateLimitItemPerMinute(per_minute) if per_minute > 0 else None
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def hit(self, key: str) -> float | None:
        """Count one hit of `key`; None when allowed, else the seconds until it would be."""
        if self._item is None or self._limiter.hit(self._item, key):
            return None
        return self.retry_after(key)

    def exhausted(self, key: str) -> float | None:
        """Without counting a hit: None when `key` has hits left, else the seconds until it has."""
        if self._item is None or self._limiter.test(self._item, key):
            return None
        return self.retry_after(key)

    def retry_after(self, key: str) -> float:
        """Seconds until `key`'s oldest hit in the window expires (at least one)."""
        assert self._item is not None  # noqa: S101 - only called when limited
        reset_at = self._limiter.get_window_stats(self._item, key).reset_time
        return max(1.0, reset_at - time.time())


def caller_key(request: web.Request) -> str:
    """The rate-limit key of a request: a hash of its bearer token, else its address."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is not None:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return f"addr:{request.remote}"


def too_many_requests(retry_after_s: float, message: str) -> web.HTTPError:
    """``429`` with ``Retry-After`` in whole seconds."""
    return json_error(web.HTTPTooManyRequests, message, headers={"Retry-After": str(math.ceil(retry_after_s))})


def rate_limit_middleware(
    requests: MinuteLimit, failures: MinuteLimit, on_limited: Callable[[], None] = lambda: None
) -> Middleware:
    """Limit ``/api/*`` and ``/whip/*`` per caller (`requests`) and failed authentications per address.

    Install it before the bearer middleware: it answers ``429`` for a caller over its budget, and counts every
    ``401`` the inner handlers raise against the caller's address in `failures`.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_guarded(request):
            return await handler(request)
        address = f"addr:{request.remote}"
        wait = failures.exhausted(address)
        if wait is None:
            wait = requests.hit(caller_key(request))
        if wait is not None:
            on_limited()
            raise too_many_requests(wait, "too many requests; retry after Retry-After seconds")
        try:
            return await handler(request)
        except web.HTTPUnauthorized:
            failures.hit(address)
            raise

    return middleware
