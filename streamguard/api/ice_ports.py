"""Keep the daemon's WebRTC media sockets inside a configured UDP port range.

aioice (aiortc's ICE agent) binds each host candidate's socket to port 0 and has no port-range option.
Firewalls in front of a daemon usually open a fixed range, so while a range is configured,
`aioice.ice.Connection.get_component_candidates` runs with a context flag under which the event loop's
``create_datagram_endpoint`` maps a ``port 0`` bind to the first free port of the range (from a random
start). Nothing else in the process is affected: the flag is only set inside aioice's gathering.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
from collections.abc import Callable
from typing import Any

import aioice.ice

_RANGE: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("ice_port_range", default=None)


class IcePortRange:
    """Installs (and removes) the port-range binding for aioice host candidates.

    Args:
        port_min: Lowest UDP port.
        port_max: Highest UDP port (inclusive).
    """

    def __init__(self, port_min: int, port_max: int) -> None:
        if not 1 <= port_min <= port_max <= 65535:
            raise ValueError(f"invalid UDP port range {port_min}-{port_max}")
        self.port_min, self.port_max = port_min, port_max
        self._original_gather: Callable[..., Any] | None = None
        self._patched_loops: list[asyncio.AbstractEventLoop] = []

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Apply the range to aioice gathering on `loop`; idempotent."""
        if self._original_gather is not None:
            return
        original = aioice.ice.Connection.get_component_candidates
        port_range = (self.port_min, self.port_max)

        async def gather_in_range(self: aioice.ice.Connection, *args: Any, **kwargs: Any) -> Any:
            token = _RANGE.set(port_range)
            try:
                return await original(self, *args, **kwargs)
            finally:
                _RANGE.reset(token)

        self._original_gather = original
        aioice.ice.Connection.get_component_candidates = gather_in_range  # type: ignore[method-assign]
        _wrap_loop(loop)
        self._patched_loops.append(loop)

    def uninstall(self) -> None:
        """Restore aioice and the loop; idempotent."""
        if self._original_gather is not None:
            aioice.ice.Connection.get_component_candidates = self._original_gather  # type: ignore[method-assign]
            self._original_gather = None
        for loop in self._patched_loops:
            loop.__dict__.pop("create_datagram_endpoint", None)
        self._patched_loops.clear()


def _wrap_loop(loop: asyncio.AbstractEventLoop) -> None:
    original = loop.create_datagram_endpoint

    async def create_datagram_endpoint(*args: Any, **kwargs: Any) -> Any:
        port_range = _RANGE.get()
        local_addr = kwargs.get("local_addr")
        if port_range is None or local_addr is None or local_addr[1] != 0:
            return await original(*args, **kwargs)
        return await _bind_in_range(original, port_range, local_addr[0], args, kwargs)

    loop.create_datagram_endpoint = create_datagram_endpoint  # type: ignore[method-assign]


async def _bind_in_range(
    create: Callable[..., Any], port_range: tuple[int, int], host: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    low, high = port_range
    ports = list(range(low, high + 1))
    start = random.randrange(len(ports))
    last_error: OSError | None = None
    for port in ports[start:] + ports[:start]:
        try:
            return await create(*args, **{**kwargs, "local_addr": (host, port)})
        except OSError as e:  # in use: try the next one
            last_error = e
    raise OSError(f"no free UDP port in {low}-{high} on {host}") from last_error
