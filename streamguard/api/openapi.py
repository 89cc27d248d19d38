"""The OpenAPI 3.1 document of the daemon's HTTP interface, served at ``/api/openapi.json``.

The stream schema is `StreamConfig`'s own JSON schema, so the document and the validation cannot drift.
"""

from __future__ import annotations

from typing import Any, get_args

from streamguard.config import StreamConfig, StreamKind
from streamguard.config.streams import STREAM_ID_PATTERN
from streamguard.types import StreamState

OPENAPI_PATH = "/api/openapi.json"

_ERROR = {"$ref": "#/components/schemas/Error"}
_STREAM_ID = {
    "name": "stream_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": STREAM_ID_PATTERN},
}
_SESSION_ID = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}
_PUBLIC: list[dict[str, list[str]]] = []


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    descriptions = {
        400: "Malformed request (the reason is in `error`).",
        401: "Missing or invalid bearer token (`WWW-Authenticate: Bearer`).",
        403: "The stream's URL is outside the allowlist (`api.allowed_url_schemes`, `_hosts`, `_path_roots`).",
        404: "No such stream or session.",
        409: "Conflict: id taken, wrong stream kind, or the stream already has a publisher (`Retry-After`).",
        413: "SDP offer larger than `api.max_sdp_bytes`.",
        415: "Content-Type is not application/sdp.",
        421: "Sharded replicas: another replica owns this stream id (`detail`: `owner_replica=N`); add it there.",
        422: "The stream object is invalid; `detail` names each field.",
        503: "Too many WHIP sessions (`api.max_sessions`); retry after `Retry-After` seconds.",
    }
    return {str(code): _json(_ERROR, descriptions[code]) for code in codes}


def _stream_paths() -> dict[str, Any]:
    stream = {"$ref": "#/components/schemas/StreamInfo"}
    return {
        "/api/streams": {
            "get": {
                "summary": "List running streams with their state",
                "operationId": "listStreams",
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/StreamList"}, "Every running stream."),
                    **_errors(401),
                },
            },
            "post": {
                "summary": "Add a stream (same fields as in the configuration file); kept across restarts",
                "operationId": "addStream",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StreamConfig"}}},
                },
                "responses": {"201": _json(stream, "The stream was started."), **_errors(400, 401, 403, 409, 421, 422)},
            },
        },
        "/api/streams/{stream_id}": {
            "parameters": [_STREAM_ID],
            "get": {
                "summary": "One stream and its state",
                "operationId": "getStream",
                "responses": {"200": _json(stream, "The stream."), **_errors(401, 404)},
            },
            "delete": {
                "summary": "Stop a stream and end its open alerts (reason stream_removed)",
                "operationId": "deleteStream",
                "responses": {"204": {"description": "Stopped."}, **_errors(401, 404)},
            },
        },
    }


def _whip_paths() -> dict[str, Any]:
    sdp = {"application/sdp": {"schema": {"type": "string"}}}
    return {
        "/whip/{stream_id}": {
            "parameters": [_STREAM_ID],
            "post": {
                "summary": "WHIP (RFC 9725): publish WebRTC video with an SDP offer",
                "operationId": "whipPublish",
                "requestBody": {"required": True, "content": sdp},
                "responses": {
                    "201": {
                        "description": "SDP answer; `Location` is the session resource, `ETag` its tag.",
                        "headers": {
                            "Location": {"schema": {"type": "string"}},
                            "ETag": {"schema": {"type": "string"}},
                        },
                        "content": sdp,
                    },
                    **_errors(400, 401, 404, 409, 413, 415, 503),
                },
            },
            "options": {
                "summary": "CORS pre-flight",
                "operationId": "whipOptions",
                "security": _PUBLIC,
                "responses": {"204": {"description": "Allowed methods and headers."}},
            },
        },
        "/whip/{stream_id}/{session_id}": {
            "parameters": [_STREAM_ID, _SESSION_ID],
            "delete": {
                "summary": "End a WHIP session",
                "operationId": "whipEnd",
                "responses": {"200": {"description": "Ended; the stream is down."}, **_errors(401, 404)},
            },
            "patch": {
                "summary": "Trickle ICE / ICE restart: not supported",
                "operationId": "whipPatch",
                "responses": {
                    "405": {"description": "Not supported (RFC 9725); `Allow` lists the methods."},
                    **_errors(401),
                },
            },
            "options": {
                "summary": "CORS pre-flight",
                "operationId": "whipSessionOptions",
                "security": _PUBLIC,
                "responses": {"204": {"description": "Allowed methods and headers."}},
            },
        },
    }


def _health_paths() -> dict[str, Any]:
    checks = {"type": "object", "properties": {"status": {"type": "string"}, "checks": {"type": "object"}}}
    return {
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "operationId": "healthz",
                "security": _PUBLIC,
                "responses": {"200": _json({"type": "object"}, "Alive.")},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: model loaded, sink ready, sources started",
                "operationId": "readyz",
                "security": _PUBLIC,
                "responses": {"200": _json(checks, "Ready."), "503": _json(checks, "Not ready.")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "security": _PUBLIC,
                "responses": {"200": {"description": "Text exposition format.", "content": {"text/plain": {}}}},
            }
        },
        OPENAPI_PATH: {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "security": _PUBLIC,
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document.")},
            }
        },
    }


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI document (paths, schemas from the pydantic models, bearer security)."""
    stream_schema = StreamConfig.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = stream_schema.pop("$defs", {})
    stream_info = {
        "type": "object",
        "required": ["id", "type", "status"],
        "properties": {
            **StreamState.json_schema(),
            "id": {"type": "string"},
            "type": {"type": "string", "enum": list(get_args(StreamKind))},
            "url": {"type": ["string", "null"], "description": "Redacted."},
            "runtime": {"type": "boolean", "description": "Added through the API (kept across restarts)."},
            "sessions": {"type": "integer", "description": "WHIP sessions publishing to the stream."},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "streamguard",
            "version": version,
            "description": "Runtime stream API, WHIP (WebRTC) ingest, health and metrics of the streamguard daemon.",
        },
        "security": [{"bearer": []}],
        "paths": {**_stream_paths(), **_whip_paths(), **_health_paths()},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                **definitions,
                "StreamConfig": stream_schema,
                "StreamInfo": stream_info,
                "StreamList": {
                    "type": "object",
                    "required": ["streams"],
                    "properties": {"streams": {"type": "array", "items": {"$ref": "#/components/schemas/StreamInfo"}}},
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "detail": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                            },
                        },
                    },
                },
            },
        },
    }
