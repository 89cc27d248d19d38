"""Routes of the operator console on the daemon's HTTP server.

Pages: ``/`` (the console), ``/login``; static assets under ``/console/static/``; JSON and the alerts
feed (Server-Sent Events) under ``/console/api/``. Every response carries a strict Content-Security-Policy
(same-origin only), so the page cannot load or send anything beyond the daemon.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import RedisError

from streamguard import __version__
from streamguard.api.errors import json_error
from streamguard.api.ratelimit import MinuteLimit, too_many_requests
from streamguard.api.registry import StreamRegistry
from streamguard.config import DaemonConfig
from streamguard.console.alerts import ALERT_ID, ENTRY_ID, IMAGE_KINDS, AlertStore, sse_message
from streamguard.console.preview import PreviewCache
from streamguard.console.session import ConsoleAuth, LoginError, Viewer, check_operator

logger = logging.getLogger(__name__)
T = TypeVar("T")

STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
FEED_BLOCK_MS = 2000
FEED_HEARTBEAT_S = 15.0
FEED_RETRY_MS = 2000
FAILED_LOGIN_DELAY_S = 0.3
MAX_NOTE_CHARS = 500
MAX_JSON_BYTES = 16384


class Console:
    """The operator console of a daemon: install it on the app before the server starts; `start` after Redis.

    Args:
        registry: The streams shown (the daemon).
        config: The daemon's configuration (console, API token, Redis prefix, alert thresholds).
        on_limited: Counts a login refused for too many failures from its address.
    """

    def __init__(
        self, registry: StreamRegistry, config: DaemonConfig, on_limited: Callable[[], None] = lambda: None
    ) -> None:
        self.registry = registry
        self._login_failures = MinuteLimit(config.console.login_failures_per_minute)
        self._on_limited = on_limited
        self.daemon_config = config
        self.config = config.console
        token = config.api.resolved_token()
        self.auth = ConsoleAuth(
            token, read_only_without_token=self.config.read_only_without_token, max_age_s=self.config.session_max_age_s
        )
        self.previews = PreviewCache(self.config.preview_fps, self.config.preview_width)
        self._store: AlertStore | None = None
        self._closing = asyncio.Event()
        self._feeds: set[asyncio.Task[Any]] = set()

    def install(self, app: web.Application) -> None:
        """Add the console's routes and security headers to `app`."""
        app.middlewares.append(self._headers_middleware)
        add = app.router
        add.add_get("/", self.index)
        add.add_get("/login", self.login_page)
        add.add_post("/console/login", self.login)
        add.add_post("/console/logout", self.logout)
        add.add_get("/console/static/{name}", self.static)
        add.add_get("/console/api/session", self.session)
        add.add_get("/console/api/streams", self.streams)
        add.add_get("/console/api/streams/{stream_id}/preview.jpg", self.preview)
        add.add_get("/console/api/alerts/events", self.feed)
        add.add_get("/console/api/alerts/{alert_id}", self.alert)
        add.add_get("/console/api/alerts/{alert_id}/images/{kind}/{sequence}", self.alert_image)
        add.add_post("/console/api/alerts/{alert_id}/ack", self.acknowledge)
        if self.auth.mode == "refused":
            logger.warning(
                "console refused: set api.token (or STREAMGUARD_API_TOKEN) or console.read_only_without_token"
            )

    async def start(self, redis_url: str) -> None:
        """Connect to the daemon's Redis (the sink's, embedded or not)."""
        redis_cfg = self.daemon_config.redis
        client = aioredis.from_url(redis_url, socket_connect_timeout=2.0, socket_timeout=FEED_BLOCK_MS / 1000 + 5)
        self._store = AlertStore(client, redis_cfg.prefix, redis_cfg.alerts_maxlen)

    async def close(self) -> None:
        """End the alerts feeds and close the Redis connection."""
        self._closing.set()
        for task in list(self._feeds):
            task.cancel()
        if self._store is not None:
            await self._store.client.aclose()

    # ---- pages -------------------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        """``GET /``: the console, or the login page's address when not logged in."""
        if self.auth.mode == "refused":
            return _refused_page()
        if self.auth.viewer(request) is None:
            raise web.HTTPSeeOther("/login")
        return self._file("index.html")

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        """``GET /login``."""
        if self.auth.mode == "refused":
            return _refused_page()
        if self.auth.mode == "read_only":
            raise web.HTTPSeeOther("/")
        return self._file("login.html")

    async def login(self, request: web.Request) -> web.StreamResponse:
        """``POST /console/login``: JSON ``{operator, token}`` (204) or the form without JavaScript (303)."""
        _check_same_origin(request)
        if self.auth.mode != "token":
            return _json_error(404, "console login is off: no api token is configured")
        address = f"addr:{request.remote}"
        wait = self._login_failures.exhausted(address)
        if wait is not None:
            self._on_limited()
            raise too_many_requests(wait, "too many failed logins from this address; retry after Retry-After seconds")
        is_json = request.content_type == "application/json"
        try:
            form = await _read_json(request) if is_json else dict(await request.post())
            operator = check_operator(str(form.get("operator", "")))
            token = str(form.get("token", ""))
        except LoginError as e:
            return _json_error(400, str(e)) if is_json else web.HTTPSeeOther("/login?error=name")
        if not self.auth.token_accepted(token):
            self._login_failures.hit(address)
            await asyncio.sleep(FAILED_LOGIN_DELAY_S)  # slows down guessing
            logger.warning("console: refused login of %r from %s", operator, request.remote)
            return _json_error(401, "wrong token") if is_json else web.HTTPSeeOther("/login?error=token")
        response: web.StreamResponse = web.Response(status=204) if is_json else web.HTTPSeeOther("/")
        self.auth.set_login_cookie(response, operator, secure=request.secure)
        logger.info("console: %s logged in from %s", operator, request.remote)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """``POST /console/logout``."""
        _check_same_origin(request)
        response = web.Response(status=204)
        self.auth.clear_login_cookie(response)
        return response

    async def static(self, request: web.Request) -> web.StreamResponse:
        """``GET /console/static/{name}``: the shipped assets only."""
        return self._file(request.match_info["name"])

    # ---- JSON API ----------------------------------------------------------------------------------------

    async def session(self, request: web.Request) -> web.Response:
        """``GET /console/api/session``: who is logged in and the settings the page needs."""
        viewer = self._viewer(request)
        scoring = self.daemon_config.scoring
        return web.json_response(
            {
                "operator": viewer.operator,
                "read_only": viewer.read_only,
                "version": __version__,
                "preview_fps": self.config.preview_fps,
                "thresholds": {"on": scoring.on_threshold, "off": scoring.off_threshold},
            }
        )

    async def streams(self, request: web.Request) -> web.Response:
        """``GET /console/api/streams``: every running stream's status, rates, faces and open alerts."""
        self._viewer(request)
        rows = []
        for stream_id in self.registry.stream_ids():
            snapshot = self.registry.snapshot(stream_id)
            if snapshot is None:  # removed meanwhile
                continue
            state = snapshot.state
            rows.append(
                {
                    "id": stream_id,
                    "type": snapshot.kind,
                    "url": state.url,
                    "status": state.status.value,
                    "input_fps": state.fps_in,
                    "analyzed_fps": state.fps_analyzed,
                    "faces": state.faces,
                    "open_alerts": state.open_alerts,
                    "analyzed": state.analyzed,
                    "last_error": state.last_error,
                }
            )
        return web.json_response({"streams": rows}, headers={"Cache-Control": "no-store"})

    async def preview(self, request: web.Request) -> web.StreamResponse:
        """``GET /console/api/streams/{id}/preview.jpg``: the latest analysed frame, drawn (204 before one)."""
        self._viewer(request)
        stream_id = request.match_info["stream_id"]
        snapshot = self.registry.snapshot(stream_id)
        if snapshot is None:
            return _json_error(404, f"no stream {stream_id!r}")
        view = snapshot.last_view
        if view is None:
            return web.Response(status=204, headers={"Cache-Control": "no-store"})
        preview = await self.previews.get(stream_id, view)
        headers = {"Cache-Control": "no-store", "X-Frame-Index": str(preview.frame_index)}
        return web.Response(body=preview.jpeg, content_type="image/jpeg", headers=headers)

    async def feed(self, request: web.Request) -> web.StreamResponse:
        """``GET /console/api/alerts/events``: Server-Sent Events of the alerts stream, resumable by id."""
        self._viewer(request)
        store = self._require_store()
        if len(self._feeds) >= self.config.max_feeds:
            return _json_error(503, f"too many alert feeds open ({self.config.max_feeds}); close a console tab")
        resume_from = request.headers.get("Last-Event-ID") or request.query.get("after")
        if resume_from is not None and not ENTRY_ID.fullmatch(resume_from):
            return _json_error(400, "Last-Event-ID must be an alerts-stream entry id like 1700000000000-0")
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._feeds.add(task)
        try:
            await response.write(f"retry: {FEED_RETRY_MS}\n\n".encode())
            await self._follow(store, request, response, resume_from)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._feeds.discard(task)
        return response

    async def _follow(
        self, store: AlertStore, request: web.Request, response: web.StreamResponse, resume_from: str | None
    ) -> None:
        last_id = resume_from
        while last_id is None and not self._closing.is_set():
            try:
                backlog, last_id = await store.backlog(self.config.backlog)
            except RedisError as e:
                await response.write(f": redis unavailable ({type(e).__name__})\n\n".encode())
                await asyncio.sleep(1.0)
                continue
            for entry in backlog:
                await response.write(sse_message(entry))
        heartbeat_at = time.monotonic() + FEED_HEARTBEAT_S
        # A gone browser is noticed within one blocking read, not at the next write, so it frees its slot.
        while not self._closing.is_set() and last_id is not None and _connected(request):
            try:
                entries = await store.after(last_id, FEED_BLOCK_MS)
            except RedisError as e:
                await response.write(f": redis unavailable ({type(e).__name__})\n\n".encode())
                await asyncio.sleep(1.0)
                continue
            for entry in entries:
                await response.write(sse_message(entry))
                last_id = entry["entry_id"]
            if time.monotonic() > heartbeat_at:
                await response.write(b": keep-alive\n\n")
                heartbeat_at = time.monotonic() + FEED_HEARTBEAT_S

    async def alert(self, request: web.Request) -> web.Response:
        """``GET /console/api/alerts/{id}``: the alert's entries folded, image URLs and score history."""
        self._viewer(request)
        store = self._require_store()
        alert_id = _alert_id(request)
        detail = await _redis_call(store.detail(alert_id))
        if detail is None:
            return _json_error(404, f"no alert {alert_id!r} in the alerts stream")
        body = detail.summary()
        images: dict[str, str | None] = {}
        for kind in IMAGE_KINDS:
            entry = detail.latest_with(f"{kind}_key")
            images[kind] = (
                f"/console/api/alerts/{alert_id}/images/{kind}/{entry['sequence']}" if entry is not None else None
            )
        scoring = self.daemon_config.scoring
        body.update(
            images=images,
            history=await _redis_call(store.history(detail)),
            thresholds={"on": scoring.on_threshold, "off": scoring.off_threshold},
        )
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    async def alert_image(self, request: web.Request) -> web.Response:
        """``GET /console/api/alerts/{id}/images/{crop|mask|overlay}/{sequence}``."""
        self._viewer(request)
        store = self._require_store()
        alert_id, kind, sequence = _alert_id(request), request.match_info["kind"], request.match_info["sequence"]
        if kind not in IMAGE_KINDS or not sequence.isdigit():
            return _json_error(404, "no such image")
        data = await _redis_call(store.image(alert_id, kind, int(sequence)))
        if data is None:
            return _json_error(404, "the image has expired (redis.mask_ttl_s) or never existed")
        content_type = "image/png" if kind == "mask" else "image/jpeg"
        return web.Response(body=data, content_type=content_type, headers={"Cache-Control": "private, max-age=3600"})

    async def acknowledge(self, request: web.Request) -> web.Response:
        """``POST /console/api/alerts/{id}/ack`` ``{"action": "ack"|"dismiss", "note": ""}``: recorded in Redis."""
        _check_same_origin(request)
        viewer = self._viewer(request)
        if viewer.read_only:
            return _json_error(403, "the console is read-only (no api token configured)")
        store = self._require_store()
        alert_id = _alert_id(request)
        body = await _read_json(request)
        action, note = body.get("action"), body.get("note", "")
        if action not in ("ack", "dismiss") or not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
            return _json_error(422, f'give "action": "ack" or "dismiss" and a "note" of at most {MAX_NOTE_CHARS} chars')
        detail = await _redis_call(store.detail(alert_id))
        if detail is None:
            return _json_error(404, f"no alert {alert_id!r} in the alerts stream")
        entry_id = await _redis_call(store.record_action(detail, action, viewer.operator, note.strip()))
        logger.info("console: %s by %s on alert %s", action, viewer.operator, alert_id)
        return web.json_response({"entry_id": entry_id}, status=201)

    # ---- helpers -----------------------------------------------------------------------------------------

    def _viewer(self, request: web.Request) -> Viewer:
        viewer = self.auth.viewer(request)
        if viewer is None:
            raise json_error(web.HTTPUnauthorized, "log in at /login")
        return viewer

    def _require_store(self) -> AlertStore:
        if self._store is None:
            raise json_error(web.HTTPServiceUnavailable, "the console is not connected to Redis yet")
        return self._store

    def _file(self, name: str) -> web.StreamResponse:
        path = STATIC_DIR / name
        if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
            return _json_error(404, "not found")
        return web.Response(
            body=path.read_bytes(),
            content_type=STATIC_TYPES[path.suffix],
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    @web.middleware
    async def _headers_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as e:
            response = e
            if not _is_console_path(request.path):
                raise
        if _is_console_path(request.path):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "no-referrer")
            response.headers.setdefault("X-Frame-Options", "DENY")
        if isinstance(response, web.HTTPException):
            raise response
        return response


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


