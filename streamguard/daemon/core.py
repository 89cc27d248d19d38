"""The composition root: configuration in, running pipeline out.

`Daemon` builds every stage from a `DaemonConfig` — the shared face stage and inference batcher, one
worker (source, tracker, scorer) per stream, the Redis sink and the HTTP server — supervises the stream
tasks, publishes per-stream state every second, and shuts everything down in order on `stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from streamguard.api.registry import StreamSnapshot
from streamguard.api.runtime import RuntimeApi, check_exposure
from streamguard.api.server import ClientDeadlines, HttpServer, build_app, tls_context
from streamguard.api.streams import OwnerLookup, owned_everywhere
from streamguard.clock import SYSTEM_CLOCK, Clock
from streamguard.config import DaemonConfig, InferenceBackend, ResolvedStream, StreamConfig
from streamguard.console import Console
from streamguard.daemon import allocator
from streamguard.daemon.recovery import close_alerts_left_open
from streamguard.daemon.worker import StreamWorker
from streamguard.errors import ConfigError, StreamguardError
from streamguard.explain import Explainer
from streamguard.export.exporter import export_graphs
from streamguard.inference.batcher import MicroBatcher
from streamguard.inference.compiled import CompiledEngine, onnxruntime_runner, openvino_runner
from streamguard.inference.engine import DetectorEngine, InferenceEngine, configure_torch_threads
from streamguard.inference.triton import TritonEngine
from streamguard.ingest.backoff import Backoff
from streamguard.ingest.base import BaseSource, EventCallback, SourceEvent
from streamguard.ingest.factory import source_from_url
from streamguard.ingest.file import FileSource
from streamguard.ingest.webrtc import WebRtcSource
from streamguard.model.checkpoint import CheckpointMeta, load_checkpoint
from streamguard.model.detector import Detector, checkpoint_version, resolve_device
from streamguard.scoring.alerts import StreamScorer
from streamguard.scoring.cadence import CadenceOptions, ScoringCadence
from streamguard.sinks.embedded import EmbeddedRedis
from streamguard.sinks.metrics import Metrics
from streamguard.sinks.redis_sink import RedisSink
from streamguard.types import AlertEvent, EndReason, FaceCrop, RefusalReason, Score, StreamState, StreamStatus
from streamguard.vision.faces import FaceOptions, FaceStage
from streamguard.vision.follow import FaceFollower, FollowOptions
from streamguard.vision.tracking import FaceTracker, TrackingOptions

logger = logging.getLogger(__name__)

STATE_INTERVAL_S = 1.0
EMBEDDED_URL_FILE = "redis.url"
"""Where a daemon with an embedded Redis writes its URL, so `streamguard alerts` can find it."""
SourceFactory = Callable[[ResolvedStream, EventCallback], BaseSource]
"""Makes a stream's source from its resolved settings and the daemon's event callback."""
WORKER_HEALTHY_S = 60.0
"""A worker that ran this long before failing is restarted after the shortest delay again."""


def default_worker_backoff() -> Backoff:
    """Restart delays of a failing stream worker: 1 s doubling to 60 s, ±20 % jitter."""
    return Backoff(initial_s=1.0, max_s=60.0, jitter=0.2)


@dataclass(slots=True)
class StreamHandle:
    """A running stream: its config, source, worker and supervising task.

    Attributes:
        config: The stream's configuration.
        source: Its frames.
        worker: Its path through the pipeline.
        backoff: Restart delays after the worker fails.
        task: The supervising task.
        restarts: Times the worker failed and was restarted.
        retry_at: Wall-clock time of the pending restart, None while the worker runs.
    """

    config: StreamConfig
    source: BaseSource
    worker: StreamWorker
    backoff: Backoff = field(default_factory=default_worker_backoff)
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    retry_at: float | None = None


class Daemon:
    """Runs the whole pipeline for a configuration.

    Args:
        config: The validated configuration.
        detector: A loaded detector (tests, the demo); loaded from ``config.inference.model`` when omitted.
        worker_backoff: Makes each stream's restart delays for a failing worker (tests shorten them).
        source_factory: Makes each stream's source from its resolved settings (default `build_source`).
        other_owner: Which replica owns a stream id when it is not this one; streams added through the API are
            refused (``421``) and not restored here then (default: this daemon owns every stream).
    """

    def __init__(
        self,
        config: DaemonConfig,
        *,
        detector: Detector | None = None,
        worker_backoff: Callable[[], Backoff] = default_worker_backoff,
        source_factory: SourceFactory | None = None,
        other_owner: OwnerLookup = owned_everywhere,
    ) -> None:
        self.config = config
        self._other_owner = other_owner
        self._worker_backoff = worker_backoff
        self._source_factory: SourceFactory = source_factory or build_source
        self.metrics = Metrics()
        self.detector = detector
        self.streams: dict[str, StreamHandle] = {}
        self.sink: RedisSink | None = None
        self.server: HttpServer | None = None
        self.api: RuntimeApi | None = None
        self.console: Console | None = None
        self.redis_url: str | None = None
        self._embedded: EmbeddedRedis | None = None
        self._faces: FaceStage | None = None
        self._batcher: MicroBatcher[FaceCrop, Score] | None = None
        self._engine: InferenceEngine | None = None
        self._meta: CheckpointMeta | None = None
        self._explainer: Explainer | None = None
        self._state_task: asyncio.Task[None] | None = None
        self._recovery_task: asyncio.Task[int] | None = None
        self._trim_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._started = False
        self._stopped = False
        self.alert_listeners: list[asyncio.Queue[AlertEvent]] = []

    # ---- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the model, connect the sink, start the HTTP server, then the streams.

        Raises:
            ConfigError: The model cannot be loaded or the listen address cannot be bound (fatal errors, raised
                before any stream starts).
        """
        cfg = self.config
        allocator.tune_allocator()
        # Before anything slow: a refused start or a bad certificate fails at once.
        check_exposure(cfg.server.listen, cfg.api)
        ssl_context = tls_context(cfg.server.tls) if cfg.server.tls is not None else None
        engine, is_cuda = await self._start_engine()
        self.metrics.set_model_version(engine.version)
        self._batcher = MicroBatcher(
            engine.process,
            max_batch=cfg.inference.resolved_max_batch(is_cuda),
            max_delay_s=cfg.inference.resolved_max_delay_s(is_cuda),
            on_batch=self._record_batch,
        )
        await self._batcher.start()
        self._faces = FaceStage(face_options(cfg, crop_size=engine.input_size))
        await asyncio.to_thread(self._faces.warm_up)
        if cfg.explain.enabled:
            self._explainer = Explainer(self.metrics, min_coverage=cfg.explain.min_coverage)
        await self._start_sink()
        app = build_app(self.readiness, self.metrics.render, self.readiness_reasons)
        self.api = RuntimeApi(self, cfg.api, cfg.data_dir, self._refused, self._other_owner)
        self.api.install(app)
        whip = self.api.whip
        self.metrics.whip_sessions.set_function(lambda: whip.session_total)
        if cfg.console.enabled:
            self.console = Console(self, cfg, lambda: self._refused(RefusalReason.RATE_LIMITED))
            self.console.install(app)
            assert self.redis_url is not None  # noqa: S101 - the sink started above
            await self.console.start(self.redis_url)
        deadlines = ClientDeadlines(
            cfg.server.header_timeout_s,
            cfg.server.keepalive_timeout_s,
            lambda: self._refused(RefusalReason.SLOW_CLIENT),
        )
        self.server = HttpServer(app, cfg.server.listen, ssl_context, deadlines)
        await self.server.start()
        for stream in cfg.enabled_streams():
            await self.add_stream(stream)
        await self.api.restore_streams()
        self._state_task = asyncio.create_task(self._publish_state_forever(), name="stream-state")
        self._trim_task = asyncio.create_task(self._trim_memory_forever(), name="malloc-trim")
        assert self.sink is not None  # noqa: S101 - started above
        self._recovery_task = asyncio.create_task(
            close_alerts_left_open(self.sink, self.stream_ids, self._publish_event), name="close-alerts-left-open"
        )
        self._started = True
        logger.info("streamguard running: %d stream(s), model %s", len(self.streams), engine.version)

    async def run(self) -> None:
        """Start, wait for `request_stop`, then stop."""
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        """Ask `run` to stop (signal handlers call this)."""
        self._stop.set()

    async def stop(self) -> None:
        """Stop sources, drain the batcher, end open alerts, flush the spool and close everything; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        await self._close_sessions()
        for stream_id in list(self.streams):
            await self.remove_stream(stream_id, reason=EndReason.SHUTDOWN)
        await self._cancel_background_tasks()
        if self._batcher is not None:
            await self._batcher.close()
        if isinstance(self._engine, TritonEngine):
            self._engine.close()
        if self._faces is not None:
            await asyncio.to_thread(self._faces.close)
        if self._explainer is not None:
            await asyncio.to_thread(self._explainer.close)
        if self.sink is not None:
            await self.sink.close()
        if self.server is not None:
            await self.server.close()
        if self._embedded is not None:
            await asyncio.to_thread(self._embedded.close)
        logger.info("streamguard stopped")

    def _refused(self, reason: RefusalReason) -> None:
        self.metrics.api_refused.labels(reason=reason.value).inc()

    async def _cancel_background_tasks(self) -> None:
        for task in (self._state_task, self._recovery_task, self._trim_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _close_sessions(self) -> None:
        """End what clients hold open (WHIP sessions, console feeds) before the streams stop."""
        if self.api is not None:
            await self.api.close()
        if self.console is not None:
            await self.console.close()

    # ---- streams (the registry the runtime API builds on) ---------------------------------------------

    async def add_stream(self, stream: StreamConfig) -> None:
        """Start a stream; its failures never affect the others.

        Raises:
            ConfigError: A stream with that id is already running.
        """
        if stream.id in self.streams:
            raise ConfigError(f"streams: a stream with id {stream.id!r} is already running")
        assert self._faces is not None and self._batcher is not None  # noqa: S101 - start() ran
        resolved = stream.resolve(self.config.ingest)
        source = self._source_factory(resolved, self._on_source_event)
        tracker = FaceTracker(tracking_options(self.config, resolved.analysis_fps))
        worker = StreamWorker(
            source,
            faces=self._faces,
            tracker=tracker,
            batcher=self._batcher,
            scorer=StreamScorer(stream.id, self.config.scoring),
            metrics=self.metrics,
            on_event=self._publish_event,
            live=not isinstance(source, FileSource) or source.realtime,
            explainer=self._explainer,
            follower=FaceFollower(follow_options(self.config)),
            cadence=ScoringCadence(cadence_options(self.config)),
        )
        handle = StreamHandle(stream, source, worker, backoff=self._worker_backoff())
        self.streams[stream.id] = handle
        self.metrics.stream_up.labels(stream=stream.id).set(0)
        await source.start()
        handle.task = asyncio.create_task(self._supervise(handle), name=f"stream-{stream.id}")
        logger.info("stream %s: started (%s)", stream.id, source.display_url, extra={"stream_id": stream.id})

    async def remove_stream(self, stream_id: str, reason: EndReason = EndReason.STREAM_REMOVED) -> None:
        """Stop a stream and end its open alerts."""
        handle = self.streams.pop(stream_id, None)
        if handle is None:
            return
        # The worker is cancelled before its source closes; otherwise it would take the closed source for
        # an ended stream and end the open alerts as `track_lost` instead of `reason`.
        if handle.task is not None:
            handle.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handle.task
        await handle.source.close()
        handle.worker.finish(reason)
        if self.sink is not None:
            status = StreamStatus.STOPPED if reason is EndReason.SHUTDOWN else StreamStatus.REMOVED
            self.sink.publish_state(stream_id, {"status": status.value})
        self.metrics.forget_stream(stream_id)
        if self.console is not None:
            self.console.previews.forget(stream_id)

    def stream_ids(self) -> list[str]:
        """Ids of the running streams, sorted (`streamguard.api.registry.StreamRegistry`)."""
        return sorted(self.streams)

    def snapshot(self, stream_id: str) -> StreamSnapshot | None:
        """A running stream's configuration, state and last analysed frame, or ``None``."""
        handle = self.streams.get(stream_id)
        if handle is None:
            return None
        return StreamSnapshot(handle.config, stream_state(handle), handle.worker.last_view)

    def webrtc_source(self, stream_id: str) -> WebRtcSource | None:
        """The source of a running WebRTC stream (what WHIP publishes into), else ``None``."""
        handle = self.streams.get(stream_id)
        return handle.source if handle is not None and isinstance(handle.source, WebRtcSource) else None

    # ---- health --------------------------------------------------------------------------------------

    def readiness(self) -> dict[str, bool]:
        """The checks of ``/readyz``: model loaded (on Triton: answering), sink up or spooling, sources started."""
        checks = {
            "model_loaded": self._engine is not None and self._batcher is not None,
            "sink_ready": self.sink is not None,
            "sources_started": self._started,
        }
        if isinstance(self._engine, TritonEngine):
            checks["inference_reachable"] = self._engine.reachable
        return checks

    def readiness_reasons(self) -> dict[str, str]:
        """Why failing readiness checks fail, where there is more to say than the check's name."""
        if isinstance(self._engine, TritonEngine) and not self._engine.reachable:
            return {"inference_reachable": self._engine.last_error}
        return {}

    # ---- internals -----------------------------------------------------------------------------------

    async def _start_engine(self) -> tuple[InferenceEngine, bool]:
        """The detector backend, ready to score, and whether it runs on a local CUDA device."""
        cfg = self.config
        mask_min_p = cfg.scoring.off_threshold
        backend = InferenceBackend.TORCH if self.detector is not None else cfg.inference.backend
        if backend is InferenceBackend.AUTO:
            backend = await asyncio.to_thread(self._automatic_backend)
        if backend is InferenceBackend.TRITON:
            triton = TritonEngine(cfg.inference.triton, mask_min_p=mask_min_p)
            await asyncio.to_thread(triton.connect)
            self._engine = triton
            return triton, False
        threads = configure_torch_threads(cfg.inference.torch_threads)
        if backend in COMPILED_BACKENDS:
            self._engine = await asyncio.to_thread(self._load_compiled, backend, threads, mask_min_p)
            return self._engine, False
        detector = await self._load_detector()
        self._engine = DetectorEngine(detector, mask_min_p=mask_min_p)
        return self._engine, detector.device.type == "cuda"

    def _automatic_backend(self) -> InferenceBackend:
        """`auto`: PyTorch on a CUDA device or for an attribute head; ONNX Runtime on the CPU otherwise."""
        inference = self.config.inference
        if inference.device != "cpu" and resolve_device(inference.device).type == "cuda":
            return InferenceBackend.TORCH
        attribute_head = self._checkpoint_meta().attribute_head
        return InferenceBackend.TORCH if attribute_head else InferenceBackend.ONNXRUNTIME

    def _checkpoint_meta(self) -> CheckpointMeta:
        """The configured checkpoint's metadata, read once (choosing the backend and loading it both need it)."""
        if self._meta is None:
            path = Path(self.config.inference.model)
            try:
                self._meta = load_checkpoint(path)[1]
            except (OSError, StreamguardError) as e:
                raise ConfigError(f"inference.model: cannot load {path}: {e}") from e
        return self._meta

    def _load_compiled(self, backend: InferenceBackend, threads: int, mask_min_p: float) -> CompiledEngine:
        """The checkpoint's exported graphs (exported once per version into data_dir) on ONNX Runtime or OpenVINO."""
        inference = self.config.inference
        path = Path(inference.model)
        meta = self._checkpoint_meta()
        if meta.attribute_head:
            raise ConfigError(
                f"inference.backend: {backend.value} runs exported graphs, which leave out the attribute head of "
                f"{path}; use torch (or auto)"
            )
        version = checkpoint_version(path, meta)
        try:
            graphs = export_graphs(path, self.config.data_dir / "compiled", version)
        except (OSError, StreamguardError, RuntimeError) as e:
            raise ConfigError(f"inference.model: cannot export {path} for {backend.value}: {e}") from e
        if backend is InferenceBackend.OPENVINO:
            precision = "bf16" if inference.precision == "bf16" else "f32"
            runner = functools.partial(openvino_runner, precision=precision, threads=threads)
        else:
            runner = functools.partial(onnxruntime_runner, threads=threads)
        engine = CompiledEngine.load(graphs, runner, version, meta.input_size, mask_min_p)
        engine.warmup()
        return engine

    async def _load_detector(self) -> Detector:
        if self.detector is None:
            path = Path(self.config.inference.model)
            try:
                self.detector = await asyncio.to_thread(Detector.load, path, self.config.inference.device)
            except (OSError, StreamguardError) as e:
                raise ConfigError(f"inference.model: cannot load {path}: {e}") from e
        return self.detector

    async def _start_sink(self) -> None:
        redis_cfg = self.config.redis
        url = redis_cfg.url
        if url is None:
            self._embedded = await asyncio.to_thread(EmbeddedRedis, self.config.data_dir)
            url = self._embedded.url
            (self.config.data_dir / EMBEDDED_URL_FILE).write_text(url + "\n")
            logger.info("embedded Redis running; connect with: redis-cli -s %s", self._embedded.socket_path)
        self.redis_url = url
        self.sink = RedisSink(
            url,
            prefix=redis_cfg.prefix,
            alerts_maxlen=redis_cfg.alerts_maxlen,
            mask_ttl_s=redis_cfg.mask_ttl_s,
            spool_max_events=redis_cfg.spool_max_events,
            spool_max_bytes=redis_cfg.spool_max_bytes,
            spool_path=redis_cfg.spool_path,
            metrics=self.metrics,
            retry_initial_s=redis_cfg.retry_initial_s,
            retry_max_s=redis_cfg.retry_max_s,
        )
        await self.sink.start()

    async def _supervise(self, handle: StreamHandle) -> None:
        await supervise(handle, self.metrics)

    def _publish_event(self, event: AlertEvent) -> None:
        logger.info(
            "stream %s: alert %s %s (track %d, score %.2f, peak %.2f%s)",
            event.stream_id,
            event.phase.value,
            event.alert_id,
            event.track_id,
            event.score,
            event.peak_score,
            f", {event.reason}" if event.reason else "",
            extra={"stream_id": event.stream_id},
        )
        if self.sink is not None:
            self.sink.publish_alert(event)
        for queue in self.alert_listeners:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)

    def _on_source_event(self, event: SourceEvent) -> None:
        if event.kind == "sampled":
            return  # frames_analyzed_total counts frames the worker analysed, not frames the sampler picked
        self.metrics.record_source_event(event.stream_id, event.kind, event.reason, event.count)

    def _record_batch(self, size: int, seconds: float) -> None:
        self.metrics.inference_batch_size.observe(size)
        self.metrics.inference_seconds.observe(seconds)
        if self._batcher is not None:
            self.metrics.inference_queue_depth.set(self._batcher.pending)

    async def _trim_memory_forever(self) -> None:
        while True:
            await asyncio.sleep(allocator.TRIM_INTERVAL_S)
            await asyncio.to_thread(allocator.trim)

    async def _publish_state_forever(self) -> None:
        while True:
            self.publish_state()
            await asyncio.sleep(STATE_INTERVAL_S)

    def publish_state(self) -> None:
        """Write every stream's state hash (status, fps, faces, open alerts, last frame, reconnects)."""
        if self.sink is None:
            return
        for stream_id, handle in self.streams.items():
            self.sink.publish_state(stream_id, stream_state(handle).to_fields())


