"""A bounded FIFO of pending Redis writes, optionally mirrored to an append-only JSONL file.

Records leave the spool in the order they entered. When it is full — in records, or in bytes of their JSON
form (images included) — the *oldest* waiting record is dropped (live alerts: the newest matter most), counted
in `Spool.dropped` and logged — never silently.

The writer takes records from the head in batches: `begin_batch` marks them in flight (they are never dropped
while a write is under way), then `commit_batch` removes them after Redis acknowledged the write or
`abort_batch` hands them back for a retry.

On disk (when `path` is given) every record is appended as one JSON line (``{"op": "add", ...}``, blobs
base64-encoded) and every removal as ``{"op": "del", "ids": [...]}``; a new `Spool` on the same path
replays the file, so records survive a restart or a crash of the process. The file is truncated whenever the
spool empties and rewritten when removals dominate it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

# Rewrite the file once it holds this many lines more than twice the live records.
_COMPACT_SLACK_LINES = 1000
# ... or once its dropped records take this many bytes (or the byte bound, when smaller).
_COMPACT_SLACK_BYTES = 16 * 1024 * 1024
# Drop warnings are coalesced to at most one log line per interval (the count is always exact).
_DROP_LOG_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One pending write: an alerts-stream entry and the binary keys written just before it.

    Attributes:
        record_id: Unique id of the record (hex).
        fields: The flat string fields of the ``XADD`` entry.
        blobs: Key name -> bytes to ``SET`` (with the mask TTL) before the entry: mask PNG, overlay JPEG.
        created: Wall-clock time the record was spooled.
    """

    record_id: str
    fields: dict[str, str]
    blobs: dict[str, bytes] = field(default_factory=dict, repr=False)
    created: float = 0.0

    @property
    def stream_id(self) -> str:
        """The stream the record belongs to (empty when the fields do not say)."""
        return self.fields.get("stream_id", "")

    def to_json(self) -> str:
        """Serialise as one JSON line (without the newline)."""
        blobs = {key: base64.b64encode(value).decode("ascii") for key, value in self.blobs.items()}
        payload = {"op": "add", "id": self.record_id, "created": self.created, "fields": self.fields, "blobs": blobs}
        return json.dumps(payload, separators=(",", ":"))

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> SpoolRecord:
        """Rebuild a record from a parsed ``add`` line.

        Raises:
            ValueError: The payload is not a valid ``add`` record.
        """
        try:
            fields = {str(key): str(value) for key, value in payload["fields"].items()}
            blobs = {str(key): base64.b64decode(value, validate=True) for key, value in payload["blobs"].items()}
            return cls(str(payload["id"]), fields, blobs, float(payload.get("created", 0.0)))
        except (KeyError, TypeError, AttributeError, binascii.Error) as e:
            raise ValueError(f"malformed spool record: {e!r}") from e


