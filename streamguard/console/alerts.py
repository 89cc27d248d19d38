"""The console's view of the alerts stream: replay and follow it, fold one alert's entries, record acks.

Everything is read from Redis (the same ``{prefix}:alerts`` stream every consumer reads), so the console
shows what downstream systems see, survives daemon restarts, and its acknowledgements are ordinary entries
of that stream (``event`` ``ack`` or ``dismiss``) that other consumers receive too.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import redis.asyncio as aioredis

from streamguard.sinks.encoding import (
    alert_crop_key,
    alert_mask_key,
    alert_overlay_key,
    alerts_key,
    decode_entry,
    decode_text,
)

ENTRY_ID = re.compile(r"\d{1,20}-\d{1,20}")
ALERT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,200}")
IMAGE_KINDS = ("crop", "mask", "overlay")
OperatorAction = Literal["ack", "dismiss"]
SCAN_PAGE = 1000
SCAN_PAGES = 20
"""How far back (pages of entries, newest first) the detail of an alert is searched for."""


def entry_json(entry_id: str, fields: Mapping[Any, Any]) -> dict[str, Any]:
    """An alerts-stream entry as a JSON-safe dict (typed values, non-finite numbers as null)."""
    parsed = decode_entry(fields)
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in parsed.items()}
    return {"entry_id": entry_id, **clean}


def sse_message(entry: dict[str, Any]) -> bytes:
    """One Server-Sent Event carrying an entry; its id lets the browser resume after a reconnect."""
    return f"id: {entry['entry_id']}\nevent: alert\ndata: {json.dumps(entry, separators=(',', ':'))}\n\n".encode()


@dataclass
class AlertDetail:
    """Everything the console shows about one alert, folded from its entries."""

    alert_id: str
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pipeline_entries(self) -> list[dict[str, Any]]:
        """The detector's start/update/end entries."""
        return [e for e in self.entries if e.get("event") in {"start", "update", "end"}]

    @property
    def acks(self) -> list[dict[str, Any]]:
        """Operator acknowledgements and dismissals, oldest first."""
        return [
            {"event": e["event"], "by": e.get("by", ""), "ts": e.get("ts"), "note": e.get("note", "")}
            for e in self.entries
            if e.get("event") in {"ack", "dismiss"}
        ]

    @property
    def state(self) -> str:
        """``acknowledged`` or ``dismissed`` (the latest operator decision sticks), else ``ended`` or ``open``."""
        decisions = [e["event"] for e in self.entries if e.get("event") in {"ack", "dismiss"}]
        if decisions:
            return "acknowledged" if decisions[-1] == "ack" else "dismissed"
        return "ended" if any(e.get("event") == "end" for e in self.entries) else "open"

    def latest_with(self, key_field: str) -> dict[str, Any] | None:
        """The newest pipeline entry whose `key_field` (``crop_key``...) is set."""
        return next((e for e in reversed(self.pipeline_entries) if e.get(key_field)), None)

    def summary(self) -> dict[str, Any]:
        """The JSON body of ``GET /console/api/alerts/{id}`` (without images and history).

        The explanation fields (``attribute``, ``attribute_p``, ``regions``, ``explanation``) are the newest
        explained event's.
        """
        pipeline = self.pipeline_entries
        first, last = pipeline[0], pipeline[-1]
        ended = next((e for e in pipeline if e.get("event") == "end"), None)
        explained: dict[str, Any] = next((e for e in reversed(pipeline) if isinstance(e.get("regions"), list)), {})
        return {
            "alert_id": self.alert_id,
            "stream_id": first.get("stream_id", ""),
            "track_id": first.get("track_id"),
            "state": self.state,
            "opened_at": first.get("opened_at"),
            "ended_at": ended.get("ts") if ended else None,
            "reason": ended.get("reason", "") if ended else "",
            "score": last.get("score"),
            "peak_score": max((e.get("peak_score") or 0.0) for e in pipeline),
            "window_s": last.get("window_s"),
            "n_samples": last.get("n_samples"),
            "model": next((e["model"] for e in reversed(pipeline) if e.get("model")), ""),
            "attribute": explained.get("attribute", ""),
            "attribute_p": explained.get("attribute_p"),
            "regions": explained.get("regions", []),
            "explanation": explained.get("explanation", ""),
            "acks": self.acks,
            "events": self.entries,
        }


