"""`streamguard scan`: the daemon's pipeline over recordings, as offline replays, into a report.

Every file runs through the same stages as a live stream — sampling at ``analysis_fps``, BlazeFace, the
tracker, the shared micro-batcher and the alert hysteresis — with media time as the scoring clock, so an
alert's start and end are positions in the file. Files are scanned a few at a time (their faces share the
batches). A still image has no duration for the alert rules: it counts as alerted when its most fake face
scores at least ``on_threshold``. An undecodable file is listed with the reason and never stops the scan.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from streamguard.config import DaemonConfig
from streamguard.daemon.core import cadence_options, face_options, follow_options, tracking_options
from streamguard.daemon.worker import StreamWorker
from streamguard.datasets.folder_layout import media_kind
from streamguard.explain import Explainer
from streamguard.inference.batcher import MicroBatcher
from streamguard.inference.engine import DetectorEngine, configure_torch_threads
from streamguard.ingest.file import FileSource
from streamguard.model.detector import Detector
from streamguard.scoring.alerts import StreamScorer
from streamguard.scoring.cadence import ScoringCadence
from streamguard.sinks.encoding import attribute_p_dict, regions_list
from streamguard.sinks.metrics import Metrics
from streamguard.sinks.redis_sink import RedisSink
from streamguard.types import AlertEvent, AlertPhase, Explanation, FaceCrop, Frame, Score
from streamguard.vision.faces import FaceStage
from streamguard.vision.follow import FaceFollower
from streamguard.vision.tracking import FaceTracker

logger = logging.getLogger(__name__)

STILL_IMAGE_REASON = "still_image"
"""End reason of a still image's alert (one score, no duration for the hysteresis)."""


@dataclass
class ScanAlert:
    """One alert of a scanned file.

    Attributes:
        alert_id: The alert's id (as published to Redis with ``--redis``).
        track_id: The face track.
        start_s: Media time the alert started (the hysteresis decided), in seconds.
        end_s: Media time it ended.
        peak: Highest single-frame P(fake) during the alert.
        score: Rolling-window level when it ended.
        reason: Why it ended (``below_threshold``, ``track_lost`` at the end of the file, ``still_image``).
        attribute: What its last explanation says was changed (``identity``, ``expression``, ``physical``),
            ``""`` without an attribute head or an explanation.
        attribute_p: P(attribute) by attribute, empty without.
        regions: ``{"region", "coverage"}`` of its last explanation, most covered first.
        explanation: The explanation in words (`streamguard.explain.describe`).
    """

    alert_id: str
    track_id: int
    start_s: float
    end_s: float
    peak: float
    score: float
    reason: str
    attribute: str = ""
    attribute_p: dict[str, float] = field(default_factory=dict)
    regions: list[dict[str, Any]] = field(default_factory=list)
    explanation: str = ""


@dataclass
class FileScan:
    """The scan of one file.

    Attributes:
        path: The file as given (or found under a given folder).
        label: ``real`` or ``fake`` from a ``real/`` or ``fake/`` folder in its path, else None.
        kind: ``video`` or ``image``.
        alerts: Its alerts, in order.
        error: Why it could not be scanned (decode failure), else None.
        frames_analyzed: Sampled frames that went through the pipeline.
        faces_scored: Face crops scored.
        max_p: Highest single-face P(fake), None without a face.
        mean_p: Mean of each analysed frame's most fake face, None without a face.
    """

    path: str
    label: str | None
    kind: str
    alerts: list[ScanAlert] = field(default_factory=list)
    error: str | None = None
    frames_analyzed: int = 0
    faces_scored: int = 0
    max_p: float | None = None
    mean_p: float | None = None

    @property
    def alerted(self) -> bool:
        """Whether the file raised at least one alert."""
        return bool(self.alerts)


def collect_media(inputs: Sequence[Path]) -> list[Path]:
    """The media files among `inputs`: files as given, folders searched recursively (sorted, hidden skipped).

    Raises:
        FileNotFoundError: An input does not exist.
    """
    found: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*"))
                if p.is_file() and media_kind(p) and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )  # fmt: skip
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


def label_of(path: Path) -> str | None:
    """``real`` or ``fake`` from the nearest ``real/`` or ``fake/`` folder above `path`, else None."""
    for part in reversed(path.parent.parts):
        if part in ("real", "fake"):
            return part
    return None


