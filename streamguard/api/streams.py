"""The runtime stream API: list, inspect, add and remove streams while the daemon runs.

Streams added here are validated by the same `StreamConfig` model as the configuration file and kept in
a JSON file (`RuntimeStreamStore`) so that they come back after a restart. Removing a stream that came
from the configuration file stops it until the next restart.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from streamguard.api.errors import json_error
from streamguard.api.policy import StreamPolicy
from streamguard.api.registry import StreamRegistry, StreamSnapshot
from streamguard.config import StreamConfig
from streamguard.errors import ConfigError
from streamguard.redaction import redact_url
from streamguard.types import RefusalReason

logger = logging.getLogger(__name__)

SessionCounter = Callable[[str], int]
SessionEnder = Callable[[str], Awaitable[None]]
RefusalCounter = Callable[[RefusalReason], None]


class RuntimeStreamStore:
    """The streams added through the API, as a JSON list of stream objects (written atomically).

    Args:
        path: The JSON file; its folder is created on the first write.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[StreamConfig]:
        """The stored streams; unreadable entries are logged and skipped, a missing file is an empty list."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            logger.warning("runtime streams: cannot read %s: %s", self.path, e)
            return []
        streams: list[StreamConfig] = []
        for index, item in enumerate(data if isinstance(data, list) else []):
            try:
                streams.append(StreamConfig.model_validate(item))
            except ValidationError as e:
                logger.warning("runtime streams: %s entry %d skipped: %s", self.path, index, _problems(e))
        return streams

    def save(self, streams: list[StreamConfig]) -> None:
        """Replace the stored streams."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = [stream.model_dump(mode="json", exclude_defaults=True) for stream in streams]
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, self.path)


OwnerLookup = Callable[[str], int | None]
"""The replica ordinal that owns a stream id when it is another replica, ``None`` when this one owns it."""


def owned_everywhere(_stream_id: str) -> int | None:
    """A daemon without replicas owns every stream."""
    return None


