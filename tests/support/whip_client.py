"""A WHIP publisher built on aiortc (the test's own, independent of the daemon's code), and loopback-only ICE."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every ICE host candidate (daemon and publishers) on 127.0.0.1: no packet leaves loopback."""
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    yield


class WhipPublisher:
    """Publishes a clip (looped, real-time), or a given video track, and a silent audio track to a WHIP endpoint."""

    def __init__(
        self,
        endpoint: str,
        clip: Path | None,
        token: str | None = None,
        audio: bool = True,
        codec: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        track: MediaStreamTrack | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.ssl_context = ssl_context
        self.codec = codec
        self.clip = clip
        self.track = track
        self.token = token
        self.audio = audio
        self.pc: RTCPeerConnection | None = None
        self.player: MediaPlayer | None = None
        self.location: str | None = None
        self.etag: str | None = None
        self.answer: str | None = None
        self.posted_at: float | None = None

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def publish(self) -> int:
        """Offer, POST, apply the answer; returns the HTTP status (201 when publishing)."""
        track = self.track
        if track is None:
            assert self.clip is not None, "a clip or a track to publish"
            self.player = MediaPlayer(str(self.clip), loop=True)
            track = self.player.video
            assert track is not None
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        video = self.pc.addTransceiver(track, direction="sendonly")
        if self.codec is not None:  # e.g. "video/H264": offer only that codec
            codecs = RTCRtpSender.getCapabilities("video").codecs
            video.setCodecPreferences([c for c in codecs if c.mimeType in (self.codec, "video/rtx")])
        if self.audio:
            self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.posted_at = time.monotonic()
        async with aiohttp.ClientSession(connector=self._connector()) as http:
            async with http.post(
                self.endpoint,
                data=self.pc.localDescription.sdp,
                headers=self._headers({"Content-Type": "application/sdp"}),
            ) as response:
                body = await response.text()
                if response.status != 201:
                    await self.close()
                    return response.status
                self.location = response.headers["Location"]
                self.etag = response.headers.get("ETag")
                self.answer = body
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        return 201

    async def delete(self, base_url: str) -> int:
        """End the session with DELETE; returns the status."""
        assert self.location is not None
        async with aiohttp.ClientSession(connector=self._connector()) as http:
            async with http.delete(base_url + self.location, headers=self._headers()) as response:
                status = response.status
        await self.close()
        return status

    def _connector(self) -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(ssl=self.ssl_context if self.ssl_context is not None else True)

    async def close(self) -> None:
        """Stop sending and close the peer connection, without telling the server."""
        if self.player is not None and self.player.video is not None:
            self.player.video.stop()
        if self.track is not None:
            self.track.stop()
        if self.pc is not None:
            await self.pc.close()
