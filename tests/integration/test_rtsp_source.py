"""RtspSource against a real RTSP server on 127.0.0.1: frames, crashes and restarts, stalls, credentials."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TypedDict

import pytest

from streamguard.ingest import BaseSource, FileSource, RtspSource, SourceEnded, SourceEvent, SourceInterrupted
from streamguard.types import Frame
from tests.support.media import FaceClip, write_face_clip
from tests.support.rtsp_server import RtspServer, free_port, rtsp_server

__all__ = ["rtsp_server"]


class Timings(TypedDict):
    """`RtspSource`'s timeout and backoff keywords."""

    open_timeout_s: float
    read_timeout_s: float
    stall_timeout_s: float
    backoff_initial_s: float
    backoff_max_s: float


FAST: Timings = {
    "open_timeout_s": 2.0,
    "read_timeout_s": 2.0,
    "stall_timeout_s": 2.0,
    "backoff_initial_s": 0.2,
    "backoff_max_s": 1.0,
}


async def wait_until(condition: Callable[[], bool], within: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within} s")
        await asyncio.sleep(0.02)


@dataclass
class Consumer:
    """Reads a source in the background, keeping each frame with its arrival time."""

    source: BaseSource
    frames: list[tuple[float, Frame]] = field(default_factory=list)
    outages: list[str] = field(default_factory=list)

    def count_since(self, t: float) -> int:
        return sum(1 for arrived, _ in self.frames if arrived >= t)

    async def run(self) -> None:
        with contextlib.suppress(SourceEnded):
            while True:
                try:
                    frame = await self.source.recv()
                except SourceInterrupted as e:
                    self.outages.append(str(e))
                    continue
                self.frames.append((time.monotonic(), frame))


@contextlib.asynccontextmanager
async def consuming(source: BaseSource) -> AsyncIterator[Consumer]:
    consumer = Consumer(source)
    await source.start()
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        await source.close()
        await asyncio.wait_for(task, 5)


@pytest.fixture
def served_clip(rtsp_server: RtspServer) -> FaceClip:
    return write_face_clip(rtsp_server.media_dir / "cam.mp4", seconds=3.0, fps=25, size=(320, 240))


async def test_frames_arrive_sampled_with_increasing_timestamps(rtsp_server: RtspServer, served_clip: FaceClip) -> None:
    events: list[SourceEvent] = []
    source = RtspSource("cam1", rtsp_server.url("cam.mp4"), analysis_fps=5.0, on_event=events.append, **FAST)
    started = time.monotonic()
    async with consuming(source) as consumer:
        await wait_until(lambda: len(consumer.frames) >= 1, what="first frame")
        first_frame_s = time.monotonic() - started
        await wait_until(lambda: len(consumer.frames) >= 12, what="12 frames")
    print(f"RTSP open to first sampled frame: {first_frame_s:.2f} s")
    assert first_frame_s < 3.0

    frames = [frame for _, frame in consumer.frames]
    assert all(f.stream_id == "cam1" and f.size == served_clip.size for f in frames)
    times = [f.media_time for f in frames[1:]]  # the first RTSP frame has no pts yet
    assert all(t is not None for t in times)
    gaps = [b - a for a, b in itertools.pairwise(times)]  # type: ignore[operator]
    assert all(0.19 < gap < 1.0 for gap in gaps)  # 5 fps by media time (a drop widens a gap)
    stats = source.stats
    assert stats.decoded > stats.sampled >= 12 and stats.opens == 1 and stats.errors == 0
    assert [e.kind for e in events if e.kind in ("up", "down")] == ["up", "down"]  # down: closed


async def test_more_cameras_than_the_servers_default_threads_all_stream_at_once(rtsp_server: RtspServer) -> None:
    """Each playing session holds one of asyncio's default executor threads (``cpu_count + 4``) in the server."""
    write_face_clip(rtsp_server.media_dir / "long.mp4", seconds=12.0, fps=25, size=(320, 240))
    cameras = (os.cpu_count() or 1) + 6
    sources = [RtspSource(f"cam{i}", rtsp_server.url("long.mp4"), analysis_fps=5.0, **FAST) for i in range(cameras)]
    async with contextlib.AsyncExitStack() as stack:
        consumers = [await stack.enter_async_context(consuming(source)) for source in sources]
        await wait_until(lambda: all(len(c.frames) >= 10 for c in consumers), within=8.0, what="10 frames each")
    assert all(source.stats.stalls == 0 and source.stats.opens == 1 for source in sources)


