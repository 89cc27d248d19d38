"""Hostile media: seeded mutations of real bitstreams and containers, and what the file source makes of them.

Seed clips are encoded here (H.264 in MP4, VP8 in WebM, MJPEG in AVI: the codecs cameras and WebRTC
publishers send); `mutate` damages a copy the way broken or malicious media is damaged: flipped bits, bytes
overwritten with noise, 0x00/0xFF runs (absurd sizes in box and chunk headers), cut, duplicated or swapped
chunks, a truncated tail. `run_mutant` feeds one through `FileSource` and reports how it ended.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

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
