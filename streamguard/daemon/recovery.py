"""Alerts a crashed run left open: ended with reason ``restart`` when the daemon starts again.

A daemon that stops cleanly ends its open alerts (``shutdown``). One killed mid-alert (SIGKILL, OOM, a lost
node) cannot, and its consumers would wait for an end that never comes. The Redis sink records every open
alert in ``{prefix}:open:{stream_id}`` in the same transaction as the alert's events, so the next run finds
them: once the earlier run's spool has been written (it may hold their real end), each alert of a stream this
daemon serves that is still open gets an ``end`` event with reason ``restart``, exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from redis.exceptions import RedisError

from streamguard.sinks.encoding import AlertEntry
from streamguard.sinks.redis_sink import RedisSink
from streamguard.types import AlertEvent, AlertPhase, EndReason

logger = logging.getLogger(__name__)

RETRY_MAX_S = 30.0


def restart_end(entry: AlertEntry, now: float) -> AlertEvent:
    """The ``end`` event, reason ``restart``, of an alert whose latest event is `entry`."""
    return AlertEvent(
        phase=AlertPhase.END,
        alert_id=entry.alert_id,
        stream_id=entry.stream_id,
        track_id=entry.track_id,
        ts=now,
        opened_at=entry.opened_at,
        score=entry.score,
        peak_score=entry.peak_score,
        window_s=entry.window_s,
        n_samples=entry.n_samples,
        reason=EndReason.RESTART,
        peak=None,
        sequence=entry.sequence,
    )


async def close_alerts_left_open(
    sink: RedisSink, stream_ids: Callable[[], Iterable[str]], publish: Callable[[AlertEvent], None]
) -> int:
    """End the alerts an earlier run left open on the streams `stream_ids()` names; returns how many.

    Waits (retrying with capped backoff) until Redis is reachable and everything queued so far, the earlier
    run's spool included, is written.
    """
    delay = 1.0
    while True:
        if await sink.flush(timeout_s=RETRY_MAX_S):
            try:
                left = await sink.alerts_left_open(list(stream_ids()))
                break
            except (RedisError, OSError) as e:
                logger.warning("cannot read the alerts left open by an earlier run yet: %s", e)
        await asyncio.sleep(delay)
        delay = min(2 * delay, RETRY_MAX_S)
    now = time.time()
    for entry in left:
        publish(restart_end(entry, now))
    if left:
        logger.warning("ended %d alert(s) an earlier run left open (reason restart)", len(left))
    return len(left)