class Scanner:
    """Runs files through the pipeline; one instance per scan (the model and stages are built once).

    Args:
        config: The daemon configuration (faces, tracking, inference, scoring, ingest sampling).
        detector: The loaded detector.
        concurrency: Files scanned at once.
        redis_url: Also publish every alert event to this Redis, as the daemon does.
    """

    def __init__(
        self, config: DaemonConfig, detector: Detector, *, concurrency: int = 4, redis_url: str | None = None
    ) -> None:
        self.explainer: Explainer | None = None
        self.config = config
        self.detector = detector
        self.concurrency = max(1, concurrency)
        self.redis_url = redis_url
        self.metrics = Metrics()

    async def scan(self, paths: Iterable[Path], on_done: Callable[[FileScan], None] | None = None) -> list[FileScan]:
        """Scan every path (in order in the result); `on_done` is called as each file finishes."""
        cfg = self.config
        configure_torch_threads(cfg.inference.torch_threads)
        is_cuda = self.detector.device.type == "cuda"
        engine = DetectorEngine(self.detector, mask_min_p=cfg.scoring.off_threshold)
        batcher: MicroBatcher[FaceCrop, Score] = MicroBatcher(
            engine.process,
            max_batch=cfg.inference.resolved_max_batch(is_cuda),
            max_delay_s=cfg.inference.resolved_max_delay_s(is_cuda),
        )
        faces = FaceStage(face_options(cfg, crop_size=self.detector.input_size))
        if cfg.explain.enabled:
            self.explainer = Explainer(self.metrics, min_coverage=cfg.explain.min_coverage)
        sink = self._sink()
        await batcher.start()
        if sink is not None:
            await sink.start()
        slots = asyncio.Semaphore(self.concurrency)
        try:
            await asyncio.to_thread(faces.warm_up)

            async def one(index: int, path: Path) -> FileScan:
                async with slots:
                    result = await self._scan_file(index, path, faces, batcher, sink)
                if on_done is not None:
                    on_done(result)
                return result

            return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(paths))))
        finally:
            await batcher.close()
            await asyncio.to_thread(faces.close)
            if self.explainer is not None:
                await asyncio.to_thread(self.explainer.close)
            if sink is not None:
                await sink.close()

    async def _still_alert(self, max_p: float, best: Score | None) -> ScanAlert:
        """The alert of a still image whose most fake face reaches ``on_threshold``, explained by that face."""
        still = ScanAlert("", 0, 0.0, 0.0, max_p, max_p, STILL_IMAGE_REASON)
        if self.explainer is None or best is None:
            return still
        return _explained(still, await asyncio.to_thread(self.explainer.explain, best))

    def _sink(self) -> RedisSink | None:
        if self.redis_url is None:
            return None
        redis_cfg = self.config.redis
        return RedisSink(
            self.redis_url, prefix=redis_cfg.prefix, alerts_maxlen=redis_cfg.alerts_maxlen,
            mask_ttl_s=redis_cfg.mask_ttl_s, spool_max_events=redis_cfg.spool_max_events,
            spool_path=redis_cfg.spool_path, metrics=self.metrics,
        )  # fmt: skip

    async def _scan_file(
        self,
        index: int,
        path: Path,
        faces: FaceStage,
        batcher: MicroBatcher[FaceCrop, Score],
        sink: RedisSink | None,
    ) -> FileScan:
        kind = media_kind(path) or "video"
        result = FileScan(path=str(path), label=label_of(path), kind=kind)
        stream_id = f"scan{index}"
        analysis_fps = self.config.ingest.analysis_fps
        source = FileSource(stream_id, str(path), analysis_fps=analysis_fps, realtime=False, loop=False)
        collector = _Collector(result, sink)

        worker = StreamWorker(
            source, faces=faces, tracker=FaceTracker(tracking_options(self.config, analysis_fps)), batcher=batcher,
            scorer=StreamScorer(stream_id, self.config.scoring), metrics=self.metrics, on_event=collector.on_event,
            live=False, wall_clock_events=False, on_scores=collector.on_scores, explainer=self.explainer,
            follower=FaceFollower(follow_options(self.config)),
            cadence=ScoringCadence(cadence_options(self.config)),
        )  # fmt: skip
        await source.start()
        try:
            await worker.run()
        finally:
            await source.close()  # raises nothing: it stops the thread, closes the queue and logs a hung thread
        result.frames_analyzed = worker.status.analyzed
        if collector.frame_peaks:
            result.max_p = max(collector.frame_peaks)
            result.mean_p = sum(collector.frame_peaks) / len(collector.frame_peaks)
        stats = source.stats.snapshot()
        if stats.decoded == 0:
            result.error = stats.last_error or "no decodable video frames"
        elif kind == "image" and result.max_p is not None and result.max_p >= self.config.scoring.on_threshold:
            result.alerts.append(await self._still_alert(result.max_p, collector.best))
        result.alerts.sort(key=lambda a: a.start_s)
        return result


