"""Prometheus metrics of the daemon, held in one private registry per `Metrics` instance.

Every name carries the ``streamguard_`` prefix and base units; counters end in ``_total``. The only labels
are bounded sets: ``stream`` (the configured stream id), ``reason`` (a fixed vocabulary of drop reasons),
``event`` (start/update/end) and ``version``. Track ids never become labels: a busy camera would create an
unbounded number of series.

`METRIC_NAMES` lists every metric as it is queried (counters with ``_total``, histograms by their base name,
whose series add ``_bucket``, ``_sum`` and ``_count``) so dashboards and alert rules can be generated from it.
"""

from __future__ import annotations

import platform

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from streamguard import __version__
from streamguard.types import ExplainFailure, RefusalReason

PREFIX = "streamguard_"

FRAMES_DECODED = PREFIX + "frames_decoded_total"
FRAMES_ANALYZED = PREFIX + "frames_analyzed_total"
FRAMES_DROPPED = PREFIX + "frames_dropped_total"
FACES_DETECTED = PREFIX + "faces_detected_total"
FACE_DETECTOR_RUNS = PREFIX + "face_detector_runs_total"
FACES_UNSCORED = PREFIX + "faces_unscored_total"
STREAM_UP = PREFIX + "stream_up"
STREAM_RECONNECTS = PREFIX + "stream_reconnects_total"
STREAM_STALLS = PREFIX + "stream_stalls_total"
STREAM_ERRORS = PREFIX + "stream_errors_total"
WORKER_RESTARTS = PREFIX + "worker_restarts_total"
INFERENCE_BATCH_SIZE = PREFIX + "inference_batch_size"
INFERENCE_SECONDS = PREFIX + "inference_seconds"
INFERENCE_QUEUE_DEPTH = PREFIX + "inference_queue_depth"
INFERENCE_ERRORS = PREFIX + "inference_errors_total"
E2E_LATENCY_SECONDS = PREFIX + "e2e_latency_seconds"
ALERT_LATENCY_SECONDS = PREFIX + "alert_latency_seconds"
ALERTS = PREFIX + "alerts_total"
SINK_SPOOL_DEPTH = PREFIX + "sink_spool_depth"
SINK_DROPPED = PREFIX + "sink_dropped_total"
SINK_SPOOL_BYTES = PREFIX + "sink_spool_bytes"
SINK_PUBLISHED = PREFIX + "sink_published_total"
EXPLANATIONS = PREFIX + "explanations_total"
EXPLAIN_SECONDS = PREFIX + "explain_seconds"
ACTIVE_TRACKS = PREFIX + "active_tracks"
OPEN_ALERTS = PREFIX + "open_alerts"
MODEL_INFO = PREFIX + "model_info"
BUILD_INFO = PREFIX + "build_info"
API_REFUSED = PREFIX + "api_refused_total"
WHIP_SESSIONS = PREFIX + "whip_sessions"

METRIC_NAMES: tuple[str, ...] = (
    FRAMES_DECODED,
    FRAMES_ANALYZED,
    FRAMES_DROPPED,
    FACES_DETECTED,
    FACE_DETECTOR_RUNS,
    FACES_UNSCORED,
    STREAM_UP,
    STREAM_RECONNECTS,
    STREAM_STALLS,
    STREAM_ERRORS,
    WORKER_RESTARTS,
    INFERENCE_BATCH_SIZE,
    INFERENCE_SECONDS,
    INFERENCE_QUEUE_DEPTH,
    INFERENCE_ERRORS,
    E2E_LATENCY_SECONDS,
    ALERT_LATENCY_SECONDS,
    ALERTS,
    SINK_SPOOL_DEPTH,
    SINK_DROPPED,
    SINK_SPOOL_BYTES,
    SINK_PUBLISHED,
    EXPLANATIONS,
    EXPLAIN_SECONDS,
    ACTIVE_TRACKS,
    OPEN_ALERTS,
    MODEL_INFO,
    BUILD_INFO,
    API_REFUSED,
    WHIP_SESSIONS,
)

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
INFERENCE_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
E2E_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
EXPLAIN_SECONDS_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
ALERT_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)

STREAM_LABEL = "stream"


