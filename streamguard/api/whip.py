"""WHIP ingest (RFC 9725): publishers POST an SDP offer, the daemon answers and receives their video.

- ``POST /whip/{stream_id}`` (``application/sdp``) -> ``201 Created``, the SDP answer with every gathered
  candidate (no trickle ICE), ``Location`` of the session and its ``ETag``;
- ``DELETE /whip/{stream_id}/{session_id}`` ends the session; ``PATCH`` (trickle ICE, ICE restarts) is not
  supported: ``405`` with ``Allow``; ``OPTIONS`` answers CORS pre-flights.

The first H.264/VP8 video track is decoded by aiortc and pushed into the stream's `WebRtcSource`; audio
sections are answered ``inactive`` so nothing is sent or decoded. A session whose peer connection fails or
closes, or which delivers no video for ``stall_s``, is torn down and its stream marked down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import aioice.ice
import av
from aiohttp import web
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription

from streamguard.api.errors import json_error
from streamguard.api.ice_ports import IcePortRange
from streamguard.api.registry import StreamRegistry
from streamguard.config import ApiConfig, StreamConfig, WebRtcConfig
from streamguard.ingest.webrtc import WebRtcSource
from streamguard.types import EndReason

logger = logging.getLogger(__name__)

SDP_TYPE = "application/sdp"
VIDEO_CODECS = frozenset({"video/H264", "video/VP8"})
WATCH_INTERVAL_S = 0.25
_SDP_LINE = re.compile(r"^[a-z]=[^\x00]*$")
_PAYLOAD_TYPE = r"(?:1?\d?\d|2[0-4]\d|25[0-5])"
_MEDIA_LINE = re.compile(
    rf"^m=(?:(?:audio|video) \d+(?:/\d+)? \S+(?: {_PAYLOAD_TYPE})+|(?!audio |video )\S+ \d+(?:/\d+)? \S+(?: \S+)+)$"
)
OFFER_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    AssertionError,
    InternalError,
    InvalidAccessError,
    InvalidStateError,
    OperationError,
)
"""What aiortc raises for offers it cannot answer."""
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Retry-After",
    "Access-Control-Max-Age": "600",
}


HostAddresses = Callable[[bool, bool], list[str]]
"""The signature of `aioice.ice.get_host_addresses` (``use_ipv4``, ``use_ipv6``)."""


class OfferError(ValueError):
    """The SDP offer cannot be used; the message is the reason sent back with ``400``."""


def check_offer(text: str) -> SessionDescription:
    """Parse an SDP offer and check it carries one H.264 or VP8 video section with ICE and DTLS parameters.

    Raises:
        OfferError: With the reason (the line that failed, or what is missing).
    """
    _check_lines(text)
    try:
        description = SessionDescription.parse(text)
    except AssertionError as e:  # aiortc's parser asserts on some lines (e.g. a reserved payload type)
        raise OfferError("malformed SDP: the parser rejected a media line (reserved payload type?)") from e
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as e:
        raise OfferError(f"malformed SDP: {type(e).__name__}: {e}") from e
    _check_media(description)
    return description


def _check_lines(text: str) -> None:
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
    if not lines or lines[0] != "v=0":
        raise OfferError("malformed SDP: the first line must be v=0")
    for number, line in enumerate(lines, start=1):
        if not _SDP_LINE.match(line):
            raise OfferError(f"malformed SDP: line {number} is not <letter>=<value>: {line[:60]!r}")
        if line.startswith("m=") and not _MEDIA_LINE.match(line):
            raise OfferError(f"malformed SDP: line {number} is not m=<media> <port> <proto> <formats>: {line[:60]!r}")


def _check_media(description: SessionDescription) -> None:
    videos = [media for media in description.media if media.kind == "video"]
    if len(videos) != 1:
        raise OfferError(f"the offer must have exactly one video section, it has {len(videos)}")
    codecs = {codec.mimeType for codec in videos[0].rtp.codecs}
    if not codecs & VIDEO_CODECS:
        raise OfferError(f"no supported video codec (H264 or VP8) offered; got {', '.join(sorted(codecs)) or 'none'}")
    for media in description.media:  # session-level attributes are copied into each section by the parser
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise OfferError(f"{media.kind} section has no ICE credentials (a=ice-ufrag, a=ice-pwd)")
        if media.dtls is None or not media.dtls.fingerprints:
            raise OfferError(f"{media.kind} section has no DTLS fingerprint (a=fingerprint)")


@dataclass(eq=False, slots=True)
class WhipSession:
    """One publisher's peer connection feeding a stream."""

    id: str
    stream_id: str
    pc: RTCPeerConnection
    source: WebRtcSource
    created_mono: float = field(default_factory=time.monotonic)
    last_frame_mono: float | None = None
    frames: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: bool = False

    @property
    def etag(self) -> str:
        """Entity tag of the session resource."""
        return f'"{self.id}"'

    @property
    def location(self) -> str:
        """Path of the session resource."""
        return f"/whip/{self.stream_id}/{self.id}"


