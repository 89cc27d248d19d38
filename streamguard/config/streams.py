"""One stream to analyse: its id, where it comes from, and per-stream overrides of the ingest defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from streamguard.config.base import StrictModel
from streamguard.config.ingest import MAX_ANALYSIS_FPS, IngestDefaults, Transport

StreamKind = Literal["rtsp", "file", "webrtc"]

STREAM_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
"""Stream ids appear in Redis keys, metric labels and URLs, so they are restricted to a safe alphabet."""
_STREAM_ID = re.compile(STREAM_ID_PATTERN)

RTSP_SCHEMES = frozenset({"rtsp", "rtsps"})
FILE_SCHEMES = frozenset({"http", "https", "file"})
URL_SCHEMES = RTSP_SCHEMES | FILE_SCHEMES


def url_kind(url: str) -> Literal["rtsp", "file"]:
    """Return the kind of source a URL or path selects.

    Args:
        url: A ``rtsp(s)://`` URL, a ``http(s)://`` or ``file://`` URL, or a local path.

    Returns:
        ``"rtsp"`` for ``rtsp://`` and ``rtsps://`` URLs, ``"file"`` for everything else.
    """
    scheme, sep, _ = url.partition("://")
    return "rtsp" if sep and scheme.lower() in RTSP_SCHEMES else "file"


def check_url(url: str) -> str:
    """Check that a stream URL is non-empty and uses a supported scheme, or is a path.

    The problem descriptions never contain the URL itself, so credentials cannot leak through them.

    Args:
        url: The URL or path as written in the configuration.

    Returns:
        The URL with surrounding whitespace removed.

    Raises:
        ValueError: When the URL is empty, has an unsupported scheme, or a network URL names no host.
    """
    url = url.strip()
    if not url:
        raise ValueError("must not be empty (give rtsp://, rtsps://, http://, https://, file:// or a path)")
    scheme, sep, _ = url.partition("://")
    if not sep:
        return url
    scheme = scheme.lower()
    if scheme not in URL_SCHEMES:
        allowed = ", ".join(f"{s}://" for s in sorted(URL_SCHEMES))
        raise ValueError(f"unsupported URL scheme {scheme!r}; use {allowed} or a local path")
    parts = urlsplit(url)
    if scheme != "file" and not parts.hostname:
        raise ValueError(f"{scheme}:// URL names no host")
    if scheme == "file" and not parts.path:
        raise ValueError("file:// URL names no path")
    return url


@dataclass(frozen=True, slots=True)
class ResolvedStream:
    """A stream's settings after per-stream overrides have been applied to the ingest defaults.

    Attributes:
        id: The stream id.
        kind: ``rtsp``, ``file`` or ``webrtc``.
        url: The URL or path (``None`` for WebRTC streams, which are pushed to the daemon).
        analysis_fps: Frames analysed per second.
        transport: RTSP transport.
        loop: Restart a file at its end; ``None`` leaves it to the URL (``?loop=1``) or the source default.
        realtime: Pace a file at its native frame rate; ``None`` as for `loop`.
        open_timeout_s: Seconds to open the stream.
        read_timeout_s: Seconds one read may block.
        stall_timeout_s: Seconds without frames before a live stream is reopened.
        backoff_initial_s: First reconnect delay.
        backoff_max_s: Largest reconnect delay.
        backoff_jitter: Random spread of reconnect delays (fraction).
        queue_size: Sampled frames waiting for analysis.
        max_pixels: Largest frame analysed (larger sampled frames are dropped before conversion).
    """

    id: str
    kind: StreamKind
    url: str | None
    analysis_fps: float
    transport: Transport
    loop: bool | None
    realtime: bool | None
    open_timeout_s: float
    read_timeout_s: float
    stall_timeout_s: float
    backoff_initial_s: float
    backoff_max_s: float
    backoff_jitter: float
    queue_size: int
    max_pixels: int


class StreamConfig(StrictModel):
    """One video stream: an RTSP camera, a file or HTTP/HLS URL, or a WebRTC/WHIP push."""

    id: str = Field(
        description="Unique stream id (1-64 of A-Z a-z 0-9 _ . -); used in Redis keys and metric labels.",
    )
    type: StreamKind | None = Field(
        default=None,
        description="Source kind; inferred from the URL when omitted (rtsp(s):// -> rtsp, anything else -> file).",
    )
    url: str | None = Field(
        default=None,
        description=(
            "Where the stream comes from: rtsp://, rtsps://, http(s)://, file:// or a local path. "
            "Put secrets in environment variables: rtsp://user:${CAM_PASS}@host/stream. "
            "Required unless `type` is `webrtc`."
        ),
    )
    enabled: bool = Field(default=True, description="Set to false to keep the stream in the file but not run it.")
    analysis_fps: float | None = Field(
        default=None,
        gt=0,
        le=MAX_ANALYSIS_FPS,
        description="Override of ingest.analysis_fps for this stream.",
    )
    transport: Transport | None = Field(
        default=None, description="Override of ingest.transport for this stream (RTSP only)."
    )
    loop: bool | None = Field(
        default=None,
        description="File streams: restart at the end. Omitted: taken from `?loop=1` in the URL, else false.",
    )
    realtime: bool | None = Field(
        default=None,
        description=(
            "File streams: pace frames at the file's native rate, like a camera. "
            "Omitted: taken from `?realtime=1` in the URL, else false."
        ),
    )

    @field_validator("id")
    @classmethod
    def _check_id(cls, stream_id: str) -> str:
        if not _STREAM_ID.fullmatch(stream_id):
            raise ValueError(f"{stream_id!r} is not a valid stream id: use 1-64 characters of A-Z a-z 0-9 _ . -")
        return stream_id

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str | None, info: ValidationInfo) -> str | None:
        declared = info.data.get("type")
        if url is None:
            if declared != "webrtc":
                raise ValueError("is required (only streams with `type: webrtc` have no url)")
            return None
        url = check_url(url)
        if declared == "webrtc":
            raise ValueError("must be omitted: a `type: webrtc` stream is pushed to the daemon")
        if declared is not None and declared != url_kind(url):
            raise ValueError(f"is a {url_kind(url)} source but `type` says {declared}")
        return url

    @field_validator("transport")
    @classmethod
    def _check_transport(cls, transport: Transport | None, info: ValidationInfo) -> Transport | None:
        kind = _kind_of(info)
        if transport is not None and kind not in (None, "rtsp"):
            raise ValueError(f"applies to RTSP streams only, not to a {kind} stream")
        return transport

    @field_validator("loop", "realtime")
    @classmethod
    def _check_file_option(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        kind = _kind_of(info)
        if value is not None and kind not in (None, "file"):
            raise ValueError(f"applies to file streams only, not to a {kind} stream")
        return value

    @property
    def kind(self) -> StreamKind:
        """The source kind: `type` when given, otherwise inferred from the URL."""
        return _kind(self.type, self.url)

    def resolve(self, defaults: IngestDefaults) -> ResolvedStream:
        """Apply this stream's overrides to the ingest defaults.

        Args:
            defaults: The ``ingest`` section of the configuration.

        Returns:
            Every setting the source needs, with overrides applied.
        """
        return ResolvedStream(
            id=self.id,
            kind=self.kind,
            url=self.url,
            analysis_fps=defaults.analysis_fps if self.analysis_fps is None else self.analysis_fps,
            transport=defaults.transport if self.transport is None else self.transport,
            loop=self.loop,
            realtime=self.realtime,
            open_timeout_s=defaults.open_timeout_s,
            read_timeout_s=defaults.read_timeout_s,
            stall_timeout_s=defaults.stall_timeout_s,
            backoff_initial_s=defaults.backoff_initial_s,
            backoff_max_s=defaults.backoff_max_s,
            backoff_jitter=defaults.backoff_jitter,
            queue_size=defaults.queue_size,
            max_pixels=defaults.max_pixels,
        )


def _kind(declared: StreamKind | None, url: str | None) -> StreamKind:
    if declared is not None:
        return declared
    return "webrtc" if url is None else url_kind(url)


def _kind_of(info: ValidationInfo) -> StreamKind | None:
    """The kind of the stream being validated, or None when `type` or `url` failed validation."""
    if "type" not in info.data or "url" not in info.data:
        return None
    declared: StreamKind | None = info.data["type"]
    url: str | None = info.data["url"]
    return _kind(declared, url)