async def supervise(handle: StreamHandle, metrics: Metrics, clock: Clock = SYSTEM_CLOCK) -> None:
    """Run a stream's worker; an unexpected failure is logged with its traceback and the worker restarted.

    Restarts back off exponentially (with jitter, capped) while the worker keeps failing, so a stream that
    fails at once does not spin; one that ran `WORKER_HEALTHY_S` before failing restarts at the shortest delay.
    """
    stream_id = handle.config.id
    while True:
        started = clock.monotonic()
        try:
            await handle.worker.run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:  # the supervisor's job: any worker bug is logged and the stream restarted
            if clock.monotonic() - started >= WORKER_HEALTHY_S:
                handle.backoff.reset()
            delay = handle.backoff.next_delay()
            handle.restarts += 1
            handle.retry_at = clock.time() + delay
            logger.exception(
                "stream %s: worker failed; restart %d in %.1f s", stream_id, handle.restarts, delay,
                extra={"stream_id": stream_id},
            )  # fmt: skip
            metrics.stream_errors.labels(stream=stream_id).inc()
            metrics.worker_restarts.labels(stream=stream_id).inc()
            await clock.sleep(delay)
            handle.retry_at = None


def stream_state(handle: StreamHandle, clock: Clock = SYSTEM_CLOCK) -> StreamState:
    """The live state of a stream, from its source's statistics and its worker."""
    stats = handle.source.stats.snapshot()
    status = handle.worker.status
    if status.ended:
        state = StreamStatus.ENDED
    elif stats.up:
        state = StreamStatus.UP
    elif isinstance(handle.source, WebRtcSource):
        state = StreamStatus.WAITING  # for a WHIP publisher
    elif stats.reconnects or stats.errors:
        state = StreamStatus.RECONNECTING
    else:
        state = StreamStatus.STARTING
    retry_in = 0.0 if handle.retry_at is None else round(max(0.0, handle.retry_at - clock.time()), 2)
    return StreamState(
        status=state,
        url=handle.source.display_url,
        fps_in=round(stats.fps_in, 2),
        fps_analyzed=round(stats.fps_sampled, 2),
        faces=status.faces,
        open_alerts=handle.worker.scorer.open_alerts,
        last_frame_ts=stats.last_frame_wall or 0.0,
        reconnects=stats.reconnects,
        decoded=stats.decoded,
        analyzed=status.analyzed,
        failed=status.failed,
        dropped=stats.dropped_total,
        last_error=stats.last_error,
        worker_restarts=handle.restarts,
        worker_retry_in_s=retry_in,
    )