class WhipEndpoint:
    """The WHIP routes and the live sessions.

    Args:
        registry: The streams that receive the video (the daemon).
        config: The ``api`` section (limits, dynamic streams, WebRTC settings).
        on_slow_body: Called when an offer does not arrive within ``config.body_timeout_s`` (answered ``408``).
    """

    def __init__(
        self, registry: StreamRegistry, config: ApiConfig, on_slow_body: Callable[[], None] = lambda: None
    ) -> None:
        self._registry = registry
        self._config = config
        self._on_slow_body = on_slow_body
        self._webrtc: WebRtcConfig = config.webrtc
        self.sessions: dict[str, WhipSession] = {}
        self._pending: Counter[str] = Counter()
        self._dynamic_streams: set[str] = set()
        self._saved_host_addresses: HostAddresses | None = None
        self._port_range: IcePortRange | None = None

    def install(self, app: web.Application) -> None:
        """Add the routes to `app` and apply ``webrtc.host_addresses``."""
        app.router.add_post("/whip/{stream_id}", self.post)
        app.router.add_route("OPTIONS", "/whip/{stream_id}", self.options)
        app.router.add_delete("/whip/{stream_id}/{session_id}", self.delete)
        app.router.add_route("PATCH", "/whip/{stream_id}/{session_id}", self.patch)
        app.router.add_route("OPTIONS", "/whip/{stream_id}/{session_id}", self.options)
        addresses = list(self._webrtc.host_addresses)
        if addresses:
            self._saved_host_addresses = cast(HostAddresses, aioice.ice.get_host_addresses)

            def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
                return [a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

            aioice.ice.get_host_addresses = configured
        low, high = self._webrtc.udp_port_min, self._webrtc.udp_port_max
        if low is not None and high is not None:
            self._port_range = IcePortRange(low, high)
            self._port_range.install(asyncio.get_running_loop())

    @property
    def session_total(self) -> int:
        """Live and negotiating sessions of every stream."""
        return len(self.sessions) + sum(self._pending.values())

    def session_count(self, stream_id: str) -> int:
        """Live (and negotiating) sessions of a stream."""
        return sum(s.stream_id == stream_id for s in self.sessions.values()) + self._pending[stream_id]

    async def end_stream_sessions(self, stream_id: str, reason: str = "stream removed") -> None:
        """Tear down every session publishing to `stream_id`."""
        for session in [s for s in self.sessions.values() if s.stream_id == stream_id]:
            await self._teardown(session, reason, remove_dynamic=False)

    async def close(self) -> None:
        """Tear down every session and restore aioice's host address discovery; idempotent."""
        for session in list(self.sessions.values()):
            await self._teardown(session, "daemon stopping", remove_dynamic=False)
        if self._saved_host_addresses is not None:
            aioice.ice.get_host_addresses = self._saved_host_addresses  # type: ignore[assignment]
            self._saved_host_addresses = None
        if self._port_range is not None:
            self._port_range.uninstall()
            self._port_range = None

    # ---- handlers ------------------------------------------------------------------------------------

    async def options(self, request: web.Request) -> web.Response:
        """CORS pre-flight (and capability discovery): ``204`` with the allowed methods and headers."""
        methods = "DELETE, PATCH, OPTIONS" if "session_id" in request.match_info else "POST, OPTIONS"
        headers = {**CORS_HEADERS, "Access-Control-Allow-Methods": methods, "Allow": methods}
        if "session_id" not in request.match_info:
            headers["Accept-Post"] = SDP_TYPE
        return web.Response(status=204, headers=headers)

    async def patch(self, _: web.Request) -> web.Response:
        """Trickle ICE and ICE restarts are not supported: ``405 Method Not Allowed`` (RFC 9725 section 4.3.1)."""
        raise web.HTTPMethodNotAllowed("PATCH", ["DELETE", "OPTIONS"], headers=CORS_HEADERS)

    async def delete(self, request: web.Request) -> web.Response:
        """End a session: ``200``; ``404`` for an unknown session."""
        session = self.sessions.get(request.match_info["session_id"])
        if session is None or session.stream_id != request.match_info["stream_id"]:
            raise json_error(web.HTTPNotFound, "no such WHIP session", headers=CORS_HEADERS)
        await self._teardown(session, "ended by the publisher (DELETE)")
        return web.Response(status=200, headers=CORS_HEADERS)

    async def post(self, request: web.Request) -> web.Response:
        """Accept an SDP offer and answer it (see the module docstring for the status codes)."""
        stream_id = request.match_info["stream_id"]
        if request.content_type != SDP_TYPE:
            raise json_error(web.HTTPUnsupportedMediaType, f"Content-Type must be {SDP_TYPE}", headers=CORS_HEADERS)
        text = await self._read_offer(request)
        try:
            check_offer(text)
        except OfferError as e:
            raise json_error(web.HTTPBadRequest, str(e), headers=CORS_HEADERS) from e
        dynamic = self._check_stream(stream_id)
        self._check_limits(stream_id)
        self._pending[stream_id] += 1
        try:
            session = await self._open_session(stream_id, text, dynamic)
        finally:
            self._pending[stream_id] -= 1
            if not self._pending[stream_id]:
                del self._pending[stream_id]
        headers = {**CORS_HEADERS, "Location": session.location, "ETag": session.etag, "Content-Type": SDP_TYPE}
        headers.update(self._ice_server_links())
        local = session.pc.localDescription
        return web.Response(status=201, text=local.sdp, headers=headers)

    # ---- internals -----------------------------------------------------------------------------------

    async def _open_session(self, stream_id: str, offer: str, dynamic: bool) -> WhipSession:
        created = False
        if dynamic and self._registry.snapshot(stream_id) is None:
            await self._registry.add_stream(StreamConfig(id=stream_id, type="webrtc"))
            self._dynamic_streams.add(stream_id)
            created = True
        try:
            return await self._negotiate(stream_id, offer)
        except OfferError as e:
            if created:
                self._dynamic_streams.discard(stream_id)
                await self._registry.remove_stream(stream_id)
            raise json_error(web.HTTPBadRequest, str(e), headers=CORS_HEADERS) from e

    async def _read_offer(self, request: web.Request) -> str:
        limit = self._config.max_sdp_bytes
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit, request.content_length)
        body = bytearray()
        try:
            async with asyncio.timeout(self._config.body_timeout_s):
                async for chunk in request.content.iter_chunked(16384):
                    body += chunk
                    if len(body) > limit:
                        raise _too_large(limit, len(body))
        except TimeoutError as e:
            self._on_slow_body()
            message = f"the SDP offer did not arrive within {self._config.body_timeout_s:g} s"
            raise json_error(web.HTTPRequestTimeout, message, headers=CORS_HEADERS) from e
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise json_error(web.HTTPBadRequest, f"SDP offer is not UTF-8: {e}", headers=CORS_HEADERS) from e

    def _check_stream(self, stream_id: str) -> bool:
        """Whether the session creates its stream (dynamic streams); raises 404/409 for unusable ids."""
        snapshot = self._registry.snapshot(stream_id)
        if snapshot is None:
            if self._config.dynamic_streams:
                try:
                    StreamConfig(id=stream_id, type="webrtc")
                except ValueError as e:
                    raise json_error(web.HTTPNotFound, f"invalid stream id {stream_id!r}", headers=CORS_HEADERS) from e
                return True
            raise json_error(web.HTTPNotFound, f"no WebRTC stream {stream_id!r}", headers=CORS_HEADERS)
        if self._registry.webrtc_source(stream_id) is None:
            raise json_error(
                web.HTTPConflict, f"stream {stream_id!r} is a {snapshot.kind} stream", headers=CORS_HEADERS
            )
        return False

    def _check_limits(self, stream_id: str) -> None:
        retry = {**CORS_HEADERS, "Retry-After": str(self._config.retry_after_s)}
        if self.session_count(stream_id) >= self._config.max_sessions_per_stream:
            raise json_error(
                web.HTTPConflict,
                f"stream {stream_id!r} already has a publisher (api.max_sessions_per_stream)",
                headers=retry,
            )
        total = len(self.sessions) + sum(self._pending.values())
        if total >= self._config.max_sessions:
            raise json_error(
                web.HTTPServiceUnavailable, f"{total} WHIP sessions running (api.max_sessions)", headers=retry
            )

    async def _negotiate(self, stream_id: str, offer: str) -> WhipSession:
        source = self._registry.webrtc_source(stream_id)
        if source is None:  # removed meanwhile
            raise json_error(web.HTTPNotFound, f"no WebRTC stream {stream_id!r}", headers=CORS_HEADERS)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers()))
        session = WhipSession(secrets.token_hex(16), stream_id, pc, source)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video" and not session.tasks:
                session.tasks.append(asyncio.create_task(self._consume(session, track), name=f"whip-{session.id}"))

        answered = False
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            for transceiver in pc.getTransceivers():
                transceiver.direction = "recvonly" if transceiver.kind == "video" else "inactive"
            await pc.setLocalDescription(await pc.createAnswer())
            answered = True
        except OFFER_ERRORS as e:
            raise OfferError(f"cannot answer the offer: {type(e).__name__}: {e}") from e
        finally:
            if not answered:
                await self._close_pc(session)
        source.new_segment()
        self.sessions[session.id] = session
        session.tasks.append(asyncio.create_task(self._watch(session), name=f"whip-watch-{session.id}"))
        logger.info("stream %s: WHIP session %s started", stream_id, session.id[:8], extra={"stream_id": stream_id})
        return session

    async def _consume(self, session: WhipSession, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.VideoFrame):
                session.last_frame_mono = time.monotonic()
                session.frames += 1
                if not session.source.push(frame):
                    return

    async def _watch(self, session: WhipSession) -> None:
        """Tear the session down when its peer fails, closes, never connects or stops sending video."""
        webrtc = self._webrtc
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            state = session.pc.connectionState
            now = time.monotonic()
            if state in ("failed", "closed"):
                reason = f"peer connection {state}"
            elif session.last_frame_mono is None and now - session.created_mono > webrtc.connect_timeout_s:
                reason = f"no video within {webrtc.connect_timeout_s:g} s (connection {state})"
            elif session.last_frame_mono is not None and now - session.last_frame_mono > webrtc.stall_s:
                reason = f"no video for {webrtc.stall_s:g} s"
            else:
                continue
            await self._teardown(session, reason)
            return

    async def _teardown(self, session: WhipSession, reason: str, *, remove_dynamic: bool = True) -> None:
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.id, None)
        current = asyncio.current_task()
        tasks = [task for task in session.tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._close_pc(session)
        stream_id = session.stream_id
        logger.info(
            "stream %s: WHIP session %s ended: %s", stream_id, session.id[:8], reason, extra={"stream_id": stream_id}
        )
        if self.session_count(stream_id) == 0:
            session.source.disconnect(reason)
            if stream_id in self._dynamic_streams and remove_dynamic:
                self._dynamic_streams.discard(stream_id)
                await self._registry.remove_stream(stream_id, reason=EndReason.STREAM_REMOVED)

    @staticmethod
    async def _close_pc(session: WhipSession) -> None:
        with contextlib.suppress(Exception):  # closing a half-negotiated connection may fail; nothing to keep
            await session.pc.close()

    def _ice_servers(self) -> list[RTCIceServer]:
        return [
            RTCIceServer(
                urls=server.urls,
                username=server.username,
                credential=server.credential.get_secret_value() if server.credential else None,
            )
            for server in self._webrtc.ice_servers
        ]

    def _ice_server_links(self) -> dict[str, str]:
        """RFC 9725 section 4.6: ``Link`` headers naming the STUN servers (TURN credentials are not sent)."""
        links = [
            f'<{url}>; rel="ice-server"' for s in self._webrtc.ice_servers for url in s.urls if url.startswith("stun:")
        ]
        return {"Link": ", ".join(links)} if links else {}


def _too_large(limit: int, size: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=limit,
        actual_size=size,
        text=json.dumps({"error": f"SDP offer larger than {limit} bytes (api.max_sdp_bytes)"}),
        content_type="application/json",
        headers=CORS_HEADERS,
    )
