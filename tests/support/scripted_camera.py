"""A deterministic fault harness: a scripted camera behind the real `RtspSource`, and the real pipeline after it.

The camera replaces only PyAV's network I/O (`streamguard.ingest.decode.VideoOpener`): the source's session
loop, stall watchdog, reconnect backoff, sampling, timeline and outage markers run unchanged, and so do the
tracker, the rolling window and the hysteresis rules of the `StreamWorker` after it. Time is a `ManualClock`
moved by the script (each frame interval, each stall) and by the source's own reconnect waits, so a
five-minute outage takes milliseconds and every run gives the same events.

Faces and scores are scripted too: a frame's brightness says whether it shows a face and how fake that face
is (`Frames.fake_p`), read back by `BrightnessFaces` and `brightness_scores` in place of BlazeFace and the
detector. What the harness tests is the logic between them.
"""

from __future__ import annotations

import asyncio
import errno
import random
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, cast

import av
import av.container
import av.error
import av.video.stream
import numpy as np

from streamguard.config.scoring import ScoringConfig
from streamguard.daemon.worker import StreamWorker
from streamguard.errors import StreamError
from streamguard.inference.batcher import MicroBatcher
from streamguard.ingest.base import SourceEvent
from streamguard.ingest.rtsp import RtspSource
from streamguard.scoring.alerts import StreamScorer
from streamguard.scoring.cadence import CadenceOptions, ScoringCadence
from streamguard.sinks.metrics import Metrics
from streamguard.types import AlertEvent, FaceCrop, Frame, Score
from streamguard.vision.crop import FaceBox
from streamguard.vision.faces import FaceOptions, FaceStage
from streamguard.vision.tracking import FaceTracker, TrackingOptions
from tests.support.clock import ManualClock

TIME_BASE = Fraction(1, 90_000)
_NO_FACE = 0
_FACE_FLOOR = 40  # brightness of a real face (fake_p 0); fake_p 1 is _FACE_FLOOR + _FACE_RANGE
_FACE_RANGE = 200


@dataclass(frozen=True, slots=True)
class Frames:
    """`count` frames at `fps`, showing one face whose P(fake) is `fake_p` (no face when `fake_p` is None)."""

    count: int
    fake_p: float | None = 0.0
    size: tuple[int, int] = (64, 48)
    fps: float = 25.0


@dataclass(frozen=True, slots=True)
class Stall:
    """Packets keep arriving for `seconds` but decode to nothing (a decoder waiting for a keyframe)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class DecodeErrors:
    """`count` packets in a row that fail to decode."""

    count: int


@dataclass(frozen=True, slots=True)
class PtsJump:
    """The following frames' timestamps jump by `seconds` (negative: backwards)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class ReadTimeout:
    """The connection hangs: a read blocks for `seconds`, then FFmpeg's I/O timeout ends the session."""

    seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class Eof:
    """The server closes the connection."""


@dataclass(frozen=True, slots=True)
class Unreachable:
    """Every open attempt is refused until `seconds` have passed since the first refused one."""

    seconds: float


Step = Frames | Stall | DecodeErrors | PtsJump | ReadTimeout | Eof | Unreachable


class _Packet:
    def __init__(self, frames: list[av.VideoFrame] | None) -> None:
        self._frames = frames

    def decode(self) -> list[av.VideoFrame]:
        if self._frames is None:
            raise av.error.InvalidDataError(errno.EINVAL, "Invalid data found when processing input")
        return self._frames


class _Container:
    def __init__(self, packets: Iterator[_Packet]) -> None:
        self._packets = packets

    def demux(self, _stream: object) -> Iterator[_Packet]:
        return self._packets

    def close(self) -> None:
        """Nothing to release."""


