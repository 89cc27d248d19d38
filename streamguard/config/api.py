"""The runtime API and WHIP ingest: who may call them, how much they accept, and how WebRTC connects."""

from __future__ import annotations

import ipaddress
import os
import re
from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from streamguard.config.base import StrictModel
from streamguard.config.server import is_loopback_host
from streamguard.config.streams import STREAM_ID_PATTERN
from streamguard.errors import ConfigError

TOKEN_ENV = "STREAMGUARD_API_TOKEN"  # noqa: S105 - the variable's name, not a secret
"""Environment variable read for the bearer token when ``api.token`` is not set."""
DEFAULT_STREAMS_FILE = "streams.json"
_STREAM_ID = re.compile(STREAM_ID_PATTERN)
_HOST_PATTERN = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


class IceServerConfig(StrictModel):
    """One STUN or TURN server offered to the daemon's ICE agent."""

    urls: list[str] = Field(
        min_length=1, description="stun:host:port, turn:host:port?transport=udp|tcp or turns:host:port URLs."
    )
    username: str | None = Field(default=None, description="TURN user name.")
    credential: SecretStr | None = Field(default=None, description="TURN password (use ${ENV} substitution).")

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("stun:", "turn:", "turns:")):
                raise ValueError(f"{url!r} is not a stun:, turn: or turns: URL")
        return urls


