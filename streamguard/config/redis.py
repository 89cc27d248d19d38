"""Redis sink settings: where alerts, masks and stream state go, and the spool used while Redis is down."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from streamguard.config.base import StrictModel

REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
KEY_PREFIX_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


def check_redis_url(url: str) -> str:
    """Check that a Redis URL is non-empty and uses ``redis://``, ``rediss://`` or ``unix://``.

    The problem descriptions never contain the URL itself, so a password in it cannot leak.

    Args:
        url: The URL as written in the configuration or on the command line.

    Returns:
        The URL with surrounding whitespace removed.

    Raises:
        ValueError: When the URL is empty, has another scheme, or names no host (or socket path).
    """
    url = url.strip()
    if not url:
        raise ValueError("must not be empty; omit it to use the embedded Redis")
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in REDIS_SCHEMES:
        raise ValueError("must start with redis://, rediss:// or unix://")
    parts = urlsplit(url)
    if scheme.lower() == "unix" and not parts.path:
        raise ValueError("unix:// URL names no socket path")
    if scheme.lower() != "unix" and not parts.hostname:
        raise ValueError(f"{scheme.lower()}:// URL names no host")
    return url


DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024
"""Default byte capacity of the daemon's spool (about 5,000 events with their images)."""


class RedisConfig(StrictModel):
    """Where alerts, masks and per-stream state are published."""

    url: str | None = Field(
        default=None,
        description=(
            "redis://[user:password@]host:port/db, rediss:// (TLS) or unix:///path/redis.sock. "
            "Omitted: an embedded redis-server is started on a unix socket in data_dir. "
            "Put the password in an environment variable: redis://:${REDIS_PASSWORD}@host:6379/0."
        ),
    )
    prefix: str = Field(
        default="streamguard",
        pattern=KEY_PREFIX_PATTERN,
        description="Prefix of every key written: {prefix}:alerts, {prefix}:mask:..., {prefix}:stream:{id}.",
    )
    alerts_maxlen: int = Field(
        default=100_000,
        ge=1,
        le=1_000_000_000,
        description="Approximate cap on entries kept in the alerts stream (XADD MAXLEN ~ N).",
    )
    mask_ttl_s: int = Field(
        default=86_400,
        ge=1,
        le=31_536_000,
        description="Seconds mask PNGs and overlay JPEGs are kept before Redis expires them.",
    )
    spool_max_events: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description="Events held while Redis is unreachable; beyond this the oldest are dropped and counted.",
    )
    spool_max_bytes: int = Field(
        default=DEFAULT_SPOOL_MAX_BYTES,
        ge=1024 * 1024,
        description="Bytes the spool may hold (events with their images); beyond, the oldest are dropped and counted.",
    )
    spool_path: Path | None = Field(
        default=None,
        description="Optional file (JSON lines) keeping the spool across restarts; omitted: memory only.",
    )
    retry_initial_s: float = Field(
        default=0.2, gt=0, le=60, description="First delay before retrying an unreachable Redis, in seconds."
    )
    retry_max_s: float = Field(
        default=5.0, gt=0, le=600, description="Cap of the exponential retry delay while Redis is unreachable."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str | None) -> str | None:
        return None if url is None else check_redis_url(url)

    @field_validator("spool_path")
    @classmethod
    def _expand_spool_path(cls, path: Path | None) -> Path | None:
        return None if path is None else path.expanduser()

    @field_validator("retry_max_s")
    @classmethod
    def _check_above_initial(cls, retry_max_s: float, info: ValidationInfo) -> float:
        initial = info.data.get("retry_initial_s")
        if initial is not None and retry_max_s < initial:
            raise ValueError(f"must not be below retry_initial_s ({initial}), got {retry_max_s}")
        return retry_max_s

    @property
    def embedded(self) -> bool:
        """Whether the daemon starts its own Redis (no `url` given)."""
        return self.url is None
