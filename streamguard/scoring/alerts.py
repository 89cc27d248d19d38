"""Hysteresis alerts per face track: start when the rolling P(fake) stays high, end when it falls or the face goes.

Rules (all times are passed in by the caller; nothing here reads a clock; the thresholds and timings are the
``scoring`` section of the configuration, `streamguard.config.ScoringConfig`):

* **Level.** Each scored face adds ``(now, value)`` to its track's `RollingWindow` of `window_s` seconds.
  The level is the window mean (the paper's video rule), or the EMA when `use_ema` is set.
* **Start.** While no alert is open, a *run* begins at the first sample whose level is ``>= on_threshold``
  and lasts while every following sample keeps it there; a level below `on_threshold` ends the run, and so
  does a gap in the samples longer than the window (the window empties). An alert starts at the first
  sample where the run has lasted ``>= min_duration_s`` and the window holds ``>= min_samples`` samples.
* **Update.** While open, an update is emitted at a sample when something changed since the last published
  event (the level, or the peak) and at least `update_interval_s` passed since it.
* **End.** At the first sample whose level is ``< off_threshold`` (``below_threshold``), or when the caller
  ends the track (``track_lost``, ``shutdown``, ``stream_removed``). A new alert on the same track needs a
  new run, i.e. the level must climb back to ``>= on_threshold`` and stay there for `min_duration_s`.

Peak and `sequence` (how consumers name the mask and overlay keys of an alert):

* The *peak* is the `Score` with the highest value since the run that started the alert began.
* ``sequence`` is 0 on the start event, whose peak is published (mask written under
  ``mask:{alert_id}:0``). An update whose peak differs from the last *published* peak publishes the new one
  under ``sequence + 1``; an update with an unchanged peak keeps the previous sequence, so consumers reuse
  the keys they already have. Sequence numbers therefore never decrease and never skip.
* The end event keeps the last published sequence, and its `peak` is the last *published* peak `Score` (the
  one stored under those keys), while its `peak_score` is the highest value seen during the whole alert
  (which can exceed ``peak.value`` when a higher peak came after the last update). Its `score` and
  `n_samples` are the level and sample count at the track's last sample.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass

from streamguard.config.scoring import ScoringConfig
from streamguard.scoring.window import RollingWindow
from streamguard.types import AlertEvent, AlertPhase, EndReason, Score


def new_alert_id(stream_id: str, track_id: int) -> str:
    """A globally unique alert id: ``{stream_id}-{track_id}-{32 random hex digits}``."""
    return f"{stream_id}-{track_id}-{uuid.uuid4().hex}"


AlertIdFactory = Callable[[str, int], str]

HISTORY_SAMPLES = 900
"""Levels kept per track for the score plot of its alerts (a few minutes at the analysis rate)."""
HISTORY_LEAD_S = 10.0
"""How far before the alert opened its events' history reaches."""


@dataclass(slots=True)
class _OpenAlert:
    alert_id: str
    opened_at: float
    peak: Score
    published_peak: Score
    sequence: int
    last_event_ts: float
    last_published_level: float


class TrackAlertState:
    """The rolling window and alert state machine of one face track.

    Args:
        stream_id: The stream of the track.
        track_id: The track.
        config: The alert rules.
        alert_id_factory: Makes the id of each new alert (default `new_alert_id`).
    """

    def __init__(
        self,
        stream_id: str,
        track_id: int,
        config: ScoringConfig,
        alert_id_factory: AlertIdFactory = new_alert_id,
    ) -> None:
        self.stream_id = stream_id
        self.track_id = track_id
        self.config = config
        self.window = RollingWindow(config.window_s, config.ema_alpha)
        self._new_alert_id = alert_id_factory
        self._run_since: float | None = None
        self._run_peak: Score | None = None
        self._open: _OpenAlert | None = None
        self._level: float | None = None
        self._history: deque[tuple[float, float]] = deque(maxlen=HISTORY_SAMPLES)

    @property
    def is_open(self) -> bool:
        """Whether an alert is open on this track."""
        return self._open is not None

    @property
    def alert_id(self) -> str | None:
        """Id of the open alert, or ``None``."""
        return self._open.alert_id if self._open is not None else None

    @property
    def level(self) -> float | None:
        """The level (window mean, or EMA) at the last sample, or ``None`` before the first."""
        return self._level

    def update(self, score: Score, now: float) -> AlertEvent | None:
        """Add one scored face at time `now`; return the start, update or end event it causes, if any."""
        self.window.prune(now)
        if self.window.n == 0:  # first sample, or a gap longer than the window: no continuous run
            self._reset_run()
        self.window.add(now, score.value)
        level = self._current_level()
        self._level = level
        self._history.append((now, level))
        if self._open is not None:
            return self._update_open(self._open, score, level, now)
        return self._update_closed(score, level, now)

    def end(self, reason: EndReason, now: float) -> AlertEvent | None:
        """End the open alert (if any) for `reason`, e.g. ``track_lost``; return its end event."""
        alert = self._open
        if alert is None:
            return None
        self._open = None
        self._reset_run()
        return self._event(
            AlertPhase.END, alert, now, reason=reason, peak=alert.published_peak, peak_score=alert.peak.value
        )

    def _current_level(self) -> float:
        level = self.window.ema if self.config.use_ema else self.window.mean
        assert level is not None  # noqa: S101 (the window just received a sample)
        return level

    def _reset_run(self) -> None:
        self._run_since = None
        self._run_peak = None

    def _update_closed(self, score: Score, level: float, now: float) -> AlertEvent | None:
        config = self.config
        if level < config.on_threshold:
            self._reset_run()
            return None
        if self._run_since is None:
            self._run_since = now
        if self._run_peak is None or score.value > self._run_peak.value:
            self._run_peak = score
        if now - self._run_since < config.min_duration_s or self.window.n < config.min_samples:
            return None
        peak = self._run_peak
        alert = _OpenAlert(
            alert_id=self._new_alert_id(self.stream_id, self.track_id),
            opened_at=now,
            peak=peak,
            published_peak=peak,
            sequence=0,
            last_event_ts=now,
            last_published_level=level,
        )
        self._open = alert
        return self._event(AlertPhase.START, alert, now, reason=None, peak=peak, peak_score=peak.value)

    def _update_open(self, alert: _OpenAlert, score: Score, level: float, now: float) -> AlertEvent | None:
        if level < self.config.off_threshold:
            return self.end(EndReason.BELOW_THRESHOLD, now)
        if score.value > alert.peak.value:
            alert.peak = score
        peak_changed = alert.peak is not alert.published_peak
        if now - alert.last_event_ts < self.config.update_interval_s:
            return None
        if not peak_changed and level == alert.last_published_level:
            return None
        if peak_changed:
            alert.sequence += 1
            alert.published_peak = alert.peak
        alert.last_event_ts = now
        alert.last_published_level = level
        return self._event(AlertPhase.UPDATE, alert, now, reason=None, peak=alert.peak, peak_score=alert.peak.value)

    def _event(
        self,
        phase: AlertPhase,
        alert: _OpenAlert,
        now: float,
        *,
        reason: EndReason | None,
        peak: Score,
        peak_score: float,
    ) -> AlertEvent:
        return AlertEvent(
            phase=phase,
            alert_id=alert.alert_id,
            stream_id=self.stream_id,
            track_id=self.track_id,
            ts=now,
            opened_at=alert.opened_at,
            score=self._level if self._level is not None else 0.0,
            peak_score=peak_score,
            window_s=self.config.window_s,
            n_samples=self.window.n,
            reason=reason,
            peak=peak,
            sequence=alert.sequence,
            history=tuple((t - now, v) for t, v in self._history if t >= alert.opened_at - HISTORY_LEAD_S),
        )