COMPILED_BACKENDS = (InferenceBackend.ONNXRUNTIME, InferenceBackend.OPENVINO)


def build_source(stream: ResolvedStream, on_event: EventCallback) -> BaseSource:
    """Create the source of a configured stream.

    Raises:
        ConfigError: A stream other than a WebRTC one has no URL.
    """
    if stream.kind == "webrtc":
        return WebRtcSource(stream.id, stream.analysis_fps, stream.queue_size, on_event, max_pixels=stream.max_pixels)
    if stream.url is None:
        raise ConfigError(f"streams.{stream.id}: a {stream.kind} stream has no URL to pull from")
    options: dict[str, object] = {
        "analysis_fps": stream.analysis_fps,
        "transport": stream.transport,
        "open_timeout_s": stream.open_timeout_s,
        "read_timeout_s": stream.read_timeout_s,
        "stall_timeout_s": stream.stall_timeout_s,
        "backoff_initial_s": stream.backoff_initial_s,
        "backoff_max_s": stream.backoff_max_s,
        "backoff_jitter": stream.backoff_jitter,
        "queue_size": stream.queue_size,
        "max_pixels": stream.max_pixels,
        "on_event": on_event,
    }
    # Unset file options are left out so that `?loop=1&realtime=1` in a local path can set them.
    if stream.loop is not None:
        options["loop"] = stream.loop
    if stream.realtime is not None:
        options["realtime"] = stream.realtime
    return source_from_url(stream.id, stream.url, **options)


