"""Faults played by a scripted camera through the real source, tracker, window and hysteresis, without sleeping.

Each test is a script (`tests.support.scripted_camera`): frames with a face of a given P(fake), stalls,
decode errors, timestamp jumps, size changes, a camera gone for minutes. Time is virtual, so a five-minute
outage costs milliseconds and the events are the same on every run. The real-server tests
(`tests/integration/test_rtsp_source.py`, `tests/integration/test_daemon_e2e.py`) remain the end-to-end layer.
"""

from __future__ import annotations

import itertools

import pytest

from streamguard.scoring.cadence import CadenceOptions
from streamguard.types import AlertPhase
from tests.support.scripted_camera import (
    DecodeErrors,
    Eof,
    Frames,
    PtsJump,
    ReadTimeout,
    ScriptedRun,
    Stall,
    Step,
    Unreachable,
    scripted_pipeline,
)

START = ("start", None)
UPDATE = ("update", None)
LOST = ("end", "track_lost")
BELOW = ("end", "below_threshold")


def without_updates(phases: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    return [phase for phase in phases if phase != UPDATE]


async def test_a_steady_fake_face_opens_one_alert_after_the_minimum_duration() -> None:
    async with scripted_pipeline([Frames(75, fake_p=0.9)]) as run:  # 3 s at 25 fps, sampled at 5 fps
        first_frame_ts = 1_800_000_000.0 + 1 / 25
        start = run.alerts[0]
        assert run.worker.status.analyzed == 15 and run.worker.status.failed == 0
    assert start.phase is AlertPhase.START and start.n_samples >= 3
    assert start.ts - first_frame_ts == pytest.approx(1.0, abs=1e-6)  # min_duration_s, to the frame
    # The camera closed the connection at the end: the face is lost with it, the alert ends there.
    assert without_updates(run.phases()) == [START, LOST]
    assert run.alerts[-1].ts == pytest.approx(first_frame_ts + 74 / 25 - 4 / 25, abs=1e-6)  # the last sample


async def test_hysteresis_holds_between_the_thresholds_and_ends_below_the_off_threshold() -> None:
    script = [
        Frames(50, fake_p=0.9),  # on: above on_threshold (0.7) for 2 s
        Frames(75, fake_p=0.6),  # between off (0.5) and on: stays open
        Frames(50, fake_p=0.3),  # below off: ends
        Frames(75, fake_p=0.65),  # above off but below on: does not start again
    ]
    async with scripted_pipeline(script) as run:
        phases = without_updates(run.phases())
    assert phases == [START, BELOW]
    end = run.alerts[-1]
    assert end.score < 0.5 and end.peak_score == pytest.approx(0.9, abs=0.01)


async def test_a_flickering_score_never_opens_an_alert() -> None:
    """One frame fake, one real, alternately: the window mean stays near 0.55, below on_threshold."""
    script = [Frames(5, fake_p=0.9 if i % 2 == 0 else 0.2) for i in range(30)]
    async with scripted_pipeline(script) as run:
        assert run.worker.status.analyzed == 30
    assert run.alerts == []


async def test_a_camera_gone_for_five_minutes_ends_its_alert_as_lost_backs_off_capped_and_resumes_cleanly() -> None:
    script: list[Step] = [Frames(75, fake_p=0.9), Unreachable(300.0), Frames(75, fake_p=0.9)]
    async with scripted_pipeline(script, backoff_max_s=30.0) as run:
        before = run.alerts[0]
        stats = run.source.stats.snapshot()
        waits = list(run.clock.waits)  # the source's reconnect delays
        errors = [e.reason for e in run.source_events if e.kind == "error"]
    assert without_updates(run.phases()) == [START, LOST, START, LOST]
    lost = next(e for e in run.alerts if e.phase is AlertPhase.END)
    assert lost.alert_id == before.alert_id and lost.ts < before.ts + 3.0  # ended at the outage, not 5 min later
    resumed = [e for e in run.alerts if e.phase is AlertPhase.START][1]
    assert resumed.alert_id != before.alert_id and resumed.track_id != before.track_id  # afresh, no stale state
    assert resumed.ts - lost.ts > 300.0
    # Backoff doubles from 0.5 s and is capped at 30 s for the rest of the outage; after the camera came back
    # and delivered frames, the next loss starts again from 0.5 s.
    outage, after_recovery = waits[:-1], waits[-1]
    assert outage[:7] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0] and set(outage[6:]) == {30.0}
    assert sum(outage) >= 300.0 and after_recovery == 0.5
    assert run.camera.refused == len(outage) - 1 and stats.opens == 2
    assert run.kinds("up", "down") == ["up", "down", "up", "down"]
    assert errors == [
        "connection closed by the server",
        *["cannot open: Connection refused (ConnectionRefusedError)"] * len(outage[:-1]),
        "connection closed by the server",
    ]
    assert stats.reconnects == len(waits)


async def test_a_stall_is_detected_by_the_watchdog_and_the_stream_recovers() -> None:
    script: list[Step] = [Frames(50, fake_p=0.9), Stall(60.0), Frames(50, fake_p=0.1)]
    async with scripted_pipeline(script, stall_timeout_s=5.0) as run:
        stats = run.source.stats.snapshot()
    assert stats.stalls == 1 and stats.opens == 2
    errors = [e.reason for e in run.source_events if e.kind == "error"]
    assert "stalled: no frame for 5.1 s (stall timeout 5 s)" in errors
    assert without_updates(run.phases()) == [START, LOST]  # the real face after the stall opens nothing
    assert run.worker.status.analyzed == 20


