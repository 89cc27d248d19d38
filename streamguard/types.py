"""Frozen records that cross stage boundaries: ingest -> vision -> inference -> scoring -> sinks.

Arrays inside these records are never mutated after construction; stages that need a changed copy make one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Frame:
    """A sampled, decoded video frame (RGB) of one stream.

    Attributes:
        stream_id: The stream the frame belongs to.
        index: Decode counter within the stream (0-based, counts every decoded frame, sampled or not).
        pts: Presentation timestamp in `time_base` units, or ``None`` when the container gives none.
        time_base: Unit of `pts` in seconds, or ``None``.
        wall_ts: Wall-clock arrival time (``time.time()``) when the frame left the decoder.
        mono_ts: Monotonic arrival time (``time.monotonic()``), used for latency measurements.
        image: `(H, W, 3)` uint8 RGB pixels.
    """

    stream_id: str
    index: int
    pts: int | None
    time_base: Fraction | None
    wall_ts: float
    mono_ts: float
    image: npt.NDArray[np.uint8] = field(repr=False)

    @property
    def media_time(self) -> float | None:
        """`pts` in seconds, or ``None`` when unknown."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class FaceCrop:
    """One tracked face cut from a `Frame` with the shared 1.3x square crop.

    Attributes:
        stream_id: The stream of the frame.
        track_id: Tracker id, unique within the stream (never shared across streams).
        frame_index: `Frame.index` of the source frame.
        wall_ts: `Frame.wall_ts` of the source frame.
        mono_ts: `Frame.mono_ts` of the source frame.
        box_xyxy: Face box in frame pixels ``(x0, y0, x1, y1)``.
        crop_xywh: The square crop region in frame pixels ``(x0, y0, side, side)``.
        frame_size: ``(width, height)`` of the frame.
        det_score: Face detector confidence.
        pixels: `(S, S, 3)` uint8 RGB crop fed to the model.
    """

    stream_id: str
    track_id: int
    frame_index: int
    wall_ts: float
    mono_ts: float
    box_xyxy: tuple[float, float, float, float]
    crop_xywh: tuple[float, float, float, float]
    frame_size: tuple[int, int]
    det_score: float
    pixels: npt.NDArray[np.uint8] = field(repr=False)


class Attribute(enum.StrEnum):
    """What a fake changed: the global attribute of the SOML hierarchy (Zou et al. 2024)."""

    IDENTITY = "identity"
    """Who the face is (face swaps)."""
    EXPRESSION = "expression"
    """What the face does (reenactment, lip-sync)."""
    PHYSICAL = "physical"
    """How the face looks, with identity and expression kept (blending, retouching, local edits)."""


ATTRIBUTES: tuple[Attribute, ...] = tuple(Attribute)
"""The attribute head's class order (its logits and `Score.attribute_p` follow it)."""


class FaceRegion(enum.StrEnum):
    """A local region of the SOML hierarchy, outlined on the face mesh (`streamguard.forge.masks.region_masks`)."""

    EYE = "eye"
    EYEBROW = "eyebrow"
    LIP = "lip"
    MOUTH = "mouth"
    NOSE = "nose"
    SKIN = "skin"


@dataclass(frozen=True, slots=True)
class Score:
    """The detector's verdict on one `FaceCrop`.

    Attributes:
        face: The crop that was scored.
        value: Calibrated probability that the face is manipulated.
        mask: `(S, S)` float32 per-pixel manipulation probability in crop space.
        model_version: Version string of the detector that produced it.
        attribute_p: P(attribute) in `ATTRIBUTES` order, given the face is a fake; None when the model has no
            attribute head.
    """

    face: FaceCrop
    value: float
    mask: npt.NDArray[np.float32] = field(repr=False)
    model_version: str
    attribute_p: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class RegionCoverage:
    """How much of one face region the predicted mask covers.

    Attributes:
        region: The region.
        coverage: Share of the region's pixels where the mask is at least 0.5, in [0, 1].
    """

    region: FaceRegion
    coverage: float


