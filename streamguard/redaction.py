"""Remove credentials from URLs and from messages that quote URLs, before anything is logged or published.

The whole userinfo part is replaced, user included: ``rtsp://admin:secret@cam/stream`` becomes
``rtsp://***@cam/stream``. Secret-looking query or path parameters (``password=``, ``token=``, ...) keep their
name and lose their value: ``http://host/live?token=abc`` becomes ``http://host/live?token=***``.

The userinfo is taken to end at the *last* ``@`` before the query or fragment, so a password with an
unescaped ``/`` or ``@`` in it is still hidden (at worst a path containing ``@`` is over-redacted, which is
harmless in a log line).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

REDACTED = "***"

# Known camera URL conventions put secrets in the query (`?password=`) or in the path (`/password=...&`).
_SECRET_PARAM = re.compile(
    r"(?<![A-Za-z0-9_])(?P<name>(?:password|passwd|pass|pwd|token|access_token|secret|api_?key|key|auth|signature|sig))"
    r"=(?P<value>[^&;#\s'\"]+)",
    re.IGNORECASE,
)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")
_SCHEME_SEPARATOR = "://"
# Below this length a "known secret" is too likely to be a common substring of unrelated text.
_MIN_SCRUB_LENGTH = 3


def redact_url(url: str) -> str:
    """Return `url` with its userinfo (user and password) and secret-looking parameters replaced by ``***``.

    Args:
        url: Any URL or local path; strings without credentials come back unchanged.

    Returns:
        The URL safe to log, e.g. ``rtsp://***@10.0.0.5:554/stream1``.
    """
    return _redact_params(_redact_userinfo(url))


def redact_text(text: str, urls: Iterable[str] = ()) -> str:
    """Redact every URL found in `text`, and any literal credential of the given `urls`.

    Library errors (PyAV, sockets) often echo the URL they were given, sometimes quoted or cut oddly;
    passing the source URL in `urls` also scrubs its user and password wherever they appear verbatim.

    Args:
        text: A message, e.g. ``str(exception)``.
        urls: URLs whose credentials must not appear in the result.

    Returns:
        The message safe to log or publish.
    """
    redacted = _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)
    for secret in sorted(_secrets_of(urls), key=len, reverse=True):
        redacted = redacted.replace(secret, REDACTED)
    return redacted


def url_credentials(url: str) -> tuple[str, str]:
    """Return the ``(user, password)`` written in `url` (percent-encoded as written), empty when absent."""
    userinfo = _userinfo_span(url)
    if userinfo is None:
        return "", ""
    start, end = userinfo
    user, _, password = url[start:end].partition(":")
    return user, password


def _userinfo_span(url: str) -> tuple[int, int] | None:
    scheme_end = url.find(_SCHEME_SEPARATOR)
    if scheme_end <= 0:
        return None
    start = scheme_end + len(_SCHEME_SEPARATOR)
    authority_end = len(url)
    for stop in ("?", "#"):
        found = url.find(stop, start)
        if found != -1:
            authority_end = min(authority_end, found)
    at = url.rfind("@", start, authority_end)
    if at == -1:
        return None
    return start, at


def _redact_userinfo(url: str) -> str:
    span = _userinfo_span(url)
    if span is None:
        return url
    start, end = span
    return url[:start] + REDACTED + url[end:]


def _redact_params(url: str) -> str:
    return _SECRET_PARAM.sub(lambda match: f"{match.group('name')}={REDACTED}", url)


def _secrets_of(urls: Iterable[str]) -> set[str]:
    secrets: set[str] = set()
    for url in urls:
        user, password = url_credentials(url)
        values = [password, user] + [match.group("value") for match in _SECRET_PARAM.finditer(url)]
        for value in values:
            secrets.update(form for form in (value, unquote(value)) if len(form) >= _MIN_SCRUB_LENGTH)
    return secrets