class AlertStore:
    """Reads the alerts stream for the console and appends operator entries to it.

    Args:
        client: A Redis client (blocking reads take a pooled connection each).
        prefix: The key prefix of the daemon's Redis keys.
        maxlen: Approximate cap of the alerts stream (as the sink applies it).
    """

    def __init__(self, client: aioredis.Redis, prefix: str, maxlen: int) -> None:
        self.client = client
        self.prefix = prefix
        self.key = alerts_key(prefix)
        self.maxlen = maxlen

    async def backlog(self, count: int) -> tuple[list[dict[str, Any]], str]:
        """The last `count` entries (oldest first) and the id to follow the stream from (no entry is missed)."""
        newest: Any = await self.client.xrevrange(self.key, count=max(count, 1))
        entries = [entry_json(decode_text(i), f) for i, f in reversed(newest)]
        follow_from = entries[-1]["entry_id"] if entries else "0-0"
        return (entries[-count:] if count else []), follow_from

    async def after(self, last_id: str, block_ms: int, count: int = 100) -> list[dict[str, Any]]:
        """Entries after `last_id`, waiting up to `block_ms` for the first."""
        reply: Any = await self.client.xread({self.key: last_id}, count=count, block=block_ms)
        return [entry_json(decode_text(i), f) for _stream, items in reply or [] for i, f in items]

    async def detail(self, alert_id: str) -> AlertDetail | None:
        """All entries of one alert (searched newest first, back to its start entry), or ``None``."""
        found: list[dict[str, Any]] = []
        upper = "+"
        for _ in range(SCAN_PAGES):
            page: Any = await self.client.xrevrange(self.key, max=upper, count=SCAN_PAGE)
            for raw_id, fields in page:
                entry = entry_json(decode_text(raw_id), fields)
                if entry.get("alert_id") == alert_id:
                    found.append(entry)
            if len(page) < SCAN_PAGE or any(e["event"] == "start" for e in found):
                break
            upper = "(" + decode_text(page[-1][0])
        if not any(e.get("event") in {"start", "update", "end"} for e in found):
            return None
        return AlertDetail(alert_id, list(reversed(found)))

    async def history(self, detail: AlertDetail) -> list[list[float]]:
        """The alert's level history ``[[unix_ts, level], ...]`` (empty when expired or never written)."""
        entry = detail.latest_with("history_key")
        if entry is None:
            return []
        raw = await self.client.get(entry["history_key"])
        return json.loads(raw) if raw else []

    def image_key(self, alert_id: str, kind: str, sequence: int) -> str:
        """Redis key of one image of an alert event."""
        make = {"crop": alert_crop_key, "mask": alert_mask_key, "overlay": alert_overlay_key}[kind]
        return make(self.prefix, alert_id, sequence)

    async def image(self, alert_id: str, kind: str, sequence: int) -> bytes | None:
        """An alert image (JPEG, or PNG for the mask), or ``None`` when it expired."""
        data: Any = await self.client.get(self.image_key(alert_id, kind, sequence))
        return bytes(data) if data is not None else None

    async def record_action(self, detail: AlertDetail, action: OperatorAction, operator: str, note: str) -> str:
        """Append an ``ack``/``dismiss`` entry for the alert; returns its entry id."""
        first = detail.pipeline_entries[0]
        fields: dict[Any, Any] = {
            "event": action,
            "alert_id": detail.alert_id,
            "stream_id": str(first.get("stream_id", "")),
            "track_id": str(first.get("track_id", "")),
            "ts": repr(time.time()),
            "by": operator,
            "note": note,
        }
        entry_id: Any = await self.client.xadd(self.key, fields, maxlen=self.maxlen, approximate=True)
        return decode_text(entry_id)