class StreamRoutes:
    """``/api/streams`` handlers over the daemon's stream registry.

    Args:
        registry: The running streams (the daemon).
        store: Where runtime streams persist.
        sessions: Counts the WHIP sessions of a stream.
        end_sessions: Ends the WHIP sessions of a stream (before it is removed).
        policy: The allowlist every added (and restored) stream must pass.
        on_refused: Counts a stream refused by the policy.
        other_owner: Which replica owns a stream id, when not this one (sharded replicas: a stream is added
            where the configured streams with its id would run, so it survives restarts and scaling alike).
    """

    def __init__(
        self,
        registry: StreamRegistry,
        store: RuntimeStreamStore,
        sessions: SessionCounter,
        end_sessions: SessionEnder,
        policy: StreamPolicy,
        on_refused: RefusalCounter,
        other_owner: OwnerLookup = owned_everywhere,
    ) -> None:
        self._registry = registry
        self._other_owner = other_owner
        self._store = store
        self._sessions = sessions
        self._end_sessions = end_sessions
        self._policy = policy
        self._on_refused = on_refused
        self.runtime: dict[str, StreamConfig] = {}

    def install(self, app: web.Application) -> None:
        """Add the routes to `app`."""
        app.router.add_get("/api/streams", self.list_streams)
        app.router.add_post("/api/streams", self.add)
        app.router.add_get("/api/streams/{stream_id}", self.get)
        app.router.add_delete("/api/streams/{stream_id}", self.delete)

    async def restore(self) -> None:
        """Start the streams stored by earlier runs (an id the configuration file also uses is skipped)."""
        for stream in self._store.load():
            if self._registry.snapshot(stream.id) is not None:
                logger.warning("runtime stream %s: skipped, the configuration defines it", stream.id)
                continue
            owner = self._other_owner(stream.id)
            if owner is not None:
                logger.warning(
                    "runtime stream %s: not restored, replica %d owns it now (add it there)", stream.id, owner
                )
                continue
            refusal = self._policy.refusal(stream)
            if refusal is not None:
                self._on_refused(refusal.reason)
                logger.warning("runtime stream %s: not restored: %s", stream.id, refusal.message)
                continue
            try:
                await self._registry.add_stream(stream)
            except ConfigError as e:
                logger.warning("runtime stream %s: not restored: %s", stream.id, e, extra={"stream_id": stream.id})
                continue
            self.runtime[stream.id] = stream
        if self.runtime:
            logger.info("restored %d runtime stream(s) from %s", len(self.runtime), self._store.path)

    async def list_streams(self, _: web.Request) -> web.Response:
        """``GET /api/streams``: every running stream with its state."""
        snapshots = [self._registry.snapshot(stream_id) for stream_id in self._registry.stream_ids()]
        return web.json_response({"streams": [self.describe(s) for s in snapshots if s is not None]})

    async def get(self, request: web.Request) -> web.Response:
        """``GET /api/streams/{stream_id}``."""
        stream_id = request.match_info["stream_id"]
        snapshot = self._registry.snapshot(stream_id)
        if snapshot is None:
            raise json_error(web.HTTPNotFound, f"no stream {stream_id!r}")
        return web.json_response(self.describe(snapshot))

    async def add(self, request: web.Request) -> web.Response:
        """``POST /api/streams``: validate a stream object and start it (``201``; ``409`` if the id is taken)."""
        try:
            body = await request.json()
        except ValueError as e:
            raise json_error(web.HTTPBadRequest, f"body is not JSON: {e}") from e
        try:
            stream = StreamConfig.model_validate(body)
        except ValidationError as e:
            raise json_error(web.HTTPUnprocessableEntity, "invalid stream", detail=_problems(e)) from e
        refusal = self._policy.refusal(stream)
        if refusal is not None:
            self._on_refused(refusal.reason)
            raise json_error(web.HTTPForbidden, refusal.message, detail=[{"field": "url", "message": refusal.reason}])
        if self._registry.snapshot(stream.id) is not None:
            raise json_error(web.HTTPConflict, f"a stream with id {stream.id!r} is already running")
        owner = self._other_owner(stream.id)
        if owner is not None:
            raise json_error(
                web.HTTPMisdirectedRequest,
                f"stream {stream.id!r} belongs to replica {owner}; add it there",
                detail=[{"field": "id", "message": f"owner_replica={owner}"}],
            )
        try:
            await self._registry.add_stream(stream)
        except ConfigError as e:
            raise json_error(web.HTTPUnprocessableEntity, str(e)) from e
        self.runtime[stream.id] = stream
        self._save()
        snapshot = self._registry.snapshot(stream.id)
        if snapshot is None:  # it failed at once and was removed
            raise json_error(web.HTTPUnprocessableEntity, f"stream {stream.id!r} stopped as it started")
        response = web.json_response(self.describe(snapshot), status=201)
        response.headers["Location"] = f"/api/streams/{stream.id}"
        return response

    async def delete(self, request: web.Request) -> web.Response:
        """``DELETE /api/streams/{stream_id}``: stop the stream and end its open alerts (``stream_removed``)."""
        stream_id = request.match_info["stream_id"]
        if self._registry.snapshot(stream_id) is None:
            raise json_error(web.HTTPNotFound, f"no stream {stream_id!r}")
        await self._end_sessions(stream_id)
        await self._registry.remove_stream(stream_id)
        if self.runtime.pop(stream_id, None) is not None:
            self._save()
        return web.Response(status=204)

    def describe(self, snapshot: StreamSnapshot) -> dict[str, Any]:
        """A stream's configuration summary and live state."""
        url = snapshot.config.url
        return {
            "id": snapshot.id,
            "type": snapshot.kind,
            "url": redact_url(url) if url is not None else None,
            "runtime": snapshot.id in self.runtime,
            "sessions": self._sessions(snapshot.id),
            **{key: value for key, value in snapshot.state.to_fields().items() if key != "url"},
        }

    def _save(self) -> None:
        try:
            self._store.save(list(self.runtime.values()))
        except OSError as e:
            logger.error("runtime streams: cannot write %s: %s", self._store.path, e)


def _problems(error: ValidationError) -> list[dict[str, str]]:
    """Field paths and messages of a validation error (inputs left out: they may hold credentials)."""
    return [
        {"field": ".".join(str(part) for part in problem["loc"]) or "body", "message": problem["msg"]}
        for problem in error.errors(include_input=False, include_url=False)
    ]
