"""Unit tests of the ingest building blocks: redaction, backoff, sampling, the drop-oldest queue, the factory."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import threading
import time
from fractions import Fraction
from urllib.parse import quote

import av
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streamguard.errors import ConfigError
from streamguard.ingest import (
    DROP_ANALYSIS_BEHIND,
    SOURCE_KINDS,
    Backoff,
    FileSource,
    FrameSampler,
    LatestQueue,
    PushSource,
    QueueClosed,
    RtspSource,
    SourceEnded,
    SourceEvent,
    redact_text,
    redact_url,
    source_from_url,
)
from streamguard.ingest.decode import StallError
from streamguard.ingest.feed import DROP_FRAME_TOO_LARGE, PtsContinuity
from streamguard.ingest.rtsp import StallWatchdog
from streamguard.ingest.sampling import SAMPLE_EPS_S, RateMeter
from streamguard.redaction import REDACTED, url_credentials
from tests.support.clock import ManualClock

# ---------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:secret@10.0.0.5:554/stream1", "rtsp://***@10.0.0.5:554/stream1"),
        ("rtsp://admin@cam.local/live", "rtsp://***@cam.local/live"),
        ("rtsp://u:p@ss/w@rd@cam/x?a=1", "rtsp://***@cam/x?a=1"),  # unescaped @ and / in the password
        ("rtsp://cam.local:554/live?play_count=0", "rtsp://cam.local:554/live?play_count=0"),
        ("/videos/clip.mp4?loop=1&realtime=1", "/videos/clip.mp4?loop=1&realtime=1"),
        ("https://cdn.example/live.m3u8?token=abc123&x=1", "https://cdn.example/live.m3u8?token=***&x=1"),
        ("rtsp://cam/user=admin&password=12345&channel=1", "rtsp://cam/user=admin&password=***&channel=1"),
        ("rtsp://cam/p?bypass=2", "rtsp://cam/p?bypass=2"),
    ],
)
def test_redact_url_examples(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_redacts_urls_inside_library_messages() -> None:
    message = "[Errno 111] Connection refused: 'rtsp://viewer:hunter2@127.0.0.1:1/cam' (then retry)"
    redacted = redact_text(message)
    assert "hunter2" not in redacted and "viewer" not in redacted
    assert "rtsp://***@127.0.0.1:1/cam" in redacted
    assert redacted.endswith("(then retry)")


def test_redact_text_scrubs_known_credentials_even_when_the_url_is_mangled() -> None:
    url = "rtsp://user:pa'ss word@127.0.0.1:1/x"
    message = f"failed: '{url}'"  # the quote inside the password cuts the URL short for a pattern
    redacted = redact_text(message, [url])
    assert "pa'ss word" not in redacted
    assert "ss word" not in redacted


_password = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=6, max_size=24)


@given(password=_password, user=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=12))
@settings(max_examples=200, deadline=None)
def test_a_generated_password_never_survives_redaction(password: str, user: str) -> None:
    host_part = "127.0.0.1:8554/cam/main?play_count=0"
    encoded = quote(password, safe="")
    url = f"rtsp://{user}:{encoded}@{host_part}"
    other = f"rtsp://{user}:{'Z' * 9}@{host_part}"
    assume(encoded not in f"rtsp://{REDACTED}@{host_part}")
    # Whatever the password, the redacted URL is the same: nothing of it can leak.
    assert redact_url(url) == redact_url(other) == f"rtsp://***@{host_part}"
    message = f"Connection refused: '{url}' while opening {url}"
    redacted = redact_text(message, [url])
    assert encoded not in redacted
    assert password not in redacted


@given(password=_password)
@settings(max_examples=100, deadline=None)
def test_raw_unencoded_passwords_are_scrubbed_from_text_given_the_url(password: str) -> None:
    assume(":" not in password and not set(password) & set("?#"))
    url = f"rtsp://admin:{password}@cam/stream"
    assume(password not in f"rtsp://{REDACTED}@cam/stream")
    assert password not in redact_url(url)
    assert password not in redact_text(f"error for {url!r}: refused", [url])


def test_url_credentials() -> None:
    assert url_credentials("rtsp://a:b@h/x") == ("a", "b")
    assert url_credentials("rtsp://h/x") == ("", "")


# ---------------------------------------------------------------- backoff


def test_backoff_grows_exponentially_then_caps() -> None:
    backoff = Backoff(0.5, 8.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_survives_thousands_of_attempts() -> None:
    backoff = Backoff(0.1, 30.0, jitter=0.2, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(5000)]
    assert max(delays) <= 30.0
    assert min(delays[-100:]) >= 30.0 * 0.8


@given(
    initial=st.floats(0.01, 5.0),
    ratio=st.floats(1.0, 100.0),
    jitter=st.floats(0.0, 0.99),
    seed=st.integers(0, 2**32 - 1),
)
def test_backoff_delays_stay_within_jitter_bounds(initial: float, ratio: float, jitter: float, seed: int) -> None:
    backoff = Backoff(initial, initial * ratio, jitter=jitter, rng=random.Random(seed))
    for attempt in range(40):
        base = backoff.base_delay(attempt)
        delay = backoff.next_delay()
        assert base * (1 - jitter) - 1e-9 <= delay <= min(backoff.max_s, base * (1 + jitter)) + 1e-9
        assert initial - 1e-12 <= base <= backoff.max_s


def test_backoff_jitter_spreads_delays() -> None:
    delays = {Backoff(1.0, 10.0, jitter=0.3, rng=random.Random(seed)).next_delay() for seed in range(20)}
    assert len(delays) == 20
    assert min(delays) >= 0.7 and max(delays) <= 1.3


@pytest.mark.parametrize(("initial", "max_s", "jitter"), [(0, 1, 0.1), (2, 1, 0.1), (1, 2, 1.0), (1, 2, -0.1)])
def test_backoff_rejects_bad_arguments(initial: float, max_s: float, jitter: float) -> None:
    with pytest.raises(ValueError, match=r"initial_s|jitter"):
        Backoff(initial, max_s, jitter)


# ---------------------------------------------------------------- sampling


@given(
    fps_in=st.floats(1.0, 120.0),
    analysis_fps=st.floats(0.5, 30.0),
    duration=st.floats(0.0, 30.0),
    start=st.floats(0.0, 1000.0),
    jitter=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=50),
)
@settings(max_examples=200, deadline=None)
def test_sampler_never_exceeds_the_analysis_rate(
    fps_in: float, analysis_fps: float, duration: float, start: float, jitter: list[float]
) -> None:
    step = 1.0 / fps_in
    times, t, i = [], start, 0
    while t <= start + duration:
        times.append(t)
        t += step * (1 + jitter[i % len(jitter)])  # irregular but increasing
        i += 1
    sampler = FrameSampler(analysis_fps)
    sampled = [t for t in times if sampler.should_sample(t)]
    assert len(sampled) <= math.ceil(duration * analysis_fps) + 1
    gaps = [b - a for a, b in itertools.pairwise(sampled)]
    assert all(gap >= 1.0 / analysis_fps - SAMPLE_EPS_S - 1e-9 for gap in gaps)
    if times:
        assert sampled[0] == times[0]


@pytest.mark.parametrize(("fps_in", "analysis_fps", "expected"), [(25, 5, 5), (30, 5, 5), (30, 10, 10), (25, 25, 25)])
def test_sampler_hits_the_rate_when_the_input_rate_is_a_multiple(fps_in: int, analysis_fps: int, expected: int) -> None:
    sampler = FrameSampler(analysis_fps)
    sampled = sum(sampler.should_sample(i / fps_in) for i in range(fps_in * 10))
    assert sampled == expected * 10


def test_sampler_restarts_after_a_backward_jump() -> None:
    sampler = FrameSampler(5)
    assert sampler.should_sample(100.0)
    assert not sampler.should_sample(100.04)
    assert sampler.should_sample(0.0)  # e.g. a new session restarting its clock
    assert not sampler.should_sample(0.04)


def test_sampler_rejects_non_positive_rates() -> None:
    with pytest.raises(ValueError, match="analysis_fps"):
        FrameSampler(0)


def test_rate_meter_measures_per_second_rates() -> None:
    meter = RateMeter(window_s=1.0, alpha=1.0)
    for i in range(26):
        meter.tick(i * 0.04)
    assert meter.rate == pytest.approx(25.0, rel=0.05)
    meter.reset()
    assert meter.rate == 0.0


def test_pts_continuity_keeps_timestamps_increasing_across_segments() -> None:
    timeline = PtsContinuity()
    tb = Fraction(1, 25)
    first = [timeline.map(pts, tb) for pts in range(50)]
    timeline.new_segment()
    second = [timeline.map(pts, tb) for pts in range(10)]
    times: list[float] = []
    for _, t in first + second:
        assert t is not None
        times.append(t)
    assert times == sorted(times) and len(set(times)) == len(times)
    assert second[0] == (50, 2.0)
    assert timeline.map(None, tb) == (None, None)


# ---------------------------------------------------------------- queue


async def test_latest_queue_drops_oldest_and_counts_drops() -> None:
    dropped: list[tuple[int, str]] = []
    queue: LatestQueue[int] = LatestQueue(
        2, drop_oldest=True, on_drop=lambda item, reason: dropped.append((item, reason))
    )
    for i in range(10):
        assert queue.put(i)
    assert queue.dropped == 8
    assert dropped == [(i, DROP_ANALYSIS_BEHIND) for i in range(8)]
    assert [await queue.get(), await queue.get()] == [8, 9]


async def test_latest_queue_wakes_a_waiting_consumer_from_a_thread() -> None:
    queue: LatestQueue[str] = LatestQueue(2)
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0.05)
    assert not getter.done()
    threading.Thread(target=queue.put, args=("frame",)).start()
    assert await asyncio.wait_for(getter, 5) == "frame"


async def test_latest_queue_blocking_mode_loses_nothing() -> None:
    queue: LatestQueue[int] = LatestQueue(2, drop_oldest=False)
    n = 500

    def produce() -> None:
        for i in range(n):
            assert queue.put(i)
        queue.close()

    producer = threading.Thread(target=produce)
    producer.start()
    received = []
    while True:
        try:
            received.append(await queue.get())
        except QueueClosed:
            break
        if len(received) % 50 == 0:
            await asyncio.sleep(0.001)  # a slow consumer
    producer.join(5)
    assert received == list(range(n))
    assert queue.dropped == 0


async def test_latest_queue_close_unblocks_producer_and_consumer() -> None:
    queue: LatestQueue[int] = LatestQueue(1, drop_oldest=False)
    queue.put(0)
    results: list[bool] = []
    producer = threading.Thread(target=lambda: results.append(queue.put(1)))
    producer.start()
    await asyncio.sleep(0.05)
    assert producer.is_alive()  # blocked: the queue is full
    queue.close(discard=True)
    producer.join(5)
    assert results == [False]
    with pytest.raises(QueueClosed):
        await queue.get()


async def test_latest_queue_close_delivers_what_is_left() -> None:
    queue: LatestQueue[int] = LatestQueue(3)
    queue.put(1)
    queue.put(2)
    queue.close()
    assert [await queue.get(), await queue.get()] == [1, 2]
    with pytest.raises(QueueClosed):
        await queue.get()
    assert not queue.put(3)


async def test_latest_queue_get_can_be_cancelled() -> None:
    queue: LatestQueue[int] = LatestQueue(1)
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    queue.put(5)
    assert await asyncio.wait_for(queue.get(), 1) == 5


# ---------------------------------------------------------------- factory


def test_source_from_url_picks_the_kind_by_scheme() -> None:
    assert isinstance(source_from_url("a", "rtsp://h/x"), RtspSource)
    assert isinstance(source_from_url("b", "https://h/live.m3u8"), FileSource)
    assert isinstance(source_from_url("c", "/tmp/clip.mp4"), FileSource)
    assert set(SOURCE_KINDS) >= {"file", "rtsp"}


def test_source_from_url_parses_loop_and_realtime_on_local_paths() -> None:
    source = source_from_url("c", "/tmp/clip.mp4?loop=1&realtime=true", analysis_fps=2.0, transport="udp")
    assert isinstance(source, FileSource)
    assert source.loop and source.realtime
    assert source.analysis_fps == 2.0
    assert source.display_url == "/tmp/clip.mp4"
    plain = source_from_url("d", "file:///tmp/my%20clip.mp4?loop=0")
    assert isinstance(plain, FileSource) and not plain.loop and plain.display_url == "/tmp/my clip.mp4"


def test_source_from_url_passes_rtsp_options_and_redacts() -> None:
    source = source_from_url("cam", "rtsp://u:topsecret@h/x", transport="udp", stall_timeout_s=2.0, loop=True)
    assert isinstance(source, RtspSource)
    assert source.transport == "udp" and source.stall_timeout_s == 2.0
    assert "topsecret" not in source.display_url and "topsecret" not in repr(source)


@pytest.mark.parametrize("url", ["ftp://u:pw1234@h/x.mp4", "/tmp/a.mp4?lop=1", "/tmp/a.mp4?loop=maybe"])
def test_source_from_url_rejects_bad_urls_without_leaking(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        source_from_url("x", url)
    assert "pw1234" not in str(info.value)


def test_rtsp_source_validates_transport() -> None:
    with pytest.raises(ValueError, match="transport"):
        RtspSource("cam", "rtsp://h/x", transport="carrier-pigeon")


async def test_closing_an_unstarted_source_ends_recv() -> None:
    source = RtspSource("cam", "rtsp://127.0.0.1:1/x")
    await source.close()
    await source.close()
    started = time.monotonic()
    with pytest.raises(SourceEnded, match="cam"):
        await source.recv()
    assert time.monotonic() - started < 1.0


# ---------------------------------------------------------------- push source


def _video_frame(pts: int, value: int = 0) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), value, dtype=np.uint8), format="rgb24")
    frame.pts = pts
    frame.time_base = Fraction(1, 30)
    return frame


async def test_push_source_samples_converts_and_ends() -> None:
    events: list[SourceEvent] = []
    source = PushSource("whip-1", "whip://peer", analysis_fps=5.0, queue_size=100, on_event=events.append)
    await source.start()
    for i in range(60):  # 2 s at 30 fps
        assert source.push(_video_frame(i, value=i))
    source.end()
    assert not source.push(_video_frame(60))
    frames = []
    with pytest.raises(SourceEnded, match="whip-1"):
        while True:
            frames.append(await source.recv())
    assert [f.index for f in frames] == list(range(0, 60, 6))
    assert [f.media_time for f in frames] == pytest.approx([i * 0.2 for i in range(10)])
    assert all(int(f.image[0, 0, 0]) == f.index for f in frames)  # the right frame was converted
    assert source.stats.decoded == 60 and source.stats.sampled == 10
    await asyncio.sleep(0.05)
    assert [e.kind for e in events if e.kind in ("up", "down")] == ["up", "down"]
    await source.close()
    await source.close()


async def test_push_source_drops_oldest_and_close_wakes_recv() -> None:
    source = PushSource("whip-2", analysis_fps=30.0, queue_size=2)
    await source.start()
    for i in range(10):
        source.push(_video_frame(i))
    assert source.stats.dropped == {DROP_ANALYSIS_BEHIND: 8}
    assert (await source.recv()).index == 8
    waiter = asyncio.create_task(source.recv())
    assert (await waiter).index == 9
    waiter = asyncio.create_task(source.recv())
    await asyncio.sleep(0.01)
    await source.close()
    with pytest.raises(SourceEnded):
        await asyncio.wait_for(waiter, 1)


async def test_frames_above_max_pixels_are_dropped_and_counted_before_conversion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    converted: list[tuple[int, int]] = []
    original = av.VideoFrame.to_ndarray

    def spy(frame: av.VideoFrame, *args: object, **kwargs: object) -> np.ndarray:
        converted.append((frame.width, frame.height))
        return original(frame, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(av.VideoFrame, "to_ndarray", spy)
    source = PushSource("big", analysis_fps=30.0, queue_size=10, max_pixels=64 * 48)
    await source.start()
    huge = av.VideoFrame.from_ndarray(np.zeros((96, 128, 3), dtype=np.uint8), format="rgb24")
    huge.pts, huge.time_base = 1, Fraction(1, 30)
    assert source.push(_video_frame(0)) and source.push(huge) and source.push(_video_frame(2))
    assert source.stats.dropped == {DROP_FRAME_TOO_LARGE: 1}
    assert converted == [(64, 48), (64, 48)]  # the large one was never converted
    assert [(await source.recv()).index, (await source.recv()).index] == [0, 2]
    await source.close()


def test_stall_watchdog_fires_only_after_the_timeout_without_frames() -> None:
    clock = ManualClock()
    watchdog = StallWatchdog(timeout_s=5.0, clock=clock)
    clock.now += 5.0
    watchdog.check()  # exactly the timeout: not yet a stall
    watchdog.frame()
    clock.now += 4.9
    watchdog.check()  # a frame reset the timer
    clock.now += 0.2
    with pytest.raises(StallError, match=r"no frame for 5\.1 s \(stall timeout 5 s\)"):
        watchdog.check()
    assert watchdog.frames == 1


async def test_a_full_drop_oldest_queue_never_drops_a_kept_marker() -> None:
    queue: LatestQueue[str] = LatestQueue(2, drop_oldest=True, keep=lambda item: item.startswith("outage"))
    for item in ["f1", "outage", "f2", "f3", "f4"]:
        queue.put(item)
    assert [await queue.get(), await queue.get()] == ["outage", "f4"] and queue.dropped == 3
