"""A small client of the runtime stream API (used by ``streamguard streams``)."""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from streamguard.errors import StreamguardError

DEFAULT_API_URL = "http://127.0.0.1:8080"
TIMEOUT_S = 10.0


class ApiError(StreamguardError):
    """The API refused a request or could not be reached; the message says why."""


@dataclass(frozen=True, slots=True)
class StreamApiClient:
    """Calls ``/api/streams`` on a running daemon.

    Attributes:
        base_url: The daemon's HTTP server, e.g. ``http://127.0.0.1:8080``.
        token: Bearer token, when the daemon requires one.
        ca_file: PEM CA bundle to verify an ``https://`` daemon with (a private CA); None: the system's.
    """

    base_url: str = DEFAULT_API_URL
    token: str | None = None
    ca_file: Path | None = None

    def list(self) -> list[dict[str, Any]]:
        """Every running stream with its state.

        Raises:
            ApiError: The request failed.
        """
        streams: list[dict[str, Any]] = self._call("GET", "/api/streams")["streams"]
        return streams

    def add(self, stream: dict[str, Any]) -> dict[str, Any]:
        """Add a stream (the same fields as in the configuration file); returns its description.

        Raises:
            ApiError: The request failed (the message names invalid fields).
        """
        return self._call("POST", "/api/streams", stream)

    def remove(self, stream_id: str) -> None:
        """Stop and remove a stream.

        Raises:
            ApiError: The request failed (e.g. no such stream).
        """
        self._call("DELETE", f"/api/streams/{stream_id}")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return asyncio.run(self._request(method, path, body))

    async def _request(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = self.base_url.rstrip("/") + path
        try:
            tls = ssl.create_default_context(cafile=self.ca_file) if self.ca_file is not None else True
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=TIMEOUT_S), connector=aiohttp.TCPConnector(ssl=tls)
                ) as http,
                http.request(method, url, json=body, headers=headers) as response,
            ):
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError, ssl.SSLError) as e:
            raise ApiError(f"cannot reach {url}: {e}") from e
        data = _json(text)
        if status >= 400:
            raise ApiError(f"{method} {path}: {status} {_describe_error(data, text)}")
        return data


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _describe_error(data: dict[str, Any], text: str) -> str:
    message = str(data.get("error", text.strip()))
    details = data.get("detail") or []
    fields = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in details if isinstance(d, dict))
    return f"{message}: {fields}" if fields else message