class WebRtcConfig(StrictModel):
    """How the daemon's WebRTC (WHIP) peer connects to publishers."""

    ice_servers: list[IceServerConfig] = Field(
        default_factory=list,
        description="STUN/TURN servers for the daemon's ICE agent; none by default (no public STUN server is used).",
    )
    host_addresses: list[str] = Field(
        default_factory=list,
        description=(
            "Local IP addresses offered as host candidates (e.g. the address publishers reach through NAT "
            "port forwarding); empty: every interface address except loopback. Applies process-wide."
        ),
    )
    udp_port_min: int | None = Field(
        default=None, ge=1, le=65535, description="Lowest UDP port of the media sockets (set with udp_port_max)."
    )
    udp_port_max: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Highest UDP port of the media sockets; each session needs one per host address. Unset: any.",
    )
    stall_s: float = Field(
        default=10.0, gt=0, description="A session whose peer sends no video for this many seconds is torn down."
    )
    connect_timeout_s: float = Field(
        default=15.0, gt=0, description="A session whose ICE/DTLS connection is not up after this long is torn down."
    )

    @field_validator("host_addresses")
    @classmethod
    def _check_addresses(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            ipaddress.ip_address(address)  # ValueError names the bad address
        return addresses

    @model_validator(mode="after")
    def _check_port_range(self) -> WebRtcConfig:
        low, high = self.udp_port_min, self.udp_port_max
        if (low is None) != (high is None):
            raise ValueError("set both udp_port_min and udp_port_max, or neither")
        if low is not None and high is not None and low > high:
            raise ValueError(f"udp_port_min ({low}) must not exceed udp_port_max ({high})")
        return self


class RemoteScheme(StrEnum):
    """URL schemes a stream added through the API may use (local files are governed by ``allowed_path_roots``)."""

    RTSP = "rtsp"
    RTSPS = "rtsps"
    HTTP = "http"
    HTTPS = "https"


class ApiConfig(StrictModel):
    """The runtime stream API (``/api/streams``) and WHIP ingest (``/whip/{stream_id}``)."""

    token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token required on /api/* and /whip/*; unset: `token_file`, else the STREAMGUARD_API_TOKEN "
            "environment variable, else no authentication (served on loopback only, unless allow_unauthenticated)."
        ),
    )
    token_file: Path | None = Field(
        default=None,
        description="File holding the bearer token (e.g. a mounted Kubernetes Secret); read at start-up.",
    )
    stream_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Per-stream WHIP tokens (stream id -> token); accepted besides `token` for that stream.",
    )
    dynamic_streams: bool = Field(
        default=False,
        description="WHIP to an unknown stream id creates a webrtc stream for the session (else 404).",
    )
    max_sdp_bytes: int = Field(default=65536, ge=1024, description="Largest SDP offer accepted (larger: 413).")
    max_sessions: int = Field(default=16, ge=1, description="Concurrent WHIP sessions overall (beyond: 503).")
    max_sessions_per_stream: int = Field(
        default=1, ge=1, description="Concurrent WHIP sessions publishing to one stream (beyond: 409)."
    )
    retry_after_s: int = Field(default=5, ge=1, description="Retry-After sent with a refused session.")
    streams_file: Path | None = Field(
        default=None,
        description="Where streams added through the API are kept across restarts; default data_dir/streams.json.",
    )
    webrtc: WebRtcConfig = Field(default_factory=WebRtcConfig, description="WebRTC connection settings.")
    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        description="Requests to /api/* and /whip/* per caller (its token, else its address) per minute; 0: no limit.",
    )
    auth_failures_per_minute: int = Field(
        default=20,
        ge=0,
        description="Failed authentications per address per minute before it gets 429 whatever it sends; 0: no limit.",
    )
    body_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="API, WHIP and console-login bodies must arrive within this (else 408)."
    )
    allow_unauthenticated: bool = Field(
        default=False,
        description=(
            "Serve the API, WHIP and the console without a token on a non-loopback `server.listen` (refused at "
            "start-up otherwise: anyone who reaches the port could add streams and publish video)."
        ),
    )
    allowed_url_schemes: list[RemoteScheme] = Field(
        default_factory=lambda: [RemoteScheme.RTSP, RemoteScheme.RTSPS],
        description="URL schemes of streams added through the API (http/https are off by default: request forgery).",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "Hosts that streams added through the API may name: IP addresses, CIDR blocks (10.1.0.0/16), exact "
            "host names or *.suffix patterns; empty: any host. Names are matched as written, never resolved."
        ),
    )
    allowed_path_roots: list[Path] = Field(
        default_factory=list,
        description="Folders whose files streams added through the API may read; empty (default): no local files.",
    )

    @field_validator("token")
    @classmethod
    def _check_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().strip():
            raise ValueError("must not be empty (leave `token` out to disable authentication)")
        return token

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, hosts: list[str]) -> list[str]:
        cleaned = [host.strip().lower() for host in hosts]
        for host in cleaned:
            if not (_is_network(host) or _HOST_PATTERN.fullmatch(host)):
                raise ValueError(f"{host!r} is not an IP address, a CIDR block, a host name or a *.suffix pattern")
        return cleaned

    @field_validator("stream_tokens")
    @classmethod
    def _check_stream_tokens(cls, tokens: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for stream_id, token in tokens.items():
            if not _STREAM_ID.fullmatch(stream_id):
                raise ValueError(f"{stream_id!r} is not a valid stream id ({STREAM_ID_PATTERN})")
            if not token.get_secret_value().strip():
                raise ValueError(f"the token of {stream_id!r} must not be empty")
        return tokens

    @model_validator(mode="after")
    def _one_token_source(self) -> ApiConfig:
        if self.token is not None and self.token_file is not None:
            raise ValueError("set token or token_file, not both")
        return self

    def resolved_token(self, environ: dict[str, str] | None = None) -> str | None:
        """The bearer token: ``token``, else ``token_file``'s content, else a non-empty ``STREAMGUARD_API_TOKEN``.

        Raises:
            ConfigError: ``token_file`` cannot be read or is empty (its content is never shown).
        """
        if self.token is not None:
            return self.token.get_secret_value()
        if self.token_file is not None:
            try:
                token = self.token_file.read_text().strip()
            except OSError as e:
                raise ConfigError(f"api.token_file: cannot read {self.token_file}: {e.strerror}") from e
            if not token:
                raise ConfigError(f"api.token_file: {self.token_file} is empty")
            return token
        value = (os.environ if environ is None else environ).get(TOKEN_ENV, "")
        return value or None

    def requires_token_for(self, listen_host: str, environ: dict[str, str] | None = None) -> bool:
        """Whether serving on `listen_host` without a token must be refused (non-loopback, no opt-out)."""
        exposed = not is_loopback_host(listen_host)
        return exposed and not self.allow_unauthenticated and self.resolved_token(environ) is None

    def resolved_streams_file(self, data_dir: Path) -> Path:
        """Where runtime-added streams are stored."""
        return self.streams_file if self.streams_file is not None else data_dir / DEFAULT_STREAMS_FILE


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True