@dataclass
class _Collector:
    """What one file's worker reports: its frames' peak scores, its alerts and their explanations."""

    result: FileScan
    sink: RedisSink | None
    frame_peaks: list[float] = field(default_factory=list)
    best: Score | None = None  # the most fake face of the file (a still image's alert is explained with it)
    explanations: dict[str, Explanation] = field(default_factory=dict)

    def on_scores(self, frame: Frame, scores: list[Score]) -> None:
        self.result.faces_scored += len(scores)
        if scores:
            top = max(scores, key=lambda s: s.value)
            self.frame_peaks.append(top.value)
            if self.best is None or top.value > self.best.value:
                self.best = top

    def on_event(self, event: AlertEvent) -> None:
        if self.sink is not None:
            self.sink.publish_alert(event)
        if event.explanation is not None:
            self.explanations[event.alert_id] = event.explanation
        if event.phase is AlertPhase.END:
            self.result.alerts.append(_scan_alert(event, self.explanations.get(event.alert_id)))


def _explained(alert: ScanAlert, explanation: Explanation | None) -> ScanAlert:
    if explanation is None:
        return alert
    return replace(
        alert, attribute=explanation.attribute.value if explanation.attribute is not None else "",
        attribute_p=attribute_p_dict(explanation), regions=regions_list(explanation), explanation=explanation.summary,
    )  # fmt: skip


def _scan_alert(event: AlertEvent, explanation: Explanation | None) -> ScanAlert:
    return _explained(_bare_alert(event), explanation)


def _bare_alert(event: AlertEvent) -> ScanAlert:
    return ScanAlert(
        alert_id=event.alert_id, track_id=event.track_id, start_s=round(event.opened_at, 3), end_s=round(event.ts, 3),
        peak=round(event.peak_score, 4), score=round(event.score, 4), reason=str(event.reason or ""),
    )  # fmt: skip


def summarize(files: list[FileScan]) -> dict[str, Any]:
    """Counts a script needs: alerted fake and real files (all, videos, images), errors."""
    summary: dict[str, Any] = {"n_files": len(files), "n_errors": sum(f.error is not None for f in files)}
    for label in ("fake", "real"):
        for kind in ("all", "video", "image"):
            chosen = [f for f in files if f.label == label and f.error is None and kind in ("all", f.kind)]
            alerted = sum(f.alerted for f in chosen)
            key = f"{label}_{kind}" if kind != "all" else label
            summary[key] = {"n": len(chosen), "alerted": alerted, "share": alerted / len(chosen) if chosen else None}
    return summary


def report_json(files: list[FileScan], detector: Detector, config: DaemonConfig) -> dict[str, Any]:
    """The ``--json`` document: files (with their alerts), summary, model and the scoring settings."""
    return {
        "files": [asdict(f) for f in files],
        "summary": summarize(files),
        "model": detector.version,
        "scoring": config.scoring.model_dump(mode="json"),
        "analysis_fps": config.ingest.analysis_fps,
    }


def write_csv(files: list[FileScan], path: Path) -> None:
    """One row per alert (and one for a file without any): path, label, kind, error, alert fields."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["path", "label", "kind", "error", "max_p", "mean_p", "alert_id", "track_id", "start_s", "end_s",
               "peak", "score", "reason", "attribute", "attribute_p", "regions", "explanation"]  # fmt: skip
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for scan in files:
            base = {"path": scan.path, "label": scan.label or "", "kind": scan.kind, "error": scan.error or "",
                    "max_p": scan.max_p, "mean_p": scan.mean_p}  # fmt: skip
            if not scan.alerts:
                writer.writerow(base)
            for alert in scan.alerts:
                row = asdict(alert)
                row["attribute_p"] = json.dumps(row["attribute_p"]) if row["attribute_p"] else ""
                row["regions"] = json.dumps(row["regions"]) if row["regions"] else ""
                writer.writerow({**base, **row})


def write_json(document: dict[str, Any], path: Path) -> None:
    """Write the ``--json`` report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