class ExplainFailure(enum.StrEnum):
    """Why an alert's regions could not be computed (`Explanation.failure`; counted in metrics)."""

    NO_LANDMARKS = "no_landmarks"
    """The face mesh found no face in the peak crop."""
    NO_MASK = "no_mask"
    """The model decoded no mask for the peak face."""
    ERROR = "error"
    """The landmark model failed."""


@dataclass(frozen=True, slots=True)
class RegionOutline:
    """The contour of one named region in crop pixels, drawn on the alert's overlay.

    Attributes:
        region: The region.
        points: `(K, 2)` int32 ``x, y`` vertices of its outer contour in crop pixels.
    """

    region: FaceRegion
    points: npt.NDArray[np.int32] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Explanation:
    """What an alert says was manipulated, for its peak face.

    Attributes:
        attribute: The most probable attribute; None without an attribute head.
        attribute_p: P(attribute) in `ATTRIBUTES` order; None without an attribute head.
        regions: The regions the mask covers, most covered first (those under `MIN_REGION_COVERAGE` left out);
            empty when the regions could not be computed (see `failure`).
        failure: Why `regions` could not be computed, None when they were.
        outlines: Contours of the named regions (`streamguard.explain.regions.NAMED_COVERAGE`), crop pixels.
        summary: The explanation in words (`streamguard.explain.describe`), e.g. ``mouth and lips re-animated``.
    """

    attribute: Attribute | None = None
    attribute_p: tuple[float, ...] | None = None
    regions: tuple[RegionCoverage, ...] = ()
    failure: ExplainFailure | None = None
    outlines: tuple[RegionOutline, ...] = field(default=(), repr=False)
    summary: str = ""


class EndReason(enum.StrEnum):
    """Why an alert ended (`AlertEvent.reason` of end events)."""

    BELOW_THRESHOLD = "below_threshold"
    TRACK_LOST = "track_lost"
    SHUTDOWN = "shutdown"
    STREAM_REMOVED = "stream_removed"
    RESTART = "restart"


class InferenceFailure(enum.StrEnum):
    """Why faces went unscored (the ``reason`` label of ``streamguard_inference_errors_total``)."""

    UNAVAILABLE = "unavailable"
    """The inference server was unreachable or refused, or the daemon is waiting to retry it."""
    TIMEOUT = "timeout"
    """The request ran past `inference.triton.timeout_s`."""
    ERROR = "error"
    """The model failed on the batch (a bad crop, out of memory, a bug)."""


class RefusalReason(enum.StrEnum):
    """Why the runtime API or WHIP refused a request (the ``reason`` label of ``streamguard_api_refused_total``)."""

    UNAUTHORIZED = "unauthorized"
    SCHEME_NOT_ALLOWED = "scheme_not_allowed"
    HOST_NOT_ALLOWED = "host_not_allowed"
    PATH_NOT_ALLOWED = "path_not_allowed"
    RATE_LIMITED = "rate_limited"
    SLOW_CLIENT = "slow_client"


