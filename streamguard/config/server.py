"""HTTP server settings: the one listener serving /metrics, /healthz, /readyz, the stream API, WHIP and the console."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator

from streamguard.config.base import StrictModel

DEFAULT_LISTEN = "127.0.0.1:8080"


def is_loopback_host(host: str) -> bool:
    """Whether a listen host only accepts connections from this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve to any interface
        return False


def parse_listen(listen: str) -> tuple[str, int]:
    """Split a ``HOST:PORT`` listen address.

    IPv6 hosts are written in brackets (``[::1]:8080``); the brackets are removed from the returned host.

    Args:
        listen: The address, e.g. ``127.0.0.1:8080``, ``0.0.0.0:9000`` or ``[::]:8080``.

    Returns:
        The host and the port.

    Raises:
        ValueError: When the address is not ``HOST:PORT`` or the port is outside 0..65535.
    """
    host, sep, port_text = listen.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT (e.g. {DEFAULT_LISTEN}), got {listen!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"write an IPv6 host in brackets, e.g. [::1]:8080, got {listen!r}")
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"expected HOST:PORT with a non-empty host, got {listen!r}")
    if not port_text.isdigit():
        raise ValueError(f"port must be a number, got {port_text!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535 (0 picks a free port), got {port}")
    return host, port


class TlsConfig(StrictModel):
    """Native TLS on the daemon's one HTTP port (the API, WHIP, the console and /metrics alike)."""

    cert_file: Path = Field(description="PEM certificate chain of the server (the server's certificate first).")
    key_file: Path = Field(description="PEM private key of that certificate.")
    client_ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle: when set, every client must present a certificate it signed (mutual TLS).",
    )


class ServerConfig(StrictModel):
    """The HTTP listener for metrics and health checks."""

    listen: str = Field(
        default=DEFAULT_LISTEN,
        description="HOST:PORT to serve /metrics, /healthz and /readyz on ([::1]:8080 for IPv6; 0.0.0.0 for all).",
    )
    tls: TlsConfig | None = Field(
        default=None,
        description="Serve HTTPS instead of HTTP (omit behind a TLS-terminating reverse proxy).",
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="A connection whose request head is not in within this is closed."
    )
    keepalive_timeout_s: float = Field(
        default=75.0, gt=0, le=3600, description="Idle keep-alive connections are closed after this."
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, listen: str) -> str:
        parse_listen(listen)
        return listen.strip()

    @property
    def host(self) -> str:
        """The host part of `listen` (without IPv6 brackets)."""
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
        """The port part of `listen`."""
        return parse_listen(self.listen)[1]