class StreamScorer:
    """The per-track alert states of one stream.

    Call `update` for every scored face and `expire` with the tracker's live track ids after every analysed
    frame, so alerts of faces that left end promptly and state of dead tracks is freed.

    Args:
        stream_id: The stream; every `Score` passed to `update` must belong to it.
        config: The alert rules (default `ScoringConfig()`).
        alert_id_factory: Makes the id of each new alert (default `new_alert_id`).
    """

    def __init__(
        self,
        stream_id: str,
        config: ScoringConfig | None = None,
        alert_id_factory: AlertIdFactory = new_alert_id,
    ) -> None:
        self.stream_id = stream_id
        self.config = config or ScoringConfig()
        self._alert_id_factory = alert_id_factory
        self._tracks: dict[int, TrackAlertState] = {}

    @property
    def open_alerts(self) -> int:
        """Number of tracks with an open alert."""
        return sum(state.is_open for state in self._tracks.values())

    @property
    def track_ids(self) -> frozenset[int]:
        """Tracks with state (seen since they were last expired)."""
        return frozenset(self._tracks)

    def update(self, score: Score, now: float) -> list[AlertEvent]:
        """Add one scored face of this stream at time `now`; return the events it causes (zero or one).

        Raises:
            ValueError: The score belongs to another stream.
        """
        face = score.face
        if face.stream_id != self.stream_id:
            raise ValueError(f"stream {self.stream_id}: got a score of stream {face.stream_id}")
        state = self._tracks.get(face.track_id)
        if state is None:
            state = TrackAlertState(self.stream_id, face.track_id, self.config, self._alert_id_factory)
            self._tracks[face.track_id] = state
        event = state.update(score, now)
        return [event] if event is not None else []

    def expire(self, active_track_ids: Collection[int], now: float) -> list[AlertEvent]:
        """Forget the tracks not in `active_track_ids`, ending their open alerts with ``track_lost``."""
        gone = [track_id for track_id in self._tracks if track_id not in active_track_ids]
        return self._end_tracks(gone, EndReason.TRACK_LOST, now)

    def end_all(self, reason: EndReason, now: float) -> list[AlertEvent]:
        """End every open alert for `reason` (``shutdown``, ``stream_removed``) and forget every track."""
        return self._end_tracks(list(self._tracks), reason, now)

    def window_mean(self, track_id: int) -> float | None:
        """Window mean of a track as of its last sample, or ``None`` for an unknown track."""
        state = self._tracks.get(track_id)
        return state.window.mean if state is not None else None

    def level(self, track_id: int) -> float | None:
        """Level (mean, or EMA with `use_ema`) of a track at its last sample, or ``None``."""
        state = self._tracks.get(track_id)
        return state.level if state is not None else None

    def is_open(self, track_id: int) -> bool:
        """Whether the track has an open alert."""
        state = self._tracks.get(track_id)
        return state is not None and state.is_open

    def _end_tracks(self, track_ids: list[int], reason: EndReason, now: float) -> list[AlertEvent]:
        events = []
        for track_id in track_ids:
            event = self._tracks.pop(track_id).end(reason, now)
            if event is not None:
                events.append(event)
        return events
