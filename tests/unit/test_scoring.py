"""Rolling-window math and hysteresis alerts, checked against brute-force reference models."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.config import ScoringConfig
from streamguard.scoring import RollingWindow, StreamScorer
from streamguard.types import AlertEvent, AlertPhase, EndReason, FaceCrop, Score

PIXELS = np.zeros((2, 2, 3), dtype=np.uint8)
MASK = np.zeros((2, 2), dtype=np.float32)


def make_score(value: float, track_id: int = 1, stream_id: str = "cam") -> Score:
    face = FaceCrop(
        stream_id=stream_id,
        track_id=track_id,
        frame_index=0,
        wall_ts=0.0,
        mono_ts=0.0,
        box_xyxy=(0.0, 0.0, 2.0, 2.0),
        crop_xywh=(0.0, 0.0, 2.0, 2.0),
        frame_size=(2, 2),
        det_score=1.0,
        pixels=PIXELS,
    )
    return Score(face=face, value=value, mask=MASK, model_version="test")


# --- RollingWindow ------------------------------------------------------------------------------------------

window_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.floats(0, 20, allow_nan=False), st.floats(0, 1, allow_nan=False)),
        st.tuples(st.just("prune"), st.floats(0, 25, allow_nan=False), st.just(0.0)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(
    ops=window_ops,
    window_s=st.sampled_from([0.5, 1.0, 2.0, 3.7]),
    ema_alpha=st.sampled_from([None, 0.2, 1.0]),
)
def test_rolling_window_matches_a_brute_force_reference(
    ops: list[tuple[str, float, float]], window_s: float, ema_alpha: float | None
) -> None:
    window = RollingWindow(window_s, ema_alpha=ema_alpha)
    samples: list[tuple[float, float]] = []
    ema: float | None = None
    for op, t, value in ops:
        if op == "add":
            window.add(t, value)
            samples.append((t, value))
            if ema_alpha is not None:
                ema = value if ema is None else ema_alpha * value + (1 - ema_alpha) * ema
        else:
            kept = [s for s in samples if s[0] >= t - window_s]
            assert window.prune(t) == len(samples) - len(kept)
            samples = kept
        values = [v for _, v in samples]
        assert window.n == len(samples)
        if samples:
            assert window.mean == pytest.approx(sum(values) / len(values), rel=1e-12, abs=1e-12)
            assert window.max == max(values)
            assert window.oldest_ts == min(ts for ts, _ in samples)
            assert window.newest_ts == max(ts for ts, _ in samples)
        else:
            assert window.mean is None
            assert window.max is None
        assert window.ema == ema


def test_prune_drops_exactly_the_samples_older_than_the_window() -> None:
    window = RollingWindow(2.0)
    for t in (0.0, 1.0, 2.0, 3.0):
        window.add(t, t)
    assert window.prune(2.0) == 0  # ts 0.0 is exactly window_s old: kept
    assert window.n == 4
    assert window.prune(3.0 + 1e-9) == 2  # 0.0 and 1.0 are now older than 2 s
    assert window.oldest_ts == 2.0
    assert window.mean == 2.5


def test_window_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="window_s"):
        RollingWindow(0.0)
    with pytest.raises(ValueError, match="ema_alpha"):
        RollingWindow(1.0, ema_alpha=0.0)


# --- Hysteresis: a reference model checked sample by sample -------------------------------------------------


@dataclass
class RefAlert:
    alert_id: str
    peak: Score
    published_peak: Score
    sequence: int
    last_event_ts: float
    last_level: float


@dataclass
class RefTrack:
    """Brute-force state of one track: every sample with its level and whether it broke continuity."""

    samples: list[tuple[float, float]] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)
    breaks: list[bool] = field(default_factory=list)
    ema: float | None = None
    alert: RefAlert | None = None
    last_end_index: int = -1


class Reference:
    """Independent re-statement of the rules in the `streamguard.scoring.alerts` docstring."""

    def __init__(self, config: ScoringConfig) -> None:
        self.config = config
        self.tracks: dict[int, RefTrack] = {}

    def level(self, track: RefTrack, now: float, value: float) -> tuple[float, int]:
        in_window = [v for t, v in track.samples if t >= now - self.config.window_s]
        alpha = self.config.ema_alpha
        if alpha is not None:
            track.ema = value if track.ema is None else alpha * value + (1 - alpha) * track.ema
        if self.config.use_ema:
            assert track.ema is not None
            return track.ema, len(in_window)
        return math.fsum(in_window) / len(in_window), len(in_window)

    def run_start(self, track: RefTrack) -> int | None:
        """Index of the first sample of the current run of levels >= on (None when the last level is below)."""
        on = self.config.on_threshold
        k = len(track.levels) - 1
        if track.levels[k] < on:
            return None
        j = k
        while j > 0 and not track.breaks[j] and track.levels[j - 1] >= on and j - 1 > track.last_end_index:
            j -= 1
        return j

    def check(self, score: Score, now: float, events: list[AlertEvent]) -> None:
        config = self.config
        track = self.tracks.setdefault(score.face.track_id, RefTrack())
        track.breaks.append(not track.samples or track.samples[-1][0] < now - config.window_s)
        track.samples.append((now, score.value))
        track.scores.append(score)
        level, n = self.level(track, now, score.value)
        track.levels.append(level)
        alert = track.alert
        if alert is None:
            first = self.run_start(track)
            if first is None or now - track.samples[first][0] < config.min_duration_s or n < config.min_samples:
                assert events == []
                return
            assert len(events) == 1
            event = events[0]
            peak = max(track.scores[first:], key=lambda s: s.value)  # first of equal maxima, like the scorer
            assert event.phase is AlertPhase.START
            assert event.sequence == 0
            assert event.peak is peak
            assert event.peak_score == peak.value
            assert event.score == level
            assert event.n_samples == n
            assert event.opened_at == now
            track.alert = RefAlert(event.alert_id, peak, peak, 0, now, level)
            return
        if level < config.off_threshold:
            assert len(events) == 1
            self.check_end(events[0], track, alert, EndReason.BELOW_THRESHOLD, level)
            track.last_end_index = len(track.samples) - 1
            return
        if score.value > alert.peak.value:
            alert.peak = score
        peak_changed = alert.peak is not alert.published_peak
        due = now - alert.last_event_ts >= config.update_interval_s
        if not (due and (peak_changed or level != alert.last_level)):
            assert events == []
            return
        assert len(events) == 1
        event = events[0]
        if peak_changed:
            alert.sequence += 1
            alert.published_peak = alert.peak
        assert event.phase is AlertPhase.UPDATE
        assert event.alert_id == alert.alert_id
        assert event.sequence == alert.sequence
        assert event.peak is alert.peak
        assert event.score == level
        alert.last_event_ts = now
        alert.last_level = level

    def check_end(self, event: AlertEvent, track: RefTrack, alert: RefAlert, reason: str, level: float) -> None:
        assert event.phase is AlertPhase.END
        assert event.alert_id == alert.alert_id
        assert event.reason == reason
        assert event.sequence == alert.sequence
        assert event.peak is alert.published_peak
        assert event.peak_score == alert.peak.value
        assert event.score == level
        track.alert = None

    def lose(self, track_id: int, reason: str, events_by_track: dict[int, AlertEvent]) -> None:
        track = self.tracks.pop(track_id)
        if track.alert is None:
            assert track_id not in events_by_track
            return
        self.check_end(events_by_track[track_id], track, track.alert, reason, track.levels[-1])


configs = st.builds(
    lambda window_s, on, gap, min_duration_s, min_samples, update_interval_s, ema: ScoringConfig(
        window_s=window_s,
        on_threshold=on,
        off_threshold=on - gap,
        min_duration_s=min_duration_s,
        min_samples=min_samples,
        update_interval_s=update_interval_s,
        ema_alpha=ema[0],
        use_ema=ema[1],
    ),
    window_s=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
    on=st.sampled_from([0.5, 0.6, 0.7, 0.75, 0.85]),
    gap=st.sampled_from([0.05, 0.2, 0.25, 0.4]),
    min_duration_s=st.sampled_from([0.0, 0.3, 1.0, 2.0]),
    min_samples=st.integers(1, 5),
    update_interval_s=st.sampled_from([0.05, 0.2, 1.0]),
    ema=st.sampled_from([(None, False), (0.5, False), (0.5, True), (1.0, True)]),
)

# A segment: tracks present, base P(fake), steps, seconds per step, whether lost tracks are expired, noise
# (amplitude, seed). Without noise, means often land exactly on a threshold.
Segment = tuple[frozenset[int], float, int, float, bool, tuple[float, int]]
segments = st.lists(
    st.tuples(
        st.frozensets(st.integers(0, 2), max_size=3),
        st.sampled_from([0.0, 0.25, 0.3, 0.5, 0.55, 0.65, 0.75, 0.9, 1.0]),
        st.integers(1, 12),
        st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.34, 0.5, 1.5, 4.0]),
        st.booleans(),
        st.tuples(st.sampled_from([0.0, 0.15]), st.integers(0, 2**16)),
    ),
    min_size=1,
    max_size=8,
)


def drive(scorer: StreamScorer, reference: Reference, segs: list[Segment]) -> list[AlertEvent]:
    log: list[AlertEvent] = []
    now = 0.0
    for tracks, base, steps, dt, expire, (noise, seed) in segs:
        rng = random.Random(seed)
        for _ in range(steps):
            now += dt
            for track_id in sorted(tracks):
                value = min(1.0, max(0.0, base + rng.uniform(-noise, noise)))
                score = make_score(value, track_id, scorer.stream_id)
                events = scorer.update(score, now)
                reference.check(score, now, events)
                log += events
            if expire:
                events = scorer.expire(tracks, now)
                by_track = {e.track_id: e for e in events}
                assert len(by_track) == len(events)
                for track_id in set(reference.tracks) - tracks:
                    reference.lose(track_id, EndReason.TRACK_LOST, by_track)
                log += events
    events = scorer.end_all(EndReason.SHUTDOWN, now + 1)
    by_track = {e.track_id: e for e in events}
    for track_id in list(reference.tracks):
        reference.lose(track_id, EndReason.SHUTDOWN, by_track)
    return log + events


def check_invariants(log: list[AlertEvent], config: ScoringConfig) -> None:
    """Properties read off the event log alone, without the reference model."""
    open_by_track: dict[int, str] = {}
    lifecycle: dict[str, list[AlertEvent]] = {}
    for event in log:
        alert_events = lifecycle.setdefault(event.alert_id, [])
        if event.phase is AlertPhase.START:
            assert alert_events == []  # alert ids are never reused
            assert event.track_id not in open_by_track  # at most one open alert per track
            assert event.score >= config.on_threshold
            assert event.n_samples >= config.min_samples
            open_by_track[event.track_id] = event.alert_id
        else:
            assert open_by_track.get(event.track_id) == event.alert_id
        if event.phase is AlertPhase.END:
            del open_by_track[event.track_id]
            if event.reason == EndReason.BELOW_THRESHOLD:
                assert event.score < config.off_threshold
            assert event.peak_score >= (event.peak.value if event.peak else 0.0)
        alert_events.append(event)
    assert open_by_track == {}
    for events in lifecycle.values():
        phases = [e.phase for e in events]
        assert phases[0] is AlertPhase.START
        assert phases[-1] is AlertPhase.END
        assert phases.count(AlertPhase.START) == phases.count(AlertPhase.END) == 1
        sequences = [e.sequence for e in events]
        assert sequences[0] == 0
        assert all(b - a in (0, 1) for a, b in itertools.pairwise(sequences))
        published = [e for e in events if e.phase is not AlertPhase.END]
        assert all(b.ts - a.ts >= config.update_interval_s for a, b in itertools.pairwise(published))
        assert all(e.score >= config.off_threshold for e in published)


@settings(max_examples=300, deadline=None)
@given(config=configs, segs=segments)
def test_alerts_follow_the_hysteresis_rules(config: ScoringConfig, segs: list[Segment]) -> None:
    scorer = StreamScorer("cam", config)
    log = drive(scorer, Reference(config), segs)
    check_invariants(log, config)
    assert scorer.open_alerts == 0
    assert scorer.track_ids == frozenset()


def test_no_flapping_after_an_end_the_level_must_climb_back_above_on() -> None:
    config = ScoringConfig(window_s=1.0, min_duration_s=0.4, min_samples=2, update_interval_s=0.5)
    scorer = StreamScorer("cam", config)
    events: list[AlertEvent] = []
    t = 0.0
    # High, then low (ends), then hovering between off and on for a long time, then high again.
    for value, steps in ((0.9, 10), (0.1, 10), (0.6, 30), (0.95, 10)):
        for _ in range(steps):
            t += 0.1
            events += scorer.update(make_score(value), t)
    phases = [(e.phase, round(e.ts, 1)) for e in events if e.phase is not AlertPhase.UPDATE]
    assert [p for p, _ in phases] == [AlertPhase.START, AlertPhase.END, AlertPhase.START]
    second_start = phases[2][1]
    assert second_start >= 5.0 + 0.4  # the 0.95 samples begin after t=5.0 and must last min_duration


# --- Hysteresis: worked examples ----------------------------------------------------------------------------


def feed(scorer: StreamScorer, values: list[float], start: float, dt: float, track_id: int = 1) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for i, value in enumerate(values):
        events += scorer.update(make_score(value, track_id, scorer.stream_id), start + i * dt)
    return events


def test_start_update_end_with_default_rules() -> None:
    scorer = StreamScorer("cam")  # window 2 s, on 0.7, off 0.5, 1 s, 3 samples, updates every 1 s
    assert feed(scorer, [0.9] * 4, start=0.0, dt=0.25) == []  # t = 0 .. 0.75: the run is shorter than 1 s
    start = feed(scorer, [0.9], start=1.0, dt=0.25)
    assert [(e.phase, e.ts, e.sequence, e.n_samples) for e in start] == [(AlertPhase.START, 1.0, 0, 5)]
    first_peak = start[0].peak
    assert first_peak is not None and first_peak.value == 0.9
    assert scorer.open_alerts == 1
    # A higher peak at 1.25 is published by the first update, 1 s after the start, with sequence 1.
    events = feed(scorer, [0.95, 0.9, 0.9, 0.9], start=1.25, dt=0.25)
    assert [(e.phase, e.ts, e.sequence) for e in events] == [(AlertPhase.UPDATE, 2.0, 1)]
    assert events[0].peak is not None and events[0].peak.value == 0.95
    # Until 3.0 the window holds the same values (8 x 0.9 and the 0.95): nothing changed, no update.
    assert feed(scorer, [0.9] * 4, start=2.25, dt=0.25) == []
    # A changed mean with the same peak is published and keeps the sequence (consumers reuse the mask keys).
    events = feed(scorer, [0.8] * 4, start=3.25, dt=0.25)
    assert [(e.phase, e.ts, e.sequence) for e in events] == [(AlertPhase.UPDATE, 3.25, 1)]
    # Falling values: one more update (1 s after the last, mean still >= 0.5), then the end once the 2 s
    # mean drops below 0.5.
    events = feed(scorer, [0.0] * 10, start=4.25, dt=0.25)
    assert [(e.phase, e.ts) for e in events[:1]] == [(AlertPhase.UPDATE, 4.25)]
    assert [e.phase for e in events[1:]] == [AlertPhase.END]
    end = events[1]
    assert end.reason == "below_threshold"
    assert end.score < 0.5
    assert end.peak_score == 0.95
    assert end.sequence == 1
    assert end.alert_id == start[0].alert_id
    assert scorer.open_alerts == 0


def test_end_keeps_the_last_published_peak_when_a_higher_one_came_after_it() -> None:
    config = ScoringConfig(window_s=1.0, min_duration_s=0.0, min_samples=1, update_interval_s=10.0)
    scorer = StreamScorer("cam", config)
    (start,) = feed(scorer, [0.8], start=0.0, dt=0.1)
    assert feed(scorer, [0.99], start=0.1, dt=0.1) == []  # rate-limited: not published
    (end,) = scorer.end_all(EndReason.SHUTDOWN, now=0.5)
    assert end.reason == "shutdown"
    assert end.peak is start.peak  # the mask stored under sequence 0
    assert end.sequence == 0
    assert end.peak_score == 0.99


def test_thresholds_are_inclusive_for_on_and_exclusive_for_off() -> None:
    config = ScoringConfig(window_s=1.0, on_threshold=0.75, off_threshold=0.5, min_duration_s=0.0, min_samples=1)
    scorer = StreamScorer("cam", config)
    (start,) = feed(scorer, [0.75], start=0.0, dt=0.25)  # exactly on: starts
    assert start.phase is AlertPhase.START
    assert feed(scorer, [0.25], start=0.25, dt=0.25) == []  # mean exactly 0.5 == off: stays open
    assert scorer.window_mean(1) == 0.5
    (end,) = feed(scorer, [0.0], start=0.5, dt=0.25)
    assert end.phase is AlertPhase.END


def test_too_few_samples_never_start_an_alert() -> None:
    config = ScoringConfig(window_s=2.0, min_duration_s=1.0, min_samples=4)
    scorer = StreamScorer("cam", config)
    assert feed(scorer, [1.0] * 30, start=0.0, dt=1.0) == []  # at most 3 samples in any 2 s window
    assert scorer.window_mean(1) == 1.0


def test_a_gap_longer_than_the_window_restarts_the_run() -> None:
    config = ScoringConfig(window_s=1.0, min_duration_s=1.0, min_samples=1)
    scorer = StreamScorer("cam", config)
    assert feed(scorer, [0.9], start=0.0, dt=0.1) == []
    assert feed(scorer, [0.9], start=5.0, dt=0.1) == []  # 5 s after the run began, but nothing in between
    (start,) = feed(scorer, [0.9] * 11, start=5.1, dt=0.1)[:1]
    assert start.phase is AlertPhase.START
    assert start.ts == pytest.approx(6.0)


def test_ema_level() -> None:
    config = ScoringConfig(min_duration_s=0.0, min_samples=1, ema_alpha=0.5, use_ema=True)
    scorer = StreamScorer("cam", config)
    assert feed(scorer, [0.6], start=0.0, dt=0.1) == []
    (start,) = feed(scorer, [1.0], start=0.1, dt=0.1)  # EMA 0.8 >= 0.7
    assert start.score == pytest.approx(0.8)
    assert scorer.level(1) == pytest.approx(0.8)
    assert scorer.window_mean(1) == pytest.approx(0.8)


def test_expire_ends_lost_tracks_and_forgets_them() -> None:
    config = ScoringConfig(min_duration_s=0.0, min_samples=1)
    scorer = StreamScorer("cam", config)
    feed(scorer, [0.9], start=0.0, dt=0.1, track_id=1)
    feed(scorer, [0.1], start=0.0, dt=0.1, track_id=2)
    feed(scorer, [0.9], start=0.0, dt=0.1, track_id=3)
    assert scorer.open_alerts == 2
    events = scorer.expire({3}, now=1.0)
    assert [(e.phase, e.track_id, e.reason) for e in events] == [(AlertPhase.END, 1, "track_lost")]
    assert scorer.track_ids == frozenset({3})
    assert scorer.window_mean(1) is None
    events = scorer.end_all(EndReason.STREAM_REMOVED, now=2.0)
    assert [(e.track_id, e.reason) for e in events] == [(3, "stream_removed")]
    assert scorer.open_alerts == 0


def test_alert_ids_are_unique_across_tracks_streams_and_restarts() -> None:
    config = ScoringConfig(min_duration_s=0.0, min_samples=1)
    ids = []
    for _restart in range(3):
        for stream_id in ("a", "b"):
            scorer = StreamScorer(stream_id, config)
            for track_id in (1, 2):
                for t in (0.0, 10.0):  # two alerts per track: high, low, high
                    events = feed(scorer, [0.9, 0.0, 0.0], start=t, dt=0.1, track_id=track_id)
                    ids += [e.alert_id for e in events if e.phase is AlertPhase.START]
            ids += [e.alert_id for e in scorer.end_all(EndReason.SHUTDOWN, 20.0) if e.phase is AlertPhase.START]
    assert len(ids) == 3 * 2 * 2 * 2
    assert len(set(ids)) == len(ids)
    assert all(alert_id.startswith(("a-", "b-")) for alert_id in ids)


def test_scores_of_another_stream_are_rejected() -> None:
    scorer = StreamScorer("cam")
    with pytest.raises(ValueError, match="other"):
        scorer.update(make_score(0.5, stream_id="other"), 0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_s": 0.0}, "window_s"),
        ({"on_threshold": 0.5, "off_threshold": 0.5}, "off_threshold"),
        ({"min_duration_s": -1.0}, "min_duration_s"),
        ({"min_samples": 0}, "min_samples"),
        ({"update_interval_s": -1.0}, "update_interval_s"),
        ({"ema_alpha": 1.5}, "ema_alpha"),
        ({"use_ema": True}, r"use_ema\n.*needs ema_alpha"),
    ],
)
def test_hysteresis_config_validation(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScoringConfig(**kwargs)  # type: ignore[arg-type]