class Metrics:
    """The daemon's metrics in a private `CollectorRegistry` (tests build many instances side by side).

    The metric objects are public attributes; update them directly, e.g.
    ``metrics.frames_decoded.labels(stream=stream_id).inc()``, or through the helpers below.

    Attributes:
        registry: The registry `render` serialises.
        frames_decoded: Frames decoded per stream (every frame, sampled or not).
        frames_analyzed: Sampled frames that went through face detection.
        frames_dropped: Frames dropped, by stream and reason (e.g. ``analysis_behind``).
        faces_detected: Faces found by the detector.
        face_detector_runs: Samples the face detector ran on, by stream and reason (``scheduled`` every
            ``faces.detect_every`` samples, ``face_lost`` when a followed face was lost); the other analysed
            samples had their faces followed.
        faces_unscored: Tracked faces left unscored on a sample because their track was calm
            (``scoring.calm_every``).
        stream_up: 1 while the stream delivers frames, 0 while it is down or reconnecting.
        stream_reconnects: Reconnection attempts.
        stream_stalls: Stalls detected by the last-frame watchdog.
        stream_errors: Errors reported by the source (decode, open, unsupported codec...).
        worker_restarts: Times a stream's worker failed unexpectedly and was restarted (with backoff).
        inference_batch_size: Items per micro-batch.
        inference_seconds: Wall time of one micro-batch in the model (with `backend: triton`, the requests'
            round trip).
        inference_queue_depth: Items waiting for the micro-batcher.
        inference_errors: Faces left unscored because their batch failed, by stream and
            `streamguard.types.InferenceFailure` reason.
        e2e_latency_seconds: Frame arrival to its score.
        alert_latency_seconds: Event time of an alert ``start`` (the arrival of the frame that triggered it)
            to the moment Redis acknowledged its entry; observed by the Redis sink.
        alerts: Alert events emitted, by stream and event (start, update, end); counted by the Redis sink
            when an event is handed to it.
        sink_spool_depth: Alert events waiting to be written to Redis.
        sink_dropped: Alert events given up (spool overflow, or left unwritten at shutdown without a disk
            spool).
        sink_published: Alert events written to Redis.
        explanations: Alert events explained, by result (``ok``, or the `streamguard.types.ExplainFailure`
            that left their regions empty).
        explain_seconds: Time to explain one alert event (face mesh, region coverage).
        active_tracks: Face tracks currently followed in the stream.
        open_alerts: Alerts currently open in the stream.
        model_info: Always 1, labelled with the detector version.
        build_info: Always 1, labelled with the streamguard and Python versions.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        reg = self.registry
        stream = [STREAM_LABEL]
        self.frames_decoded = Counter(FRAMES_DECODED, "Frames decoded.", stream, registry=reg)
        self.frames_analyzed = Counter(FRAMES_ANALYZED, "Sampled frames analysed.", stream, registry=reg)
        self.frames_dropped = Counter(FRAMES_DROPPED, "Frames dropped, by reason.", [*stream, "reason"], registry=reg)
        self.faces_detected = Counter(FACES_DETECTED, "Faces detected.", stream, registry=reg)
        self.face_detector_runs = Counter(
            FACE_DETECTOR_RUNS, "Samples the face detector ran on, by reason.", [*stream, "reason"], registry=reg
        )
        self.faces_unscored = Counter(FACES_UNSCORED, "Tracked faces not scored: calm track.", stream, registry=reg)
        self.stream_up = Gauge(STREAM_UP, "1 while the stream delivers frames.", stream, registry=reg)
        self.stream_reconnects = Counter(STREAM_RECONNECTS, "Reconnection attempts.", stream, registry=reg)
        self.stream_stalls = Counter(STREAM_STALLS, "Stalls seen by the watchdog.", stream, registry=reg)
        self.stream_errors = Counter(STREAM_ERRORS, "Errors reported by the source.", stream, registry=reg)
        self.worker_restarts = Counter(
            WORKER_RESTARTS, "Stream workers restarted after an unexpected failure.", stream, registry=reg
        )
        self.inference_batch_size = Histogram(
            INFERENCE_BATCH_SIZE, "Items per inference micro-batch.", buckets=BATCH_SIZE_BUCKETS, registry=reg
        )
        self.inference_seconds = Histogram(
            INFERENCE_SECONDS, "Model time per micro-batch.", buckets=INFERENCE_SECONDS_BUCKETS, registry=reg
        )
        self.inference_queue_depth = Gauge(INFERENCE_QUEUE_DEPTH, "Items waiting for inference.", registry=reg)
        self.inference_errors = Counter(
            INFERENCE_ERRORS, "Faces left unscored by a failed batch, by reason.", [*stream, "reason"], registry=reg
        )
        self.e2e_latency_seconds = Histogram(
            E2E_LATENCY_SECONDS, "Frame arrival to score.", buckets=E2E_LATENCY_BUCKETS, registry=reg
        )
        self.alert_latency_seconds = Histogram(
            ALERT_LATENCY_SECONDS,
            "Alert start event time (triggering frame arrival) to its entry acknowledged by Redis.",
            buckets=ALERT_LATENCY_BUCKETS,
            registry=reg,
        )
        self.alerts = Counter(ALERTS, "Alert events, by event.", [*stream, "event"], registry=reg)
        self.sink_spool_depth = Gauge(SINK_SPOOL_DEPTH, "Alert events waiting for Redis.", registry=reg)
        self.sink_spool_bytes = Gauge(SINK_SPOOL_BYTES, "Bytes of the alert events waiting for Redis.", registry=reg)
        self.sink_dropped = Counter(SINK_DROPPED, "Alert events given up by the sink.", registry=reg)
        self.sink_published = Counter(SINK_PUBLISHED, "Alert events written to Redis.", registry=reg)
        self.explanations = Counter(EXPLANATIONS, "Alert events explained, by result.", ["result"], registry=reg)
        for result in ("ok", *(failure.value for failure in ExplainFailure)):
            self.explanations.labels(result=result)  # present at 0 from the start, for rate() and alerting
        self.explain_seconds = Histogram(
            EXPLAIN_SECONDS, "Time to explain one alert event.", buckets=EXPLAIN_SECONDS_BUCKETS, registry=reg
        )
        self.active_tracks = Gauge(ACTIVE_TRACKS, "Face tracks followed.", stream, registry=reg)
        self.open_alerts = Gauge(OPEN_ALERTS, "Alerts open.", stream, registry=reg)
        self.api_refused = Counter(API_REFUSED, "API and WHIP requests refused, by reason.", ["reason"], registry=reg)
        for reason in RefusalReason:
            self.api_refused.labels(reason=reason.value)
        self.whip_sessions = Gauge(WHIP_SESSIONS, "WHIP sessions publishing or negotiating.", registry=reg)
        self.model_info = Gauge(MODEL_INFO, "Detector version (value is always 1).", ["version"], registry=reg)
        self.build_info = Gauge(BUILD_INFO, "Build (value is always 1).", ["version", "python"], registry=reg)
        self.build_info.labels(version=__version__, python=platform.python_version()).set(1)

    def set_model_version(self, version: str) -> None:
        """Publish the detector version as ``streamguard_model_info{version=...} 1`` (replacing any other)."""
        self.model_info.clear()
        self.model_info.labels(version=version).set(1)

    def record_source_event(self, stream_id: str, kind: str, reason: str = "", count: int = 1) -> None:
        """Apply one ingest source event to the stream metrics.

        Args:
            stream_id: The stream.
            kind: ``decoded``, ``sampled``, ``dropped``, ``reconnect``, ``stall``, ``up``, ``down`` or
                ``error``; other kinds are ignored so new ones can be added without breaking metrics.
            reason: Drop reason (``dropped`` only).
            count: How many frames or occurrences the event stands for.
        """
        counters = {
            "decoded": self.frames_decoded,
            "sampled": self.frames_analyzed,
            "reconnect": self.stream_reconnects,
            "stall": self.stream_stalls,
            "error": self.stream_errors,
        }
        if kind in counters:
            counters[kind].labels(stream=stream_id).inc(count)
        elif kind == "dropped":
            self.frames_dropped.labels(stream=stream_id, reason=reason or "unknown").inc(count)
        elif kind in ("up", "down"):
            self.stream_up.labels(stream=stream_id).set(1 if kind == "up" else 0)

    def forget_stream(self, stream_id: str) -> None:
        """Remove every series labelled with `stream_id` (the stream was removed from the daemon)."""
        for metric in self._per_stream_metrics():
            metric.remove_by_labels({STREAM_LABEL: stream_id})

    def render(self) -> tuple[bytes, str]:
        """Serialise the registry in the Prometheus text format.

        Returns:
            ``(body, content_type)`` ready for an HTTP response.
        """
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _per_stream_metrics(self) -> tuple[Counter | Gauge, ...]:
        return (
            self.frames_decoded,
            self.frames_analyzed,
            self.frames_dropped,
            self.faces_detected,
            self.face_detector_runs,
            self.faces_unscored,
            self.stream_up,
            self.stream_reconnects,
            self.stream_stalls,
            self.stream_errors,
            self.worker_restarts,
            self.inference_errors,
            self.alerts,
            self.active_tracks,
            self.open_alerts,
        )