class Spool:
    """Bounded FIFO of `SpoolRecord`, dropping the oldest waiting record when full.

    Args:
        max_events: Capacity in records (>= 1).
        path: Optional JSONL file mirroring the spool; created with its parent directory if missing, and
            replayed when it already exists.
        max_bytes: Capacity in bytes of the records' JSON lines (what the file holds); None: unbounded. The
            newest record always stays, whatever its size, and records in flight are never dropped.
    """

    def __init__(self, max_events: int, path: Path | None = None, max_bytes: int | None = None) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events}")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._sizes: dict[str, int] = {}
        self._bytes = 0
        self._records: deque[SpoolRecord] = deque()
        self._in_flight = 0
        self._dropped = 0
        self._drops_unlogged = 0
        self._last_drop_log = float("-inf")
        self._path = path
        self._file: IO[str] | None = None
        self._file_lines = 0
        self._file_bytes = 0
        if path is not None:
            self._open_file(path)

    @property
    def depth(self) -> int:
        """Records waiting, in flight included."""
        return len(self._records)

    @property
    def bytes(self) -> int:
        """Size of the waiting records' JSON lines, in flight included."""
        return self._bytes

    @property
    def dropped(self) -> int:
        """Records dropped because the spool was full, since this object was created."""
        return self._dropped

    @property
    def max_events(self) -> int:
        """Capacity in records."""
        return self._max_events

    @property
    def path(self) -> Path | None:
        """The JSONL mirror, if any."""
        return self._path

    def __len__(self) -> int:
        return len(self._records)

    def append(self, record: SpoolRecord) -> list[SpoolRecord]:
        """Add `record` at the tail, dropping the oldest waiting records while over capacity.

        Returns:
            The records dropped to make room (oldest first); empty when there was room.
        """
        line = record.to_json()
        self._records.append(record)
        self._count_in(record, len(line))
        self._write_lines([line])
        dropped: list[SpoolRecord] = []
        while self._over_capacity():
            oldest = self.drop_oldest()
            if oldest is None:
                break
            dropped.append(oldest)
        return dropped

    def drop_oldest(self) -> SpoolRecord | None:
        """Drop the oldest record that is not in flight, count and log it.

        Returns:
            The dropped record, or ``None`` when every record is in flight (or the spool is empty).
        """
        if len(self._records) <= self._in_flight:
            return None
        record = self._records[self._in_flight]
        del self._records[self._in_flight]
        self._count_out([record])
        self._dropped += 1
        self._log_drop(record)
        self._record_removal([record.record_id])
        return record

    def record_ids(self) -> list[str]:
        """Ids of every record, oldest first."""
        return [record.record_id for record in self._records]

    def begin_batch(self, max_records: int) -> list[SpoolRecord]:
        """Mark up to `max_records` head records in flight and return them (oldest first).

        Raises:
            RuntimeError: A batch is already in flight.
        """
        if self._in_flight:
            raise RuntimeError("a spool batch is already in flight")
        batch = [self._records[i] for i in range(min(max_records, len(self._records)))]
        self._in_flight = len(batch)
        return batch

    def commit_batch(self) -> None:
        """Remove the in-flight records: they were written."""
        self.commit_through(self._in_flight)

    def commit_through(self, count: int) -> None:
        """Remove the first `count` records (all in flight or not): they are known to be written."""
        count = min(count, len(self._records))
        removed = [self._records.popleft() for _ in range(count)]
        self._count_out(removed)
        self._in_flight = 0
        self._record_removal([record.record_id for record in removed])

    def remove_written(self, record_ids: set[str]) -> list[SpoolRecord]:
        """Remove the head records whose ids are in `record_ids` (found written after an uncertain failure).

        Returns:
            The removed records, oldest first.
        """
        removed: list[SpoolRecord] = []
        while self._records and self._records[0].record_id in record_ids:
            removed.append(self._records.popleft())
        self._count_out(removed)
        self._in_flight = 0
        self._record_removal([record.record_id for record in removed])
        return removed

    def abort_batch(self) -> None:
        """Return the in-flight records to the waiting state (the write failed; they will be retried)."""
        self._in_flight = 0

    def close(self) -> None:
        """Flush and close the file mirror (records stay on disk for the next `Spool` on the path)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _file_byte_limit(self) -> int:
        """File size past which it is rewritten: twice the live records plus slack (the byte bound at most)."""
        slack = _COMPACT_SLACK_BYTES if self._max_bytes is None else min(_COMPACT_SLACK_BYTES, self._max_bytes)
        return 2 * self._bytes + slack

    def _count_in(self, record: SpoolRecord, size: int) -> None:
        self._sizes[record.record_id] = size
        self._bytes += size

    def _count_out(self, records: list[SpoolRecord]) -> None:
        for record in records:
            self._bytes -= self._sizes.pop(record.record_id, 0)

    def _over_capacity(self) -> bool:
        if len(self._records) > self._max_events:
            return True
        waiting = len(self._records) - self._in_flight
        return self._max_bytes is not None and self._bytes > self._max_bytes and waiting > 1

    def _log_drop(self, record: SpoolRecord) -> None:
        self._drops_unlogged += 1
        now = time.monotonic()
        if now - self._last_drop_log < _DROP_LOG_INTERVAL_S:
            return
        logger.warning(
            "spool full (%d of at most %d records, %d of at most %s bytes): dropped the oldest pending event of "
            "stream %s (alert %s, %s); %d dropped since the last message, %d in total",
            len(self._records),
            self._max_events,
            self._bytes,
            "unbounded" if self._max_bytes is None else self._max_bytes,
            record.stream_id,
            record.fields.get("alert_id", "?"),
            record.fields.get("event", "?"),
            self._drops_unlogged,
            self._dropped,
            extra={"stream_id": record.stream_id},
        )
        self._drops_unlogged = 0
        self._last_drop_log = now

    def _record_removal(self, ids: list[str]) -> None:
        if self._file is None or not ids:
            return
        if not self._records:
            self._rewrite()
        elif (
            self._file_lines > 2 * len(self._records) + _COMPACT_SLACK_LINES
            or self._file_bytes > self._file_byte_limit()
        ):
            self._rewrite()
        else:
            self._write_lines([json.dumps({"op": "del", "ids": ids}, separators=(",", ":"))])

    def _open_file(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                self._replay(path)
            self._file = path.open("a", encoding="utf-8")
            self._rewrite()
        except OSError as e:
            logger.error("spool file %s cannot be used (%s): spooling in memory only", path, e)
            self.close()
        if self._records:
            logger.info("spool %s: %d pending events restored from disk", path, len(self._records))

    def _replay(self, path: Path) -> None:
        by_id: dict[str, SpoolRecord] = {}
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                self._replay_line(path, number, line, by_id)
        for record in by_id.values():
            self._records.append(record)
            self._count_in(record, len(record.to_json()))
        while self._over_capacity():
            self.drop_oldest()

    @staticmethod
    def _replay_line(path: Path, number: int, line: str, by_id: dict[str, SpoolRecord]) -> None:
        if not line.strip():
            return
        try:
            payload = json.loads(line)
            if payload.get("op") == "del":
                for record_id in payload["ids"]:
                    by_id.pop(str(record_id), None)
            else:
                record = SpoolRecord.from_json(payload)
                by_id[record.record_id] = record
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            # A crash can leave a half-written last line; the other lines are still good.
            logger.warning("spool %s line %d unreadable, skipped: %s", path, number, e)

    def _rewrite(self) -> None:
        if self._file is None or self._path is None:
            return
        tmp = self._path.with_name(self._path.name + ".tmp")
        try:
            with tmp.open("w", encoding="utf-8") as out:
                for record in self._records:
                    out.write(record.to_json() + "\n")
            self._file.close()
            os.replace(tmp, self._path)
            self._file = self._path.open("a", encoding="utf-8")
            self._file_lines = len(self._records)
            self._file_bytes = self._bytes + len(self._records)
        except OSError as e:
            self._disable_file(e)

    def _write_lines(self, lines: list[str]) -> None:
        if self._file is None:
            return
        try:
            self._file.write("".join(line + "\n" for line in lines))
            self._file.flush()
            self._file_lines += len(lines)
            self._file_bytes += sum(len(line) + 1 for line in lines)
        except OSError as e:
            self._disable_file(e)

    def _disable_file(self, error: OSError) -> None:
        logger.error("spool file %s failed (%s): spooling in memory only from now on", self._path, error)
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        self._file = None