def face_options(cfg: DaemonConfig, crop_size: int) -> FaceOptions:
    """The face stage's options from the ``faces`` section, cropping at the model's input size."""
    faces = cfg.faces
    return FaceOptions(
        crop_size=crop_size,
        model=faces.model,
        min_confidence=faces.min_confidence,
        min_face_px=faces.min_face_px,
        max_faces=faces.max_faces,
        crop_scale=faces.crop_scale,
        threads=faces.detector_threads,
    )


def cadence_options(cfg: DaemonConfig) -> CadenceOptions:
    """How often calm tracks are scored, from the ``scoring`` section (calm stays below `off_threshold`)."""
    scoring = cfg.scoring
    calm_below = min(scoring.calm_below, scoring.off_threshold)
    return CadenceOptions(calm_every=scoring.calm_every, calm_below=calm_below, calm_after_s=scoring.calm_after_s)


def follow_options(cfg: DaemonConfig) -> FollowOptions:
    """How a stream follows its faces between detections, from the ``faces`` section."""
    return FollowOptions(detect_every=cfg.faces.detect_every, min_match=cfg.faces.follow_min_match)


def tracking_options(cfg: DaemonConfig, analysis_fps: float) -> TrackingOptions:
    """A stream's tracker options from the ``tracking`` section at its analysis rate."""
    tracking = cfg.tracking
    return TrackingOptions(
        analysis_fps=analysis_fps,
        lost_track_buffer_s=tracking.lost_track_buffer_frames / analysis_fps,
        max_age_s=tracking.max_age_s,
        track_activation_threshold=tracking.track_activation_threshold,
        minimum_iou_threshold=tracking.minimum_iou_threshold,
        minimum_consecutive_frames=tracking.minimum_consecutive_frames,
    )


def embedded_redis_url(data_dir: Path) -> str:
    """The URL of the embedded Redis of a daemon using `data_dir` (as written at its start).

    Raises:
        ConfigError: No daemon with an embedded Redis has run with this data dir.
    """
    try:
        return (data_dir / EMBEDDED_URL_FILE).read_text().strip()
    except OSError as e:
        raise ConfigError(f"no embedded Redis found in {data_dir}: start the daemon first, or pass --redis URL") from e
