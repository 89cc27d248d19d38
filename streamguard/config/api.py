"""The runtime API and WHIP ingest: who may call them, how much they accept, and how WebRTC connects."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from streamguard.config.base import StrictModel
from streamguard.config.streams import STREAM_ID_PATTERN

TOKEN_ENV = "STREAMGUARD_API_TOKEN"  # noqa: S105 - the variable's name, not a secret
"""Environment variable read for the bearer token when ``api.token`` is not set."""
DEFAULT_STREAMS_FILE = "streams.json"
_STREAM_ID = re.compile(STREAM_ID_PATTERN)


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


class ApiConfig(StrictModel):
    """The runtime stream API (``/api/streams``) and WHIP ingest (``/whip/{stream_id}``)."""

    token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token required on /api/* and /whip/*; unset: the STREAMGUARD_API_TOKEN environment "
            "variable, else no authentication (bind the server to localhost then)."
        ),
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

    @field_validator("token")
    @classmethod
    def _check_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().strip():
            raise ValueError("must not be empty (leave `token` out to disable authentication)")
        return token

    @field_validator("stream_tokens")
    @classmethod
    def _check_stream_tokens(cls, tokens: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for stream_id, token in tokens.items():
            if not _STREAM_ID.fullmatch(stream_id):
                raise ValueError(f"{stream_id!r} is not a valid stream id ({STREAM_ID_PATTERN})")
            if not token.get_secret_value().strip():
                raise ValueError(f"the token of {stream_id!r} must not be empty")
        return tokens

    def resolved_token(self, environ: dict[str, str] | None = None) -> str | None:
        """The bearer token: ``token``, else a non-empty ``STREAMGUARD_API_TOKEN``, else ``None``."""
        if self.token is not None:
            return self.token.get_secret_value()
        value = (os.environ if environ is None else environ).get(TOKEN_ENV, "")
        return value or None

    def resolved_streams_file(self, data_dir: Path) -> Path:
        """Where runtime-added streams are stored."""
        return self.streams_file if self.streams_file is not None else data_dir / DEFAULT_STREAMS_FILE
