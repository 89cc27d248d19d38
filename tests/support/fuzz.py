"""Hostile media: seeded mutations of real bitstreams and containers, and what the file source makes of them.

Seed clips are encoded here (H.264 in MP4, VP8 in WebM, MJPEG in AVI: the codecs cameras and WebRTC
publishers send); `mutate` damages a copy the way broken or malicious media is damaged: flipped bits, bytes
overwritten with noise, 0x00/0xFF runs (absurd sizes in box and chunk headers), cut, duplicated or swapped
chunks, a truncated tail. `run_mutant` feeds one through `FileSource` and reports how it ended;
`HostilePacketTrack` sends damaged H.264/VP8 payloads to a WHIP endpoint over real RTP.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from streamguard.datasets.toy import astronaut_rgb
from streamguard.ingest import FileSource, SourceEnded, SourceInterrupted

SEED_FORMATS: dict[str, tuple[str, str, str]] = {
    "h264.mp4": ("libx264", "mp4", "yuv420p"),
    "vp8.webm": ("libvpx", "webm", "yuv420p"),
    "mjpeg.avi": ("mjpeg", "avi", "yuvj420p"),
}
"""Seed clip name -> (encoder, container, pixel format)."""

MUTATIONS = ("bitflips", "noise", "runs", "cut", "duplicate", "swap", "truncate")


def write_seed_clip(path: Path, frames: int = 24, size: tuple[int, int] = (160, 120)) -> Path:
    """A short clip of the astronaut panning, in the codec and container `path`'s name selects."""
    encoder, container_format, pix_fmt = SEED_FORMATS[path.name.split("-")[-1]]
    face = astronaut_rgb()
    width, height = size
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(encoder, rate=12)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for i in range(frames):
            frame = np.ascontiguousarray(face[2 * i : 2 * i + height, 3 * i : 3 * i + width])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def write_ts_segment(path: Path, encoder: str, size: tuple[int, int], frames: int = 24) -> Path:
    """An MPEG-TS segment of the astronaut (segments concatenate byte for byte, as HLS and cameras send them)."""
    face = astronaut_rgb()
    width, height = size
    with av.open(str(path), mode="w", format="mpegts") as container:
        stream = container.add_stream(encoder, rate=12)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = np.ascontiguousarray(face[i : i + height, i : i + width])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def mutate(data: bytes, rng: np.random.Generator, kind: str) -> bytes:
    """A damaged copy of `data` (the first 32 bytes are fair game: container headers are the point)."""
    out = bytearray(data)
    n = len(out)
    if kind == "bitflips":
        for pos in rng.integers(0, n, max(1, n // 2000)):
            out[pos] ^= 1 << int(rng.integers(0, 8))
    elif kind == "noise":
        start = int(rng.integers(0, n))
        out[start : start + int(rng.integers(1, 256))] = rng.integers(0, 256, 256, dtype=np.uint8).tobytes()[
            : n - start
        ]
    elif kind == "runs":
        for pos in rng.integers(0, min(n, 4096), 4):  # headers: box sizes, chunk lengths, dimensions
            out[pos : pos + 4] = bytes([0xFF if rng.random() < 0.5 else 0x00]) * 4
    elif kind == "cut":
        start = int(rng.integers(0, n))
        del out[start : start + int(rng.integers(1, max(2, n // 8)))]
    elif kind == "duplicate":
        start = int(rng.integers(0, n))
        out[start:start] = out[start : start + int(rng.integers(1, max(2, n // 8)))]
    elif kind == "swap":
        a, b = sorted(int(x) for x in rng.integers(0, n, 2))
        size = min(int(rng.integers(1, 512)), b - a)
        out[a : a + size], out[b : b + size] = out[b : b + size], out[a : a + size]
    elif kind == "truncate":
        del out[int(rng.integers(n // 10, n)) :]
    else:
        raise ValueError(f"unknown mutation {kind!r}; known: {', '.join(MUTATIONS)}")
    return bytes(out)


@dataclass(frozen=True)
class MutantOutcome:
    """How the file source handled one damaged file."""

    path: Path
    kind: str
    frames: int
    error: str
    seconds: float


async def run_mutant(path: Path, kind: str, limit_s: float = 20.0) -> MutantOutcome:
    """Read `path` to its end through `FileSource`; only `SourceEnded` may come out of it (and before it, one
    `SourceInterrupted` when frames came before the stream failed).

    Raises:
        TimeoutError: The source neither delivered nor ended within `limit_s` (a hang).
    """
    started = time.monotonic()
    source = FileSource(path.stem, str(path), analysis_fps=100.0, realtime=False, loop=False, queue_size=4)
    await source.start()
    frames = 0
    outages = 0
    try:
        while True:
            try:
                frame = await asyncio.wait_for(source.recv(), limit_s)
            except SourceInterrupted:
                outages += 1
                assert outages == 1 and frames > 0, "one outage, after frames, at most (a file does not retry)"
                continue
            assert frame.image.ndim == 3 and frame.image.shape[2] == 3
            frames += 1
    except SourceEnded:
        pass
    finally:
        await source.close()
    return MutantOutcome(path, kind, frames, source.stats.last_error, time.monotonic() - started)


def encoded_packets(encoder: str, frames: int = 45, size: tuple[int, int] = (160, 120), fps: int = 15) -> list[bytes]:
    """The raw bitstream of the astronaut panning, one payload per frame (H.264 Annex B with its parameter
    sets in every keyframe, or VP8 frames): what a WebRTC publisher packetizes."""
    face = astronaut_rgb()
    width, height = size
    context = av.CodecContext.create(encoder, "w")
    assert isinstance(context, av.VideoCodecContext)
    context.width, context.height, context.pix_fmt = width, height, "yuv420p"
    context.time_base = Fraction(1, fps)
    context.framerate = Fraction(fps)
    context.gop_size = fps  # a keyframe a second: a receiver can recover from damage
    payloads: list[bytes] = []
    for i in range(frames):
        image = np.ascontiguousarray(face[2 * i : 2 * i + height, 3 * i : 3 * i + width])
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        payloads.extend(bytes(packet) for packet in context.encode(frame))
    payloads.extend(bytes(packet) for packet in context.encode(None))
    return payloads


class HostilePacketTrack(MediaStreamTrack):
    """A WebRTC video track of pre-encoded payloads, looped in real time, a share of them mutated (seeded).

    aiortc packetizes `av.Packet`s as they are (no re-encoding), so the damage reaches the receiver's
    depacketizer and decoder. The first `clean_first` payloads go out intact, so the stream is up first.
    """

    kind = "video"

    def __init__(
        self,
        payloads: list[bytes],
        rng: np.random.Generator,
        *,
        damaged_share: float = 0.5,
        clean_first: int = 15,
        fps: int = 15,
    ) -> None:
        super().__init__()
        self._payloads = payloads
        self._rng = rng
        self._damaged_share = damaged_share
        self._clean_first = clean_first
        self._fps = fps
        self._sent = 0
        self._started: float | None = None
        self.damaged = 0

    async def recv(self) -> av.Packet[Any]:  # aiortc packetizes a Packet as it is
        loop = asyncio.get_running_loop()
        if self._started is None:
            self._started = loop.time()
        await asyncio.sleep(max(0.0, self._started + self._sent / self._fps - loop.time()))
        data = self._payloads[self._sent % len(self._payloads)]
        if self._sent >= self._clean_first and self._rng.random() < self._damaged_share:
            data = mutate(data, self._rng, MUTATIONS[int(self._rng.integers(0, len(MUTATIONS)))]) or b"\x00"
            self.damaged += 1
        packet = av.Packet(data)
        packet.pts = self._sent * (90_000 // self._fps)
        packet.time_base = Fraction(1, 90_000)
        self._sent += 1
        return packet