class ScriptedCamera:
    """Plays `script` through `open`, a `VideoOpener`: one session per successful open.

    Sessions end at `Eof`, `ReadTimeout`, or when the source gives up on one (a stall, decode errors); the
    next open continues with the next step. When the script is over, `finished` is set and the next open
    blocks until `release` (so the source's thread rests instead of retrying in virtual time).

    Args:
        script: The steps, in order.
        clock: The clock the source uses; frames and stalls move it forward.
    """

    def __init__(self, script: Sequence[Step], clock: ManualClock) -> None:
        self._steps = list(script)
        self._clock = clock
        self._cursor = 0
        self._done_in_step = 0  # frames or errors of the current step already played
        self._unreachable_since: float | None = None
        self._pts_offset = 0.0
        self._session_pts = 0.0
        self._released = threading.Event()
        self.finished = threading.Event()
        self.opens = 0
        self.refused = 0

    def release(self) -> None:
        """Let a blocked open fail, so the source's thread can stop."""
        self._released.set()

    def open(
        self,
        url: str,
        *,
        options: dict[str, str] | None = None,
        open_timeout_s: float,
        read_timeout_s: float,
    ) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
        """Refuse while the script says the camera is unreachable; else start a session."""
        step = self._step()
        if step is None:
            self.finished.set()
            self._released.wait(30.0)
            raise StreamError("cannot open: the script is over")
        if isinstance(step, Unreachable):
            if self._unreachable_since is None:
                self._unreachable_since = self._clock.now
            if self._clock.now - self._unreachable_since < step.seconds:
                self.refused += 1
                raise StreamError("cannot open: Connection refused (ConnectionRefusedError)")
            self._unreachable_since = None
            self._next_step()
        self.opens += 1
        self._pts_offset = 0.0  # a new session's timestamps start again near zero, as a real camera's do
        self._session_pts = 0.0
        session = _Container(self._session())
        return cast(av.container.InputContainer, session), cast(av.video.stream.VideoStream, object())

    def _step(self) -> Step | None:
        return self._steps[self._cursor] if self._cursor < len(self._steps) else None

    def _next_step(self) -> None:
        self._cursor += 1
        self._done_in_step = 0

    def _session(self) -> Iterator[_Packet]:
        while (step := self._step()) is not None:
            if isinstance(step, Unreachable):
                return  # the connection drops; the next opens are refused
            if isinstance(step, Eof):
                self._next_step()
                return
            yield from self._play(step)

    def _play(self, step: Frames | Stall | DecodeErrors | PtsJump | ReadTimeout) -> Iterator[_Packet]:
        """The packets of one step; counted steps yield one at a time, so a session may stop mid-step."""
        match step:
            case Frames(count=count, fake_p=fake_p, size=size, fps=fps):
                if self._step_counted(count):
                    self._pass(1.0 / fps)
                    self._session_pts += 1.0 / fps
                    yield _Packet([_frame(fake_p, size, self._session_pts + self._pts_offset)])
            case DecodeErrors(count=count):
                if self._step_counted(count):
                    yield _Packet(None)
            case Stall(seconds=seconds):
                self._next_step()
                for _ in range(round(seconds * 10)):
                    self._pass(0.1)
                    yield _Packet([])
            case PtsJump(seconds=seconds):
                self._next_step()
                self._pts_offset += seconds
            case ReadTimeout(seconds=seconds):
                self._next_step()
                self._pass(seconds)
                raise av.error.ExitError(-1, "Immediate exit requested")

    def _step_counted(self, count: int) -> bool:
        """Count one more item of the current step; False (and on to the next step) when it is complete."""
        if self._done_in_step >= count:
            self._next_step()
            return False
        self._done_in_step += 1
        return True

    def _pass(self, seconds: float) -> None:
        self._clock.move(seconds)


def _frame(fake_p: float | None, size: tuple[int, int], pts_s: float) -> av.VideoFrame:
    level = _NO_FACE if fake_p is None else _FACE_FLOOR + round(fake_p * _FACE_RANGE)
    width, height = size
    frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), level, np.uint8), format="rgb24")
    frame.pts = round(pts_s / TIME_BASE)
    frame.time_base = TIME_BASE
    return frame


class BrightnessFaces(FaceStage):
    """A face stage that finds one face in the middle of every frame brighter than black."""

    def __init__(self) -> None:
        super().__init__(FaceOptions(crop_size=16, min_face_px=1))

    def detect(self, frame: Frame) -> list[FaceBox]:
        """One centred face unless the frame is black."""
        if int(frame.image[0, 0, 0]) == _NO_FACE:
            return []
        height, width = frame.image.shape[:2]
        return [FaceBox(width * 0.25, height * 0.25, width * 0.75, height * 0.75, 0.99)]


