"""Building a source from a URL: the registry of source kinds and the URL conventions.

- ``rtsp://`` and ``rtsps://`` -> `RtspSource`;
- ``http(s)://`` (files, HLS) and local paths -> `FileSource`;
- a local path may carry ``?loop=1&realtime=1`` (also ``true``/``yes``/``on`` and ``0``/``false``/``no``/``off``).

Other kinds (WebRTC) join with `register_source_kind`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from streamguard.errors import ConfigError
from streamguard.ingest.base import BaseSource
from streamguard.ingest.file import FileSource
from streamguard.ingest.rtsp import RtspSource
from streamguard.redaction import redact_url

logger = logging.getLogger(__name__)

SOURCE_KINDS: dict[str, type[BaseSource]] = {"file": FileSource, "rtsp": RtspSource}
SCHEME_KINDS: dict[str, str] = {"rtsp": "rtsp", "rtsps": "rtsp", "http": "file", "https": "file", "file": "file"}
LOCAL_QUERY_OPTIONS = ("loop", "realtime")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def register_source_kind(cls: type[BaseSource], schemes: tuple[str, ...] = ()) -> None:
    """Add (or replace) a source kind, optionally claiming URL schemes for it (e.g. ``("webrtc",)``)."""
    SOURCE_KINDS[cls.kind] = cls
    for scheme in schemes:
        SCHEME_KINDS[scheme.lower()] = cls.kind


def kind_for_url(url: str) -> str:
    """The source kind that handles `url` (a path without a scheme is a local file).

    Raises:
        ConfigError: For a scheme no kind handles.
    """
    scheme = _scheme(url)
    if scheme is None:
        return "file"
    try:
        return SCHEME_KINDS[scheme]
    except KeyError:
        known = ", ".join(f"{name}://" for name in sorted(SCHEME_KINDS))
        raise ConfigError(f"unsupported URL scheme in {redact_url(url)!r}: use {known} or a local path") from None


def split_local_options(url: str) -> tuple[str, dict[str, bool]]:
    """Split ``path?loop=1&realtime=1`` (or ``file://`` URL) into the path and its options.

    Raises:
        ConfigError: For an unknown option or a value that is not a boolean.
    """
    if url.startswith("file://"):
        parts = urlsplit(url)
        path, query = unquote(parts.path), parts.query
    else:
        path, _, query = url.partition("?")
    options: dict[str, bool] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in LOCAL_QUERY_OPTIONS:
            raise ConfigError(f"unknown option {name!r} in {redact_url(url)!r}: known {', '.join(LOCAL_QUERY_OPTIONS)}")
        options[name] = _parse_bool(name, value, url)
    return path, options


def source_from_url(stream_id: str, url: str, **options: Any) -> BaseSource:
    """Create the source for `url`.

    `options` are constructor keyword arguments; those the chosen kind does not take are ignored, so callers
    may pass one set of ingest settings for every kind. ``?loop=`` / ``?realtime=`` on a local path win
    over the same keys in `options`.

    Raises:
        ConfigError: For an unsupported scheme or bad local-path options.
    """
    kind = kind_for_url(url)
    target = url
    if kind == "file" and not url.startswith(("http://", "https://")):
        target, local_options = split_local_options(url)
        options = {**options, **local_options}
    cls = SOURCE_KINDS[kind]
    accepted = _accepted_options(cls, options)
    ignored = sorted(set(options) - set(accepted))
    if ignored:
        logger.debug(
            "stream %s: %s source ignores %s", stream_id, kind, ", ".join(ignored), extra={"stream_id": stream_id}
        )
    # Every kind takes (stream_id, url, **options); the ABC itself declares no constructor.
    constructor = cast(Callable[..., BaseSource], cls)
    return constructor(stream_id, target, **accepted)


def _accepted_options(cls: type[BaseSource], options: dict[str, Any]) -> dict[str, Any]:
    parameters = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(options)
    return {name: value for name, value in options.items() if name in parameters}


def _scheme(url: str) -> str | None:
    head, separator, _ = url.partition("://")
    if not separator or not head.replace("+", "").replace("-", "").replace(".", "").isalnum():
        return None
    return head.lower()


def _parse_bool(name: str, value: str, url: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE or lowered == "":
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"option {name!r} in {redact_url(url)!r} must be 1/0/true/false, got {value!r}")
