"""JSON error responses shared by the API handlers."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web


def json_error(
    kind: type[web.HTTPError],
    message: str,
    detail: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.HTTPError:
    """An aiohttp HTTP error (to raise) with body ``{"error": message, "detail": [...]}``."""
    body: dict[str, object] = {"error": message}
    if detail is not None:
        body["detail"] = detail
    return kind(text=json.dumps(body), content_type="application/json", headers=dict(headers or {}))