async def test_recovers_from_three_server_crashes_while_a_file_stream_keeps_flowing(
    rtsp_server: RtspServer, served_clip: FaceClip, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="streamguard.ingest")
    events: list[SourceEvent] = []
    camera = RtspSource("cam", rtsp_server.url("cam.mp4"), on_event=events.append, **FAST)
    replay = FileSource("replay", str(served_clip.path), loop=True, realtime=True, analysis_fps=5.0)
    async with consuming(camera) as cam, consuming(replay) as other:
        await wait_until(lambda: camera.stats.up and len(cam.frames) >= 2, what="camera up")
        recoveries = []
        for _ in range(3):
            rtsp_server.kill()
            killed = time.monotonic()
            await wait_until(lambda: not camera.stats.up, what="camera down")
            await asyncio.sleep(0.6)  # stays dead for a while: reconnects get refused
            rtsp_server.start()
            restarted = time.monotonic()
            await wait_until(
                lambda since=restarted: cam.count_since(since) >= 3,  # type: ignore[misc]
                within=10,
                what="camera recovered",
            )
            recoveries.append(time.monotonic() - restarted)
            # The file stream never stopped while the camera was away.
            assert other.count_since(killed) >= 3
        latest_pts = [f.media_time for _, f in cam.frames if f.media_time is not None]
    print("RTSP recovery after restart (to 3rd frame):", ", ".join(f"{r:.2f} s" for r in recoveries))

    stats = camera.stats
    assert stats.opens == 4
    assert stats.reconnects >= 3 and stats.errors >= 3
    assert [e.kind for e in events if e.kind in ("up", "down")] == ["up", "down"] * 4
    assert len(cam.outages) == 3 and all("cam went down" in outage for outage in cam.outages)  # one per crash
    # Timestamps stay increasing across sessions.
    assert latest_pts == sorted(latest_pts)
    # Log once per state change: each outage warns at most a few times, repeats go to DEBUG.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.stream_id == "cam"]  # type: ignore[attr-defined]
    assert 3 <= len(warnings) <= 6
    assert not any(r.exc_info for r in caplog.records)
    assert replay.stats.errors == 0


async def test_dead_port_with_credentials_backs_off_and_never_leaks_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "Sup3r-S3cret-Pw"  # noqa: S105 -- the secret the test hunts for
    port = free_port()
    url = f"rtsp://operator:{password}@127.0.0.1:{port}/cam?play_count=0"
    events: list[tuple[float, SourceEvent]] = []
    source = RtspSource("door", url, on_event=lambda e: events.append((time.monotonic(), e)), **FAST)
    async with consuming(source):
        await wait_until(lambda: source.stats.reconnects >= 4, within=10, what="4 reconnects")
    kinds = [e.kind for _, e in events]
    assert "down" in kinds and "up" not in kinds
    assert not source.stats.up and source.stats.errors >= 4
    assert "door" in source.stats.last_error and "Connection refused" in source.stats.last_error
    assert "rtsp://***@127.0.0.1" in source.stats.last_error

    # Backoff: attempts spread out and capped at backoff_max_s (1 s, plus jitter and open time).
    attempts = [t for t, e in events if e.kind == "reconnect"]
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] < gaps[-1] and all(gap < 1.6 for gap in gaps)

    leaks = [
        *(r.getMessage() for r in caplog.records),
        *(str(r.args) for r in caplog.records),
        source.stats.last_error,
        source.display_url,
        repr(source),
        *(e.reason for _, e in events),
    ]
    assert not [text for text in leaks if password in text or "operator" in text]
    # Refused again and again: one warning, then debug.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1


async def test_a_hung_server_is_detected_as_a_stall_and_recovered(
    rtsp_server: RtspServer, served_clip: FaceClip
) -> None:
    options: Timings = {**FAST, "read_timeout_s": 1.0, "stall_timeout_s": 1.0, "open_timeout_s": 1.0}
    source = RtspSource("hung", rtsp_server.url("cam.mp4"), **options)
    async with consuming(source) as consumer:
        await wait_until(lambda: source.stats.up, what="up")
        rtsp_server.pause()
        try:
            await wait_until(lambda: source.stats.stalls >= 1, within=8, what="stall detected")
            assert not source.stats.up and "stalled" in source.stats.last_error
        finally:
            rtsp_server.resume()
        resumed = time.monotonic()
        await wait_until(lambda: consumer.count_since(resumed) >= 2, within=15, what="recovered")
    assert source.stats.opens >= 2
