"""Slow-client limits: a connection must send its request head, and a request its body, within a deadline.

A slow-loris client opens connections and trickles bytes so that each stays open forever; aiohttp has no
deadline for a request head, so `HeadDeadline` wraps each connection's protocol and closes the connection
when its first request line and headers are not complete in time. Bodies of the API and the console login
are read whole by `body_deadline_middleware` within their own deadline before any handler runs (the handlers
then find them read), answering ``408`` past it; WHIP reads its offer under the same deadline itself. Idle
keep-alive connections close after aiohttp's keep-alive timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from streamguard.api.errors import json_error

HEAD_END = b"\r\n\r\n"
BODY_PATHS = ("/api/", "/console/login")  # WHIP streams its offer under its own size limit and deadline
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class HeadDeadline(asyncio.Protocol):
    """A connection's protocol that closes it when its first request head is late; all else goes to `inner`.

    `inner` is aiohttp's request handler; the deadline runs from the connection's opening for `timeout_s`.
    """

    def __init__(self, inner: asyncio.Protocol, timeout_s: float, on_expired: Callable[[], None]) -> None:
        self._inner = inner
        self._timeout_s = timeout_s
        self._on_expired = on_expired
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""  # the last bytes seen, so a head end split across reads is found
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the deadline, then hand over."""
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(self._timeout_s, self._expire)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Stop the deadline once the head is complete; forward the bytes."""
        if self._timer is not None:
            seen = self._tail + data
            if HEAD_END in seen:
                self._cancel()
            else:
                self._tail = seen[-(len(HEAD_END) - 1) :]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        """Forwarded."""
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forwarded; the deadline goes."""
        self._cancel()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        """Forwarded."""
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        """Forwarded."""
        self._inner.resume_writing()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        self._on_expired()
        if self._transport is not None:
            self._transport.close()


def body_deadline_middleware(timeout_s: float, on_expired: Callable[[], None] = lambda: None) -> Middleware:
    """Read the body of API and console-login writes within `timeout_s`, else answer ``408``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in BODY_METHODS and request.path.startswith(BODY_PATHS) and request.body_exists:
            try:
                await asyncio.wait_for(request.read(), timeout_s)  # cached: the handler reads it again for free
            except TimeoutError as e:
                on_expired()
                raise json_error(
                    web.HTTPRequestTimeout, f"the request body did not arrive within {timeout_s:g} s"
                ) from e
        return await handler(request)

    return middleware
