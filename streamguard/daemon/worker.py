"""One stream's path through the pipeline: frames -> faces -> tracks -> scores -> alert events.

A worker awaits one sampled frame at a time. While it is busy (detection, inference), its source keeps
decoding and its bounded queue drops the oldest waiting sample, so a slow pipeline analyses the freshest
frame rather than falling behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from streamguard.errors import InferenceUnavailable, StreamguardError
from streamguard.explain import Explainer
from streamguard.inference.batcher import MicroBatcher
from streamguard.ingest.base import BaseSource, SourceEnded, SourceInterrupted
from streamguard.scoring.alerts import StreamScorer
from streamguard.scoring.cadence import CadenceOptions, ScoringCadence
from streamguard.sinks.metrics import Metrics
from streamguard.types import AlertEvent, EndReason, FaceCrop, FaceView, Frame, FrameView, InferenceFailure, Score
from streamguard.vision.faces import FaceStage
from streamguard.vision.follow import FaceFollower, FollowOptions
from streamguard.vision.tracking import FaceTracker, TrackedFace

logger = logging.getLogger(__name__)

EventHandler = Callable[[AlertEvent], None]
ScoresHandler = Callable[[Frame, list[Score]], None]


@dataclass(slots=True)
class WorkerStatus:
    """What the worker saw last, for the stream state hash.

    Attributes:
        faces: Faces tracked in the last analysed frame.
        analyzed: Frames analysed so far.
        failed: Frames whose analysis failed (detection or inference error).
        ended: Whether the source finished for good.
    """

    faces: int = 0
    analyzed: int = 0
    failed: int = 0
    ended: bool = False


class StreamWorker:
    """Runs one stream through detection, tracking, batched inference and alert scoring.

    Args:
        source: The stream's frames.
        faces: Detection and cropping, shared by all streams.
        tracker: This stream's own tracker.
        batcher: The inference batcher shared by all streams.
        scorer: This stream's alert rules.
        metrics: Where counters go.
        on_event: Receives every alert event (the sink); must not block.
        live: Score on wall-clock time (live streams) rather than media time (offline replays).
        wall_clock_events: Give events wall-clock times (the daemon); False keeps the scoring clock, i.e.
            media time for an offline replay (`streamguard scan` reports alerts at media times).
        on_scores: Receives each analysed frame's face scores (a scan's per-file peak); must not block.
        explainer: Explains start and update events (attribute, regions) before they are emitted; None
            emits them unexplained.
        follower: Carries this stream's face boxes between face detections; None detects on every sample.
        cadence: Which tracks are scored on a sample (calm tracks less often); None scores every face.
    """

    def __init__(
        self,
        source: BaseSource,
        *,
        faces: FaceStage,
        tracker: FaceTracker,
        batcher: MicroBatcher[FaceCrop, Score],
        scorer: StreamScorer,
        metrics: Metrics,
        on_event: EventHandler,
        live: bool,
        wall_clock_events: bool = True,
        on_scores: ScoresHandler | None = None,
        explainer: Explainer | None = None,
        follower: FaceFollower | None = None,
        cadence: ScoringCadence | None = None,
    ) -> None:
        self.source = source
        self.stream_id = source.stream_id
        self._faces = faces
        self._tracker = tracker
        self._batcher = batcher
        self.scorer = scorer
        self._metrics = metrics
        self._on_event = on_event
        self._live = live
        self._wall_clock_events = wall_clock_events
        self._on_scores = on_scores
        self._explainer = explainer
        self._follower = follower if follower is not None else FaceFollower(FollowOptions(detect_every=1))
        self._cadence = cadence if cadence is not None else ScoringCadence(CadenceOptions(calm_every=1))
        # The last score of each track: what the live view shows for a face not scored on this sample.
        self._last_scores: dict[int, Score] = {}
        self._last_clock: float | None = None
        # Wall time minus scoring time at the last frame: events always carry wall-clock times.
        self._wall_offset = 0.0
        self.status = WorkerStatus()
        self.last_view: FrameView | None = None

    async def run(self) -> None:
        """Analyse frames until the source ends or the task is cancelled."""
        while True:
            try:
                frame = await self.source.recv()
            except SourceInterrupted as e:
                logger.info("stream %s: %s; its faces are lost", self.stream_id, e, extra={"stream_id": self.stream_id})
                self._lose_faces()
                continue
            except SourceEnded as e:
                logger.info("stream %s: source ended: %s", self.stream_id, e, extra={"stream_id": self.stream_id})
                self.status.ended = True
                self.finish(EndReason.TRACK_LOST)
                return
            await self.analyze(frame)

    async def analyze(self, frame: Frame) -> None:
        """Run one sampled frame through faces, tracking, inference and scoring."""
        clock = self._clock(frame)
        try:
            scores, unscored = await self._score_frame(frame, clock)
        except (ValueError, RuntimeError, StreamguardError) as e:  # a bad frame must not stop the stream
            self.status.failed += 1
            logger.warning(
                "stream %s: frame %d not analysed: %s",
                self.stream_id,
                frame.index,
                e,
                extra={"stream_id": self.stream_id},
            )
            return
        if self._on_scores is not None:
            self._on_scores(frame, scores)
        now_mono = time.monotonic()
        events: list[AlertEvent] = []
        for score in scores:
            self._metrics.e2e_latency_seconds.observe(now_mono - score.face.mono_ts)
            events.extend(self.scorer.update(score, clock))
        if self._explainer is not None:
            # After the rules decided the events: one landmark pass per start/update, never per face.
            events = await self._explainer.explain_events(events)
        self._emit(events)
        self._emit(self.scorer.expire(self._tracker.active_ids, clock))
        self._last_scores.update((score.face.track_id, score) for score in scores)
        shown = [*scores, *(self._last_scores[t] for t in unscored if t in self._last_scores)]
        self.last_view = FrameView(frame, tuple(self._face_view(score) for score in shown))
        self._record_frame(len(scores) + len(unscored))

    def _face_view(self, score: Score) -> FaceView:
        track_id = score.face.track_id
        level = self.scorer.level(track_id)
        return FaceView(score, score.value if level is None else level, self.scorer.is_open(track_id))

    def finish(self, reason: EndReason) -> None:
        """End every open alert of the stream (source ended, shutdown, stream removed)."""
        self._emit(self.scorer.end_all(reason, self._last_clock if self._last_clock is not None else time.time()))
        self._metrics.active_tracks.labels(stream=self.stream_id).set(0)
        self._metrics.open_alerts.labels(stream=self.stream_id).set(0)

    async def _score_frame(self, frame: Frame, clock: float) -> tuple[list[Score], list[int]]:
        """The scores of the faces scored on this sample, and the track ids of the faces left unscored."""
        loop = asyncio.get_running_loop()
        located = await loop.run_in_executor(self._faces.executor, self._faces.locate, frame, self._follower)
        if located.detected is not None:
            self._metrics.faces_detected.labels(stream=self.stream_id).inc(len(located.boxes))
            self._metrics.face_detector_runs.labels(stream=self.stream_id, reason=located.detected.value).inc()
        tracked = self._tracker.update(located.boxes, clock)
        self._tracker.expire(clock)
        self._forget_ended_tracks()
        due: list[TrackedFace] = []
        unscored: list[int] = []
        for face in tracked:
            if self._wants_score(face.track_id, clock):
                due.append(face)
            else:
                unscored.append(face.track_id)
        if unscored:
            self._metrics.faces_unscored.labels(stream=self.stream_id).inc(len(unscored))
        if not due:
            return [], unscored
        crops = await loop.run_in_executor(self._faces.executor, self._faces.crops, frame, due)
        results = await asyncio.gather(*(self._batcher.submit(crop) for crop in crops), return_exceptions=True)
        scores = [r for r in results if isinstance(r, Score)]
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            self._metrics.inference_errors.labels(stream=self.stream_id, reason=failure_reason(failure)).inc()
        if failures:
            logger.warning(
                "stream %s: %d of %d faces not scored: %s",
                self.stream_id,
                len(failures),
                len(results),
                failures[0],
                extra={"stream_id": self.stream_id},
            )
        return scores, unscored

    def _wants_score(self, track_id: int, clock: float) -> bool:
        level, alert_open = self.scorer.level(track_id), self.scorer.is_open(track_id)
        return self._cadence.wants(track_id, level=level, alert_open=alert_open, now=clock)

    def _forget_ended_tracks(self) -> None:
        active = self._tracker.active_ids
        self._cadence.keep_only(active)
        for track_id in set(self._last_scores) - active:
            del self._last_scores[track_id]

    def _clock(self, frame: Frame) -> float:
        """Scoring time of a frame: wall clock for live streams, media time for offline replays."""
        media = frame.media_time
        clock = frame.wall_ts if self._live or media is None else media
        if self._last_clock is not None and clock < self._last_clock:
            # Time went backwards (a replay restarted without continuous timestamps): start tracks afresh.
            self._lose_faces()
        self._last_clock = clock
        self._wall_offset = frame.wall_ts - clock if self._wall_clock_events else 0.0
        return clock

    def _lose_faces(self) -> None:
        """The stream went down or its time went backwards: every track is gone, open alerts end as lost."""
        self._tracker.reset()
        self._follower.reset()
        self._cadence.reset()
        self._last_scores.clear()
        self.status.faces = 0
        self.finish(EndReason.TRACK_LOST)

    def _emit(self, events: list[AlertEvent]) -> None:
        for event in events:
            if self._wall_offset:
                event = dataclasses.replace(
                    event, ts=event.ts + self._wall_offset, opened_at=event.opened_at + self._wall_offset
                )
            self._on_event(event)

    def _record_frame(self, n_faces: int) -> None:
        self.status.faces = n_faces
        self.status.analyzed += 1
        labels = {"stream": self.stream_id}
        self._metrics.frames_analyzed.labels(**labels).inc()
        self._metrics.active_tracks.labels(**labels).set(len(self._tracker.active_ids))
        self._metrics.open_alerts.labels(**labels).set(self.scorer.open_alerts)


def failure_reason(error: BaseException) -> InferenceFailure:
    """Why a face went unscored, for ``streamguard_inference_errors_total``."""
    if isinstance(error, InferenceUnavailable):
        return InferenceFailure.TIMEOUT if error.timed_out else InferenceFailure.UNAVAILABLE
    return InferenceFailure.ERROR