class AlertPhase(enum.StrEnum):
    """Lifecycle of an alert, one Redis stream entry per event."""

    START = "start"
    UPDATE = "update"
    END = "end"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert lifecycle event for a face track.

    Attributes:
        phase: start, update or end.
        alert_id: Unique id of the alert (same across its start/update/end events).
        stream_id: The stream.
        track_id: The face track within the stream.
        ts: Wall-clock time of the event.
        opened_at: Wall-clock time the alert started.
        score: Rolling-window mean P(fake) at the event.
        peak_score: Highest single-frame P(fake) seen during the alert.
        window_s: Length of the rolling window in seconds.
        n_samples: Samples in the window at the event.
        reason: Why it ended (end events only; None for start and update).
        peak: The scored face at the peak, whose mask and crop are published with start/update events.
        sequence: 0 for the start event, then incremented by each published update (names mask keys).
        history: The track's level over time as ``(seconds before ts, level)`` pairs, oldest first: from a
            little before the alert opened (bounded, see `streamguard.scoring.alerts.HISTORY_SAMPLES`).
        explanation: What was manipulated, for start and update events (`streamguard.explain`); None on end
            events and before the explanation step ran.
    """

    phase: AlertPhase
    alert_id: str
    stream_id: str
    track_id: int
    ts: float
    opened_at: float
    score: float
    peak_score: float
    window_s: float
    n_samples: int
    reason: EndReason | None
    peak: Score | None = field(repr=False)
    sequence: int = 0
    history: tuple[tuple[float, float], ...] = field(default=(), repr=False)
    explanation: Explanation | None = None


@dataclass(frozen=True, slots=True)
class FaceView:
    """One face of the last analysed frame as the console draws it.

    Attributes:
        score: The face's score (box, crop region, P(fake), mask when one was decoded).
        level: The track's rolling level after this frame (what the alert rules compare).
        in_alert: Whether the track has an open alert.
    """

    score: Score
    level: float
    in_alert: bool


@dataclass(frozen=True, slots=True)
class FrameView:
    """The last analysed frame and its faces: references only, drawn only when someone watches."""

    frame: Frame
    faces: tuple[FaceView, ...]


class StreamStatus(enum.StrEnum):
    """A stream's state, as the state hash, the stream API and the console show it."""

    STARTING = "starting"
    """Opened, no frame decoded yet."""
    UP = "up"
    """Frames are arriving."""
    RECONNECTING = "reconnecting"
    """The source failed and is being retried (with backoff)."""
    WAITING = "waiting"
    """A WebRTC stream waiting for a WHIP publisher."""
    ENDED = "ended"
    """The source finished for good (the end of a file)."""
    REMOVED = "removed"
    """Removed through the API; the last state published for it."""
    STOPPED = "stopped"
    """The daemon shut down; the last state published for it."""


@dataclass(frozen=True, slots=True)
class StreamState:
    """The live state of one stream: the fields of its Redis state hash and of ``/api/streams``.

    Attributes:
        status: What the stream is doing.
        url: Its URL, credentials redacted.
        fps_in: Decoded frames per second.
        fps_analyzed: Sampled (analysed) frames per second.
        faces: Faces tracked in the last analysed frame.
        open_alerts: Alerts open on its tracks.
        last_frame_ts: Wall-clock time of the last decoded frame (0 before one).
        reconnects: Reconnections so far.
        decoded: Frames decoded.
        analyzed: Frames analysed.
        failed: Frames whose analysis failed.
        dropped: Samples dropped before analysis.
        last_error: The source's last error, credentials redacted ("" when none).
        worker_restarts: Times its worker failed and was restarted.
        worker_retry_in_s: Seconds until a pending worker restart (0 while the worker runs).
    """

    status: StreamStatus
    url: str = ""
    fps_in: float = 0.0
    fps_analyzed: float = 0.0
    faces: int = 0
    open_alerts: int = 0
    last_frame_ts: float = 0.0
    reconnects: int = 0
    decoded: int = 0
    analyzed: int = 0
    failed: int = 0
    dropped: int = 0
    last_error: str = ""
    worker_restarts: int = 0
    worker_retry_in_s: float = 0.0

    def to_fields(self) -> dict[str, str | int | float]:
        """The state hash fields (the status as its string)."""
        fields: dict[str, str | int | float] = {name: getattr(self, name) for name in self.__dataclass_fields__}
        fields["status"] = self.status.value
        return fields

    @classmethod
    def json_schema(cls) -> dict[str, object]:
        """JSON Schema properties of the fields (the OpenAPI document is generated from this)."""
        kinds = {"str": "string", "int": "integer", "float": "number"}
        properties: dict[str, object] = {}
        for name, spec in cls.__dataclass_fields__.items():
            if name == "status":
                properties[name] = {"type": "string", "enum": [status.value for status in StreamStatus]}
            else:
                properties[name] = {"type": kinds[str(spec.type)]}
        return properties
