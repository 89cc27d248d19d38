"""Publish alert events, masks and per-stream state to Redis without ever blocking the pipeline.

`RedisSink.publish_alert` only enqueues. Two background tasks do the work, in order:

1. the *encoder* turns each event into a `SpoolRecord` — flat entry fields plus the mask PNG and overlay JPEG,
   encoded in a worker thread — and appends it to the bounded `Spool` (mirrored on disk when configured);
2. the *writer* takes spool records in FIFO batches and writes each batch in one ``MULTI``/``EXEC``:
   ``SET mask EX ttl``, ``SET overlay EX ttl``, ``XADD alerts MAXLEN ~ N`` per event, then a marker
   ``SET {prefix}:sink:{sink_id}:last {record_id}``. Records leave the spool only once Redis acknowledged the
   batch. While Redis is unreachable the writer retries with exponential backoff (capped) and the spool
   grows; when it is full the oldest event is dropped and counted (``streamguard_sink_dropped_total``).

Exactly once: when a connection breaks during ``EXEC`` the outcome is unknown; before retrying, the writer
reads the marker and skips the batch if Redis had applied it. Per-stream state (``HSET
{prefix}:stream:{id}``) is coalesced — only the latest fields per stream wait — and written after the pending
alerts, so a state hash never runs ahead of the alerts stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

from streamguard.config.redis import DEFAULT_SPOOL_MAX_BYTES
from streamguard.errors import AlertEntryError, SinkError
from streamguard.redaction import redact_text, redact_url
from streamguard.sinks.encoding import (
    AlertEntry,
    alert_crop_key,
    alert_history_key,
    alert_mask_key,
    alert_overlay_key,
    alerts_key,
    crop_jpeg,
    history_json,
    mask_png,
    open_alerts_key,
    overlay_jpeg,
    stream_state_key,
)
from streamguard.sinks.metrics import Metrics
from streamguard.sinks.spool import Spool, SpoolRecord
from streamguard.types import AlertEvent, AlertPhase, Score

logger = logging.getLogger(__name__)

StateValue = str | int | float

# Errors after which a write may or may not have been applied (the reply was lost).
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    TimeoutError,
)
_WRITE_ERRORS: tuple[type[BaseException], ...] = (RedisError, *_CONNECTION_ERRORS)
_MARKER_TTL_S = 7 * 86400
_CREATED = "_created"  # when an open-alert entry's event was made: before this run started, it was left open


@dataclass(frozen=True, slots=True)
class _PendingAlert:
    """An event waiting to be encoded, with the keys chosen for it at publish time."""

    event: AlertEvent
    mask_key: str
    overlay_key: str
    crop_key: str
    history_key: str
    encode: Score | None  # the peak whose mask and overlay must be written with this event
    fields_peak: Score | None  # the peak that describes the event (box, crop, model)


@dataclass(slots=True)
class _OpenAlert:
    """What the sink remembers of an open alert: its last published peak and keys."""

    peak: Score
    mask_key: str
    overlay_key: str
    crop_key: str


@dataclass(slots=True)
class _StateUpdate:
    """Coalesced state hash write of one stream (``delete`` first removes the whole hash)."""

    fields: dict[str, str] = field(default_factory=dict)
    delete: bool = False


def build_record(pending: _PendingAlert) -> SpoolRecord:
    """Encode one event into a spool record (runs in a worker thread: PNG and JPEG encoding).

    A mask or crop that cannot be encoded is logged and the event is still published, without images.
    """
    event = pending.event
    mask_key, overlay_key, crop_key = pending.mask_key, pending.overlay_key, pending.crop_key
    blobs: dict[str, bytes] = {}
    if pending.history_key:
        blobs[pending.history_key] = history_json(event)
    if pending.encode is not None:
        try:
            blobs[mask_key] = mask_png(pending.encode.mask)
            outlines = event.explanation.outlines if event.explanation is not None else ()
            blobs[overlay_key] = overlay_jpeg(pending.encode.face.pixels, pending.encode.mask, outlines)
            blobs[crop_key] = crop_jpeg(pending.encode.face.pixels)
        except (ValueError, OSError) as e:
            logger.error(
                "stream %s: alert %s mask could not be encoded (%s); publishing the event without it",
                event.stream_id,
                event.alert_id,
                e,
                extra={"stream_id": event.stream_id},
            )
            blobs = {k: v for k, v in blobs.items() if k == pending.history_key}
            mask_key = overlay_key = crop_key = ""
    entry = AlertEntry.from_event(
        event, mask_key, overlay_key, peak=pending.fields_peak, crop_key=crop_key, history_key=pending.history_key
    )
    return SpoolRecord(uuid.uuid4().hex, entry.to_fields(), blobs, time.time())


class RedisSink:
    """Non-blocking, ordered, loss-accounting publisher of alerts and stream state to Redis.

    Args:
        url: ``redis://[user:pass@]host:port/db``, ``rediss://...`` or ``unix:///path/redis.sock``.
        prefix: Key prefix (``{prefix}:alerts``, ``{prefix}:mask:...``, ``{prefix}:stream:{id}``).
        alerts_maxlen: Approximate cap of the alerts stream (``XADD ... MAXLEN ~ N``).
        mask_ttl_s: TTL of the mask PNG and overlay JPEG keys.
        spool_max_events: Capacity of the spool in events; the oldest is dropped (and counted) beyond it.
        spool_max_bytes: Capacity of the spool in bytes (images included), enforced the same way; None: none.
        spool_path: Optional JSONL file that mirrors the spool, so unsent events survive a restart.
        metrics: Where to report spool depth, drops, published events, alert counts and latency.
        retry_initial_s: First delay before retrying after a failed write.
        retry_max_s: Cap of the exponential retry delay.
        batch_size: Events per ``MULTI``/``EXEC``.
        connect_timeout_s: Socket connect timeout.
        socket_timeout_s: Timeout of one Redis reply.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "streamguard",
        alerts_maxlen: int = 100_000,
        mask_ttl_s: int = 86400,
        spool_max_events: int = 10_000,
        spool_max_bytes: int | None = DEFAULT_SPOOL_MAX_BYTES,
        spool_path: Path | None = None,
        metrics: Metrics | None = None,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
        batch_size: int = 64,
        connect_timeout_s: float = 2.0,
        socket_timeout_s: float = 5.0,
    ) -> None:
        if spool_max_events < 1 or batch_size < 1 or alerts_maxlen < 1 or mask_ttl_s < 1:
            raise ValueError("spool_max_events, batch_size, alerts_maxlen and mask_ttl_s must be >= 1")
        self._url = url
        self._safe_url = redact_url(url)
        self._prefix = prefix
        self._alerts_key = alerts_key(prefix)
        self._alerts_maxlen = alerts_maxlen
        self._mask_ttl_s = mask_ttl_s
        self._max_events = spool_max_events
        self._metrics = metrics
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = max(retry_max_s, retry_initial_s)
        self._batch_size = batch_size
        self._connect_timeout_s = connect_timeout_s
        self._socket_timeout_s = socket_timeout_s
        self._sink_id = uuid.uuid4().hex[:12]
        self._marker_key = marker_key(prefix, spool_path, self._sink_id)
        self._spool = Spool(spool_max_events, spool_path, spool_max_bytes)
        # Records restored from disk may have been written by a run killed between EXEC and the spool's commit:
        # the marker (same key for the same spool file) says which, before anything is written again.
        self._uncertain_ids: list[str] = self._spool.record_ids()
        self._incoming: deque[_PendingAlert] = deque()
        self._open_alerts: dict[str, _OpenAlert] = {}
        self._state: dict[str, _StateUpdate] = {}
        self._state_in_flight = False
        self._client: aioredis.Redis | None = None
        self._encoder: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._incoming_ready = asyncio.Event()
        self._work = asyncio.Event()
        self._progress = asyncio.Event()
        self._reachable = False
        self._outage_logged = False
        self._closed = False
        self._dropped = 0
        self._published = 0
        self._started_wall = time.time()
        self._update_depth()

    @property
    def reachable(self) -> bool:
        """Whether the last Redis round trip succeeded (``False`` before `start` and while Redis is down)."""
        return self._reachable

    @property
    def spool_depth(self) -> int:
        """Alert events not yet acknowledged by Redis (waiting for encoding or in the spool)."""
        return len(self._incoming) + self._spool.depth

    @property
    def dropped(self) -> int:
        """Alert events this sink gave up (spool overflow, or lost at `close` without a disk spool)."""
        return self._dropped

    @property
    def published(self) -> int:
        """Alert events written to Redis by this sink."""
        return self._published

    @property
    def prefix(self) -> str:
        """The key prefix."""
        return self._prefix

    async def start(self) -> None:
        """Create the client and the background tasks; succeeds even when Redis is down (events spool).

        Raises:
            SinkError: The URL is malformed (wrong scheme, bad port...).
        """
        if self._writer is not None:
            return
        if self._closed:
            raise SinkError("the Redis sink is closed")
        try:
            self._client = aioredis.from_url(
                self._url,
                socket_connect_timeout=self._connect_timeout_s,
                socket_timeout=self._socket_timeout_s,
                retry=Retry(NoBackoff(), 0),  # the writer retries itself; a hidden retry could duplicate
            )
        except ValueError as e:
            raise SinkError(f"invalid Redis URL {self._safe_url}: {redact_text(str(e), [self._url])}") from e
        await self._probe()
        self._encoder = asyncio.create_task(self._encoder_loop(), name="redis-sink-encoder")
        self._writer = asyncio.create_task(self._writer_loop(), name="redis-sink-writer")
        self._encoder.add_done_callback(self._on_task_done)
        self._writer.add_done_callback(self._on_task_done)
        self._incoming_ready.set()
        self._work.set()

    def publish_alert(self, event: AlertEvent) -> None:
        """Queue an alert event for writing (never blocks, never raises for Redis trouble).

        Start and update events whose peak changed get new mask and overlay keys (named by
        ``event.sequence``); end events carry the keys of the last published peak. Also counts the event in
        ``streamguard_alerts_total{stream,event}``.
        """
        if self._closed:
            logger.error(
                "stream %s: alert %s (%s) published after the Redis sink was closed; dropped",
                event.stream_id,
                event.alert_id,
                event.phase.value,
                extra={"stream_id": event.stream_id},
            )
            self._count_dropped(1)
            return
        self._incoming.append(self._pending_for(event))
        if self._metrics is not None:
            self._metrics.alerts.labels(stream=event.stream_id, event=event.phase.value).inc()
        self._enforce_bound()
        self._incoming_ready.set()
        self._update_depth()

    def publish_state(self, stream_id: str, fields: dict[str, StateValue]) -> None:
        """Merge `fields` into the pending state hash write of `stream_id` (latest value of each field wins).

        Written with ``HSET {prefix}:stream:{stream_id}`` after the pending alerts; while Redis is down only
        the latest values wait (one entry per stream, never spooled).
        """
        update = self._state.setdefault(stream_id, _StateUpdate())
        update.fields.update({name: _state_text(value) for name, value in fields.items()})
        self._work.set()

    def forget_state(self, stream_id: str) -> None:
        """Delete the state hash of `stream_id` (the stream was removed), after the pending alerts."""
        self._state[stream_id] = _StateUpdate(delete=True)
        self._work.set()

    async def flush(self, timeout_s: float) -> bool:
        """Wait until every queued event and state write is acknowledged by Redis.

        Args:
            timeout_s: Longest wait in seconds.

        Returns:
            ``True`` when nothing is pending any more, ``False`` on timeout (e.g. Redis down) or when the
            sink was never started.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self._idle():
            remaining = deadline - loop.time()
            if self._writer is None or self._writer.done() or remaining <= 0:
                return False
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        return True

    async def close(self, timeout_s: float = 5.0) -> None:
        """Flush for at most `timeout_s`, then stop the tasks and close the connection (idempotent).

        Events still unwritten stay in the disk spool (delivered by the next sink on the same path) or, with
        a memory-only spool, are logged and counted as dropped.
        """
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            await self.flush(timeout_s)
        for task in (self._encoder, self._writer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        while self._incoming:  # encoding needs no Redis: a disk spool keeps these too
            await self._encode_head()
        self._report_leftovers()
        self._spool.close()
        if self._client is not None:
            await self._client.aclose()
        self._reachable = False
        self._update_depth()

    # -- publishing side --------------------------------------------------------------------------------

    def _pending_for(self, event: AlertEvent) -> _PendingAlert:
        known = self._open_alerts.get(event.alert_id)
        if event.phase is AlertPhase.END:
            self._open_alerts.pop(event.alert_id, None)
        history_key = alert_history_key(self._prefix, event.alert_id) if event.history else ""
        if event.phase is AlertPhase.END or event.peak is None or (known is not None and known.peak is event.peak):
            if known is None:
                return _PendingAlert(event, "", "", "", history_key, None, event.peak)
            return _PendingAlert(
                event, known.mask_key, known.overlay_key, known.crop_key, history_key, None, event.peak or known.peak
            )
        mask_key = alert_mask_key(self._prefix, event.alert_id, event.sequence)
        overlay_key = alert_overlay_key(self._prefix, event.alert_id, event.sequence)
        crop_key = alert_crop_key(self._prefix, event.alert_id, event.sequence)
        self._open_alerts[event.alert_id] = _OpenAlert(event.peak, mask_key, overlay_key, crop_key)
        return _PendingAlert(event, mask_key, overlay_key, crop_key, history_key, event.peak, event.peak)

    def _enforce_bound(self) -> None:
        while len(self._incoming) + self._spool.depth > self._max_events:
            if self._spool.drop_oldest() is None:
                lost = self._incoming.popleft()
                logger.warning(
                    "stream %s: spool full (%d events): dropped alert %s (%s) before encoding",
                    lost.event.stream_id,
                    self._max_events,
                    lost.event.alert_id,
                    lost.event.phase.value,
                    extra={"stream_id": lost.event.stream_id},
                )
            self._count_dropped(1)

    async def _encoder_loop(self) -> None:
        while True:
            await self._incoming_ready.wait()
            self._incoming_ready.clear()
            while self._incoming:
                await self._encode_head()

    async def _encode_head(self) -> None:
        pending = self._incoming[0]
        record = await asyncio.to_thread(build_record, pending)
        if not self._incoming or self._incoming[0] is not pending:
            return  # dropped (spool full) while it was being encoded; already counted
        self._incoming.popleft()
        self._count_dropped(len(self._spool.append(record)))
        self._update_depth()
        self._work.set()
        self._progress.set()

    # -- writing side -----------------------------------------------------------------------------------

    async def _writer_loop(self) -> None:
        delay = self._retry_initial_s
        while True:
            await self._work.wait()
            self._work.clear()
            while self._has_writes():
                try:
                    await self._write_pending()
                except _WRITE_ERRORS as e:
                    self._on_write_failure(e)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._retry_max_s)
                else:
                    delay = self._retry_initial_s
                    self._on_write_success()
            self._progress.set()

    def _has_writes(self) -> bool:
        # State waits while events are still being encoded: the encoder wakes the writer when it appends.
        return bool(self._spool.depth or self._uncertain_ids or (self._state and not self._incoming))

    def _idle(self) -> bool:
        return not (self._incoming or self._spool.depth or self._state or self._state_in_flight)

    async def _write_pending(self) -> None:
        if self._uncertain_ids:
            await self._reconcile()
        while self._spool.depth:
            batch = self._spool.begin_batch(self._batch_size)
            try:
                await self._write_batch(batch)
            except BaseException:  # cleanup on any exit, cancellation included: the batch goes back to the spool
                self._spool.abort_batch()
                raise
            self._spool.commit_batch()
            self._after_commit(batch)
        if not self._incoming:
            await self._write_states()

    async def _write_batch(self, batch: list[SpoolRecord]) -> None:
        client = self._require_client()
        async with client.pipeline(transaction=True) as pipe:
            for record in batch:
                for key, blob in record.blobs.items():
                    pipe.set(key, blob, ex=self._mask_ttl_s)
                pipe.xadd(self._alerts_key, _entry(record.fields), maxlen=self._alerts_maxlen, approximate=True)
                self._track_open_alert(pipe, record)
            pipe.set(self._marker_key, batch[-1].record_id, ex=_MARKER_TTL_S)
            self._uncertain_ids = [record.record_id for record in batch]
            try:
                await pipe.execute()
            except _CONNECTION_ERRORS:
                raise  # outcome unknown: `_reconcile` reads the marker before anything is written again
            except BaseException:  # cleanup on any other exit (a rejected write, a cancellation): no marker check
                self._uncertain_ids = []
                raise
            self._uncertain_ids = []

    def _track_open_alert(self, pipe: Pipeline, record: SpoolRecord) -> None:
        fields = record.fields
        key = open_alerts_key(self._prefix, fields["stream_id"])
        if fields["event"] == AlertPhase.END:
            pipe.hdel(key, fields["alert_id"])
        else:
            pipe.hset(key, fields["alert_id"], json.dumps({**fields, _CREATED: record.created}))

    async def alerts_left_open(self, stream_ids: Iterable[str]) -> list[AlertEntry]:
        """Alerts of `stream_ids` that an earlier run opened and never ended (it died): oldest first.

        Raises:
            RedisError, OSError: Redis cannot be read (call again once it can).
        """
        client = self._require_client()
        found: list[AlertEntry] = []
        for stream_id in stream_ids:
            stored = await client.hgetall(open_alerts_key(self._prefix, stream_id))
            for value in stored.values():
                fields = json.loads(_text(value))
                if float(fields.pop(_CREATED, 0.0)) >= self._started_wall:
                    continue  # an event of this run (events replayed from an earlier run's spool are older)
                try:
                    found.append(AlertEntry.from_fields(fields))
                except AlertEntryError as e:
                    logger.warning("stream %s: unreadable open alert left in Redis: %s", stream_id, e)
        return sorted(found, key=lambda entry: entry.opened_at)

    async def _reconcile(self) -> None:
        """Drop from the spool what Redis applied although no reply said so: every uncertain record up to the marker.

        The reply is lost when the connection breaks mid-``EXEC``, or when a run is killed before its spool
        recorded the commit (its records come back from the file as uncertain).
        """
        marker = await self._require_client().get(self._marker_key)
        ids, self._uncertain_ids = self._uncertain_ids, []
        if marker is None or _text(marker) not in ids:
            return
        written = self._spool.remove_written(set(ids[: ids.index(_text(marker)) + 1]))
        if written:
            logger.info("Redis had applied %d spooled events; not writing them again", len(written))
            self._after_commit(written)

    def _after_commit(self, records: list[SpoolRecord]) -> None:
        self._published += len(records)
        self._update_depth()
        self._progress.set()
        if self._metrics is None:
            return
        self._metrics.sink_published.inc(len(records))
        now = time.time()
        for record in records:
            if record.created < self._started_wall:
                continue  # replayed from an earlier run's spool file: not a latency of this run
            with contextlib.suppress(AlertEntryError):  # an entry this version cannot read has no latency to report
                entry = AlertEntry.from_fields(record.fields)
                if entry.event is AlertPhase.START:
                    self._metrics.alert_latency_seconds.observe(max(0.0, now - entry.ts))

    async def _write_states(self) -> None:
        if not self._state:
            return
        updates, self._state = self._state, {}
        self._state_in_flight = True
        try:
            async with self._require_client().pipeline(transaction=False) as pipe:
                for stream_id, update in updates.items():
                    key = stream_state_key(self._prefix, stream_id)
                    if update.delete:
                        pipe.delete(key)
                    if update.fields:
                        pipe.hset(key, mapping=_entry(update.fields))
                await pipe.execute()
        except BaseException:  # cleanup on any exit, cancellation included: the updates wait for the next write
            self._restore_states(updates)
            raise
        finally:
            self._state_in_flight = False

    def _restore_states(self, failed: dict[str, _StateUpdate]) -> None:
        for stream_id, old in failed.items():
            newer = self._state.get(stream_id)
            if newer is None:
                self._state[stream_id] = old
            elif not newer.delete:
                self._state[stream_id] = _StateUpdate({**old.fields, **newer.fields}, old.delete)

    async def _probe(self) -> None:
        try:
            await asyncio.wait_for(self._require_client().ping(), self._connect_timeout_s + self._socket_timeout_s)
        except _WRITE_ERRORS as e:
            self._on_write_failure(e)
        else:
            self._on_write_success()
            logger.info("Redis sink connected to %s (prefix %s)", self._safe_url, self._prefix)

    def _on_write_failure(self, error: BaseException) -> None:
        message = redact_text(str(error) or type(error).__name__, [self._url])
        if not isinstance(error, _CONNECTION_ERRORS):
            logger.error(
                "Redis %s rejected a write (%s); retrying, %d events pending", self._safe_url, message, self.spool_depth
            )
            return
        if not self._outage_logged:
            logger.warning(
                "Redis %s unreachable (%s); spooling events (%d pending) and retrying",
                self._safe_url,
                message,
                self.spool_depth,
            )
            self._outage_logged = True
        self._reachable = False

    def _on_write_success(self) -> None:
        if self._outage_logged:
            logger.info("Redis %s reachable again; flushing %d pending events", self._safe_url, self.spool_depth)
            self._outage_logged = False
        self._reachable = True

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "Redis sink task %s failed; events are no longer written", task.get_name(), exc_info=task.exception()
            )

    def _require_client(self) -> aioredis.Redis:
        if self._client is None:
            raise SinkError("the Redis sink is not started")
        return self._client

    def _report_leftovers(self) -> None:
        left = self._spool.depth
        if not left:
            return
        if self._spool.path is not None:
            logger.warning(
                "Redis sink closed with %d unsent events; kept in %s for the next start", left, self._spool.path
            )
            return
        logger.error("Redis sink closed with %d unsent events and no spool file: they are lost", left)
        self._count_dropped(left)

    def _count_dropped(self, count: int) -> None:
        if count <= 0:
            return
        self._dropped += count
        if self._metrics is not None:
            self._metrics.sink_dropped.inc(count)

    def _update_depth(self) -> None:
        if self._metrics is not None:
            self._metrics.sink_spool_depth.set(self.spool_depth)
            self._metrics.sink_spool_bytes.set(self._spool.bytes)


def marker_key(prefix: str, spool_path: Path | None, sink_id: str) -> str:
    """Key holding the id of the last record a sink's latest ``EXEC`` wrote.

    With a spool file the key follows the file (the next run on it reads the same key); without one it is
    the sink's own.
    """
    if spool_path is None:
        return f"{prefix}:sink:{sink_id}:last"
    digest = hashlib.sha256(str(spool_path.expanduser().resolve()).encode()).hexdigest()[:16]
    return f"{prefix}:spool:{digest}:last"


def _state_text(value: StateValue) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _entry(fields: dict[str, str]) -> dict[FieldT, EncodableT]:
    return dict(fields.items())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
