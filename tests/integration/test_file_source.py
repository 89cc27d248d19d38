"""FileSource against real files: sampling by media time, loop and realtime pacing, broken files."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streamguard.ingest import FileSource, SourceEnded, SourceEvent, source_from_url
from streamguard.types import Frame
from tests.support.media import FaceClip, write_face_clip, write_garbage, write_truncated, write_unsupported_codec


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def drain(source: FileSource, limit: int = 10_000) -> tuple[list[Frame], SourceEnded]:
    frames: list[Frame] = []
    for _ in range(limit):
        try:
            frames.append(await asyncio.wait_for(source.recv(), 20))
        except SourceEnded as ended:
            return frames, ended
    raise AssertionError("source did not end")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> FaceClip:
    return write_face_clip(tmp_path_factory.mktemp("file-source") / "face.mp4", seconds=4.0, fps=25)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> FaceClip:
    return write_face_clip(tmp_path_factory.mktemp("file-source") / "short.mkv", seconds=1.0, fps=25, size=(320, 240))


async def test_samples_at_the_analysis_rate_by_media_time_and_ends_at_eof(clip: FaceClip) -> None:
    events: list[SourceEvent] = []
    source = FileSource("replay", str(clip.path), analysis_fps=5.0, on_event=events.append)
    await source.start()
    frames, ended = await drain(source)
    await source.close()

    assert "replay" in str(ended) and "end of file" in str(ended)
    # Offline replay blocks instead of dropping: one sample every 0.2 s of media time, all of them.
    times = [f.media_time for f in frames]
    assert times == pytest.approx([i * 0.2 for i in range(20)], abs=1e-6)
    assert [f.index for f in frames] == [i * 5 for i in range(20)]
    first = frames[0]
    assert first.stream_id == "replay" and first.size == clip.size
    assert first.image.dtype == np.uint8 and first.image.shape == (clip.size[1], clip.size[0], 3)
    assert first.wall_ts <= frames[-1].wall_ts and first.mono_ts <= frames[-1].mono_ts
    # Every frame decoded, only the sampled ones converted and handed on.
    stats = source.stats
    assert stats.decoded == clip.n_frames == 100
    assert stats.sampled == len(frames) == 20 < stats.decoded
    assert stats.dropped == {} and stats.errors == 0 and stats.opens == 1
    assert not stats.up and stats.last_frame_wall is not None
    await asyncio.sleep(0.1)  # events are delivered through the loop
    assert sum(e.count for e in events if e.kind == "decoded") == 100
    assert sum(e.count for e in events if e.kind == "sampled") == 20
    assert [e.kind for e in events if e.kind in ("up", "down")] == ["up", "down"]


async def test_sampled_frames_are_the_right_pictures(clip: FaceClip) -> None:
    source = FileSource("pixels", str(clip.path), analysis_fps=2.0)
    await source.start()
    frames, _ = await drain(source)
    for frame in frames:
        x0, y0, x1, y1 = (round(v) for v in clip.face_box(frame.index))
        face = frame.image[y0:y1, x0:x1].astype(np.float32)
        background = frame.image[: clip.size[1] // 4, : clip.size[0] // 8].astype(np.float32)
        # The face is textured; the top-left corner is smooth background.
        assert face.std() > 2 * background.std()


async def test_loop_and_realtime_pace_at_the_native_rate(short_clip: FaceClip) -> None:
    source = source_from_url("live", f"{short_clip.path}?loop=1&realtime=1", analysis_fps=10.0)
    assert isinstance(source, FileSource) and source.loop and source.realtime
    await source.start()
    frames: list[Frame] = [await asyncio.wait_for(source.recv(), 10)]
    started = time.monotonic()
    while time.monotonic() - started < 2.5:
        frames.append(await asyncio.wait_for(source.recv(), 10))
    elapsed = time.monotonic() - started
    await source.close()

    times = [f.media_time for f in frames]
    assert all(t is not None for t in times)
    media_span = times[-1] - times[0]  # type: ignore[operator]
    # Looped more than twice over a 1 s clip, with timestamps still increasing...
    assert media_span > 1.5
    assert all(b > a for a, b in itertools.pairwise(times))  # type: ignore[operator]
    # ...at about the speed of the clock (generous bounds for a loaded machine).
    assert 0.6 * elapsed < media_span < 1.5 * elapsed
    assert 0.5 * 10 * elapsed < len(frames) < 1.5 * 10 * elapsed + 2
    assert source.stats.opens >= 3


async def test_realtime_drops_oldest_when_analysis_falls_behind(short_clip: FaceClip) -> None:
    dropped: list[SourceEvent] = []
    source = FileSource(
        "slow",
        str(short_clip.path),
        analysis_fps=25.0,
        loop=True,
        realtime=True,
        queue_size=2,
        on_event=lambda e: dropped.append(e) if e.kind == "dropped" else None,
    )
    await source.start()
    received = []
    for _ in range(4):
        received.append(await asyncio.wait_for(source.recv(), 10))
        await asyncio.sleep(0.3)  # analysis much slower than 25 fps
    await source.close()
    assert source.stats.dropped.get("analysis_behind", 0) >= 10
    assert {e.reason for e in dropped} == {"analysis_behind"}
    # Freshness: after a long pause the next frame is recent, not the oldest pending one.
    assert received[-1].index - received[-2].index > 5


async def test_close_is_idempotent_prompt_and_wakes_recv(short_clip: FaceClip) -> None:
    source = FileSource("closing", str(short_clip.path), loop=True, realtime=True)
    await source.start()
    await asyncio.wait_for(source.recv(), 10)
    waiter = asyncio.create_task(source.recv())
    await asyncio.sleep(0)
    started = time.monotonic()
    await source.close()
    await source.close()
    with pytest.raises(SourceEnded, match="closed"):
        await asyncio.wait_for(waiter, 5)
    assert time.monotonic() - started < 2.0
    assert source._thread is not None and not source._thread.is_alive()


BROKEN_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "garbage": (write_garbage, "invalid data"),
    "truncated": (write_truncated, "invalid data"),
    "unsupported": (write_unsupported_codec, "unsupported codec"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_FILES))
async def test_broken_files_end_the_stream_with_a_clear_error(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, short_clip: FaceClip
) -> None:
    write, reason = BROKEN_FILES[kind]
    path = write(tmp_path / f"{kind}.mkv")
    events: list[SourceEvent] = []
    broken = FileSource(f"cam-{kind}", str(path), on_event=events.append)
    healthy = FileSource("healthy", str(short_clip.path), analysis_fps=5.0)
    caplog.set_level(logging.INFO, logger="streamguard.ingest")
    await broken.start()
    await healthy.start()

    with pytest.raises(SourceEnded) as ended:
        await asyncio.wait_for(broken.recv(), 10)
    healthy_frames, _ = await drain(healthy)
    await broken.close()

    message = broken.stats.last_error
    assert f"cam-{kind}" in message and str(path) in message and reason in message.lower()
    assert f"cam-{kind}" in str(ended.value) and reason in str(ended.value).lower()
    assert broken.stats.errors == 1 and not broken.stats.up and broken.stats.decoded == 0
    await wait_until(lambda: any(e.kind == "down" for e in events))
    assert [e.kind for e in events if e.kind in ("error", "down")] == ["error", "down"]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and f"cam-{kind}" in warnings[0].getMessage()
    assert warnings[0].stream_id == f"cam-{kind}"  # type: ignore[attr-defined]
    assert not any(r.exc_info for r in caplog.records)  # no traceback spew
    # The other stream was unaffected.
    assert len(healthy_frames) == 5 and healthy.stats.errors == 0


async def test_retry_keeps_a_broken_file_source_alive_with_backoff(tmp_path: Path) -> None:
    path = write_garbage(tmp_path / "garbage.mp4")
    source = FileSource("retrying", str(path), retry=True, backoff_initial_s=0.05, backoff_max_s=0.2)
    await source.start()
    await wait_until(lambda: source.stats.reconnects >= 3, within=10)
    assert source.stats.errors >= 3 and not source.stats.up
    await source.close()
    with pytest.raises(SourceEnded):
        await source.recv()


async def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    source = FileSource("nofile", str(tmp_path / "absent.mp4"))
    await source.start()
    with pytest.raises(SourceEnded, match="nofile"):
        await asyncio.wait_for(source.recv(), 10)
    assert "No such file" in source.stats.last_error