def brightness_scores(crops: Sequence[FaceCrop]) -> list[Score]:
    """The scripted P(fake) of each crop, read back from its brightness."""
    scores = []
    for crop in crops:
        value = (float(crop.pixels[0, 0, 0]) - _FACE_FLOOR) / _FACE_RANGE
        mask = np.zeros(crop.pixels.shape[:2], np.float32)
        scores.append(Score(face=crop, value=min(1.0, max(0.0, value)), mask=mask, model_version="scripted"))
    return scores


@dataclass
class ScriptedRun:
    """What a scripted run produced: alert events, source events, the source and worker, and the clock."""

    source: RtspSource
    worker: StreamWorker
    camera: ScriptedCamera
    clock: ManualClock
    alerts: list[AlertEvent] = field(default_factory=list)
    source_events: list[SourceEvent] = field(default_factory=list)

    def phases(self) -> list[tuple[str, str | None]]:
        """``(phase, end reason)`` of every alert event, in order."""
        return [(e.phase.value, e.reason.value if e.reason else None) for e in self.alerts]

    def kinds(self, *wanted: str) -> list[str]:
        """The source events of the `wanted` kinds, in order."""
        return [e.kind for e in self.source_events if e.kind in wanted]


@asynccontextmanager
async def scripted_pipeline(
    script: Sequence[Step],
    *,
    scoring: ScoringConfig | None = None,
    analysis_fps: float = 5.0,
    stall_timeout_s: float = 5.0,
    backoff_max_s: float = 30.0,
    max_pixels: int = 4096 * 2160,
    cadence: CadenceOptions | None = None,
    **source_options: Any,
) -> AsyncIterator[ScriptedRun]:
    """Play `script` through the real source and worker until every sampled frame is analysed.

    Yields:
        The run, once the script is over and the worker has handled everything the source queued.
    """
    clock = ManualClock()
    camera = ScriptedCamera(script, clock)
    events: list[SourceEvent] = []
    source = RtspSource(
        "cam",
        "rtsp://127.0.0.1:8554/scripted",
        analysis_fps=analysis_fps,
        stall_timeout_s=stall_timeout_s,
        backoff_max_s=backoff_max_s,
        backoff_jitter=0.0,
        queue_size=100_000,  # keep every sample: the run is checked frame by frame, not under load
        max_pixels=max_pixels,
        on_event=events.append,
        rng=random.Random(0),
        clock=clock,
        opener=camera.open,
        **source_options,
    )
    faces = BrightnessFaces()
    batcher: MicroBatcher[FaceCrop, Score] = MicroBatcher(brightness_scores, max_batch=4, max_delay_s=0.0)
    run = ScriptedRun(source, cast(StreamWorker, None), camera, clock, source_events=events)
    run.worker = StreamWorker(
        source,
        faces=faces,
        tracker=FaceTracker(TrackingOptions(analysis_fps=analysis_fps)),
        batcher=batcher,
        scorer=StreamScorer("cam", scoring or ScoringConfig()),
        metrics=Metrics(),
        on_event=run.alerts.append,
        live=True,
        cadence=ScoringCadence(cadence) if cadence is not None else None,
    )
    await batcher.start()
    await source.start()
    task = asyncio.create_task(run.worker.run())
    try:
        await asyncio.wait_for(asyncio.to_thread(camera.finished.wait, 30.0), 35.0)
        await asyncio.wait_for(_drained(run), 30.0)
        yield run
    finally:
        task.cancel()
        camera.release()
        await source.close()
        await batcher.close()
        faces.close()


async def _drained(run: ScriptedRun) -> None:
    """Until the worker analysed every sampled frame and took every outage marker from the queue."""
    while True:
        status = run.worker.status
        if status.analyzed + status.failed >= run.source.stats.sampled and run.source.pending == 0:
            return
        await asyncio.sleep(0.001)
