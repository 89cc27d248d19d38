"""Console logins: the API bearer token, exchanged once for a signed HttpOnly, SameSite=Strict cookie.

The cookie holds ``operator.expires.signature`` where the signature is an HMAC-SHA256 keyed with the API
token, so it names who acts (recorded with acknowledgements), cannot be forged or extended without the
token, and stops working as soon as the token is rotated. The token itself never travels in a URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from streamguard.api.auth import bearer_token, token_matches

COOKIE_NAME = "streamguard_console"
MAX_OPERATOR_CHARS = 64
AuthMode = Literal["token", "read_only", "refused"]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at the console.

    Attributes:
        operator: The name given at login (``anonymous`` in read-only mode, ``api`` for a bearer token).
        read_only: Whether acknowledge and dismiss are refused.
    """

    operator: str
    read_only: bool


class LoginError(ValueError):
    """A login form that cannot be accepted (the message is shown to the user)."""


def check_operator(name: str) -> str:
    """A cleaned operator name.

    Raises:
        LoginError: Empty, too long, or with control characters.
    """
    name = " ".join(name.split())
    if not name:
        raise LoginError("enter your name (it is recorded with what you acknowledge)")
    if len(name) > MAX_OPERATOR_CHARS or not name.isprintable():
        raise LoginError(f"the name must be printable and at most {MAX_OPERATOR_CHARS} characters")
    return name


class ConsoleAuth:
    """Decides who may view and act, from the API token and the console's read-only choice.

    Args:
        token: The API bearer token, or ``None`` when none is configured.
        read_only_without_token: Without a token, serve the console read-only (else refuse it).
        max_age_s: Lifetime of a login cookie.
    """

    def __init__(self, token: str | None, *, read_only_without_token: bool, max_age_s: int) -> None:
        self._token = token
        self._read_only_without_token = read_only_without_token
        self.max_age_s = max_age_s

    @property
    def mode(self) -> AuthMode:
        """``token`` (login required), ``read_only`` (open, no actions) or ``refused`` (console off)."""
        if self._token is not None:
            return "token"
        return "read_only" if self._read_only_without_token else "refused"

    def viewer(self, request: web.Request) -> Viewer | None:
        """The viewer of a request, or ``None`` when it is not logged in (or the console is refused)."""
        mode = self.mode
        if mode == "read_only":
            return Viewer("anonymous", read_only=True)
        if mode == "refused" or self._token is None:
            return None
        presented = bearer_token(request.headers.get("Authorization"))
        if presented is not None:
            return Viewer("api", read_only=False) if token_matches(presented, [self._token]) else None
        operator = self._verify(request.cookies.get(COOKIE_NAME, ""))
        return Viewer(operator, read_only=False) if operator is not None else None

    def token_accepted(self, presented: str) -> bool:
        """Whether `presented` is the API token (constant time)."""
        return self._token is not None and token_matches(presented, [self._token])

    def set_login_cookie(self, response: web.StreamResponse, operator: str, *, secure: bool) -> None:
        """Log `operator` in: an HttpOnly, SameSite=Strict cookie valid for `max_age_s`."""
        expires = int(time.time()) + self.max_age_s
        encoded = base64.urlsafe_b64encode(operator.encode()).decode().rstrip("=")
        value = f"{encoded}.{expires}.{self._sign(operator, expires)}"
        response.set_cookie(
            COOKIE_NAME, value, max_age=self.max_age_s, path="/", httponly=True, samesite="Strict", secure=secure
        )

    @staticmethod
    def clear_login_cookie(response: web.StreamResponse) -> None:
        """Log out."""
        response.del_cookie(COOKIE_NAME, path="/")

    def _sign(self, operator: str, expires: int) -> str:
        assert self._token is not None  # noqa: S101 - only called in token mode
        message = f"console-session\n{operator}\n{expires}".encode()
        return hmac.new(self._token.encode(), message, hashlib.sha256).hexdigest()

    def _verify(self, cookie: str) -> str | None:
        encoded, _, rest = cookie.partition(".")
        expires_text, _, signature = rest.partition(".")
        if not (encoded and expires_text.isdigit() and signature):
            return None
        try:
            operator = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        expires = int(expires_text)
        if expires < time.time() or not hmac.compare_digest(signature, self._sign(operator, expires)):
            return None
        return operator