def _is_console_path(path: str) -> bool:
    return path in ("/", "/login") or path.startswith("/console/")


def _alert_id(request: web.Request) -> str:
    alert_id = request.match_info["alert_id"]
    if not ALERT_ID.fullmatch(alert_id):
        raise json_error(web.HTTPNotFound, "not an alert id")
    return alert_id


async def _redis_call(call: Awaitable[T]) -> T:
    try:
        return await call
    except RedisError as e:
        raise json_error(web.HTTPServiceUnavailable, f"Redis is unavailable: {type(e).__name__}") from e


async def _read_json(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise web.HTTPRequestEntityTooLarge(
            max_size=MAX_JSON_BYTES,
            actual_size=request.content_length,
            text=json.dumps({"error": f"body too large (at most {MAX_JSON_BYTES} bytes)"}),
            content_type="application/json",
        )
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as e:
        raise json_error(web.HTTPBadRequest, f"body is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise json_error(web.HTTPBadRequest, "body must be a JSON object")
    return body


def _check_same_origin(request: web.Request) -> None:
    """Refuse state-changing requests sent by another site's page (SameSite=Strict is the first line)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise json_error(web.HTTPForbidden, "cross-origin request refused")


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _refused_page() -> web.Response:
    text = (
        "The streamguard console needs a login token: set api.token (or STREAMGUARD_API_TOKEN), "
        "or set console.read_only_without_token: true to let anyone who can reach this server view it.\n"
    )
    return web.Response(status=403, text=text)