async def test_a_hung_read_ends_the_session_as_a_stall() -> None:
    async with scripted_pipeline([Frames(25), ReadTimeout(5.0), Frames(25)]) as run:
        stats = run.source.stats.snapshot()
    assert stats.stalls == 1 and stats.opens == 2 and run.worker.status.analyzed == 10
    assert run.kinds("up", "down") == ["up", "down", "up", "down"]


async def test_a_few_decode_errors_are_concealed_but_a_run_of_them_drops_the_connection() -> None:
    async with scripted_pipeline([Frames(25), DecodeErrors(10), Frames(25), Eof(), Frames(25)]) as run:
        concealed = run.source.stats.snapshot()
        analysed = run.worker.status.analyzed
    assert concealed.opens == 2 and analysed == 15
    assert concealed.errors == 2  # the Eof and the end of the script, not the ten bad packets
    async with scripted_pipeline([Frames(25), DecodeErrors(60), Frames(25)]) as run:
        dropped = run.source.stats.snapshot()
        errors = [e.reason for e in run.source_events if e.kind == "error"]
        analysed = run.worker.status.analyzed
    assert errors[0] == "50 packets in a row could not be decoded" and dropped.opens == 2
    assert analysed == 10  # both sessions' frames; the ten remaining bad packets opened the second session


@pytest.mark.parametrize("jump_s", [-30.0, 3600.0], ids=["backwards", "forwards"])
async def test_a_timestamp_jump_keeps_sampling_and_the_alert_going(jump_s: float) -> None:
    async with scripted_pipeline([Frames(50, fake_p=0.9), PtsJump(jump_s), Frames(50, fake_p=0.9)]) as run:
        analysed = run.worker.status.analyzed
    assert analysed in (20, 21)  # 4 s at 5 fps: no gap, no burst at the jump
    assert without_updates(run.phases()) == [START, LOST]  # one alert throughout; lost at the final Eof


async def test_a_resolution_change_mid_stream_keeps_analysing_and_oversized_frames_are_refused() -> None:
    script = [Frames(25, size=(64, 48)), Frames(25, size=(160, 120)), Frames(25, size=(400, 300)), Frames(25)]
    async with scripted_pipeline(script, max_pixels=160 * 120) as run:
        status, stats = run.worker.status, run.source.stats
    assert stats.opens == 1 and stats.dropped == {"frame_too_large": 5}
    assert status.analyzed == 15 and status.failed == 0


async def test_a_face_that_leaves_ends_its_alert_as_lost_and_a_returning_face_is_a_new_track() -> None:
    script = [Frames(50, fake_p=0.9), Frames(100, fake_p=None), Frames(50, fake_p=0.9)]
    async with scripted_pipeline(script) as run:
        pass
    assert without_updates(run.phases()) == [START, LOST, START, LOST]
    starts = [e for e in run.alerts if e.phase is AlertPhase.START]
    assert starts[0].track_id != starts[1].track_id
    first_end = next(e for e in run.alerts if e.phase is AlertPhase.END)
    assert first_end.ts - starts[0].ts < 4.0  # the tracker's max age, not the end of the run


async def test_the_same_script_gives_the_same_events() -> None:
    script: list[Step] = [
        Frames(50, fake_p=0.9),
        Stall(8.0),
        Frames(25, fake_p=0.8),
        Unreachable(40.0),
        Frames(50, fake_p=0.9),
    ]
    runs = []
    for _ in range(2):
        async with scripted_pipeline(script) as run:
            runs.append([(e.phase, e.track_id, round(e.ts, 6), round(e.score, 6)) for e in run.alerts])
    assert runs[0] == runs[1] and len(runs[0]) >= 4
    assert all(a[2] <= b[2] for a, b in itertools.pairwise(runs[0]))


@pytest.mark.parametrize("calm_below", [0.3, 0.45])
async def test_a_calm_track_scored_less_often_still_alerts_within_the_cadence_bound(calm_below: float) -> None:
    """An attack starting mid-stream on a calm track waits at most ``calm_every - 1`` samples for a score."""
    script = [Frames(150, fake_p=0.1), Frames(100, fake_p=0.9)]  # 6 s real, then 4 s fake
    starts, unscored = {}, {}
    for every in (1, 3):
        options = CadenceOptions(calm_every=every, calm_below=calm_below, calm_after_s=2.0)
        async with scripted_pipeline(script, cadence=options) as run:
            starts[every] = next(e.ts for e in run.alerts if e.phase is AlertPhase.START)
            unscored[every] = run.worker.status.analyzed, _unscored(run)
    assert unscored[1][1] == 0
    analyzed, skipped = unscored[3]
    # ~2/3 of the 20 samples between 2 s and 6 s, plus the first fake samples while the level climbs back
    # to calm_below (one more round at 0.45: 0.1, 0.1, 0.9 averages 0.37).
    assert analyzed == 50 and 12 <= skipped <= 17
    # Never later than the bound; here 0.4 s earlier: the window holds fewer of the calm scores, so its mean
    # crosses on_threshold sooner once the fake scores arrive.
    assert starts[3] - starts[1] <= 2 / 5 + 1e-6


def _unscored(run: ScriptedRun) -> int:
    value = run.worker._metrics.registry.get_sample_value("streamguard_faces_unscored_total", {"stream": "cam"})
    return int(value or 0)
