"""The explanation step: attribute and regions for the peak face of an alert event."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from streamguard.explain.regions import (
    MASK_LEVEL,
    REPORTED_COVERAGE,
    RegionLocator,
    named_regions,
    region_coverage,
    region_outlines,
)
from streamguard.explain.words import describe
from streamguard.sinks.metrics import Metrics
from streamguard.types import (
    ATTRIBUTES,
    AlertEvent,
    AlertPhase,
    ExplainFailure,
    Explanation,
    RegionCoverage,
    RegionOutline,
    Score,
)

logger = logging.getLogger(__name__)


def explain_attribute(score: Score) -> Explanation:
    """The attribute part of an explanation (no regions): what the attribute head says, if the model has one."""
    if score.attribute_p is None:
        return Explanation()
    best = int(np.argmax(score.attribute_p))
    return Explanation(attribute=ATTRIBUTES[best], attribute_p=tuple(round(float(p), 4) for p in score.attribute_p))


class Explainer:
    """Explains alert events on one thread of its own (the face mesh is not thread-safe).

    `explain_events` runs one landmark pass per start or update event, after the alert rules have decided the
    event, and returns the events with `AlertEvent.explanation` set. A failure (no face found by the mesh, no
    mask decoded, the mesh model failing) leaves the event intact with empty regions and is counted in
    ``streamguard_explanations_total{result}``.

    Args:
        metrics: Where the counts and timings go; None counts nothing.
        locator: The region locator; a `RegionLocator` on the bundled face mesh when None.
        min_coverage: Regions covered less than this are left out of the list.
    """

    def __init__(
        self, metrics: Metrics | None = None, locator: RegionLocator | None = None,
        min_coverage: float = REPORTED_COVERAGE,
    ) -> None:  # fmt: skip
        self._metrics = metrics
        self._locator = locator if locator is not None else RegionLocator()
        self._min_coverage = min_coverage
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="explain")

    async def explain_events(self, events: list[AlertEvent]) -> list[AlertEvent]:
        """The events, start and update ones with their explanation (others unchanged)."""
        if not any(_wants(event) for event in events):
            return events
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._explain_all, events)

    def _explain_all(self, events: list[AlertEvent]) -> list[AlertEvent]:
        return [replace(e, explanation=self.explain(e.peak)) if _wants(e) and e.peak else e for e in events]

    def explain(self, score: Score) -> Explanation:
        """The explanation of one scored face (blocking: one face-mesh pass)."""
        started = time.perf_counter()
        base = explain_attribute(score)
        failure: ExplainFailure | None = None
        regions: tuple[RegionCoverage, ...] = ()
        outlines: tuple[RegionOutline, ...] = ()
        if not bool((score.mask >= MASK_LEVEL).any()):
            failure = ExplainFailure.NO_MASK
        else:
            try:
                masks = self._locator.regions(score.face.pixels)
            except (ValueError, RuntimeError) as e:
                logger.warning("explanation of stream %s track %d failed: %s", score.face.stream_id,
                               score.face.track_id, e, extra={"stream_id": score.face.stream_id})  # fmt: skip
                masks, failure = None, ExplainFailure.ERROR
            if masks is None:
                failure = failure or ExplainFailure.NO_LANDMARKS
            else:
                regions = region_coverage(score.mask, masks, self._min_coverage)
                outlines = region_outlines(masks, named_regions(regions))
        self._count(failure, time.perf_counter() - started)
        explanation = Explanation(base.attribute, base.attribute_p, regions, failure, outlines)
        return replace(explanation, summary=describe(explanation))

    def _count(self, failure: ExplainFailure | None, seconds: float) -> None:
        if self._metrics is None:
            return
        self._metrics.explanations.labels(result=failure.value if failure is not None else "ok").inc()
        self._metrics.explain_seconds.observe(seconds)

    def close(self) -> None:
        """Stop the thread and release the face mesh."""
        self._executor.shutdown(wait=True)
        self._locator.close()


def _wants(event: AlertEvent) -> bool:
    return event.phase in (AlertPhase.START, AlertPhase.UPDATE) and event.peak is not None
