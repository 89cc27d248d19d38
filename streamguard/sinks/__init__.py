"""Outputs of the daemon: the Redis sink (alerts, masks, stream state) with its spool, and Prometheus metrics.

The Redis schema (see `streamguard.sinks.encoding` for field details), with the default prefix:

- ``streamguard:alerts`` — stream, one entry per alert ``start``/``update``/``end`` event;
- ``streamguard:mask:{alert_id}:{sequence}`` — PNG mask of the peak face (8-bit gray, crop space), with a TTL;
- ``streamguard:overlay:{alert_id}:{sequence}`` — JPEG of the peak face crop with the mask in red, with a TTL;
- ``streamguard:stream:{stream_id}`` — hash of the stream's current state.
"""

from __future__ import annotations

import logging

from streamguard.sinks.consumer import format_alert, read_alerts
from streamguard.sinks.embedded import EmbeddedRedis
from streamguard.sinks.encoding import (
    ALERT_FIELDS,
    AlertEntry,
    alert_crop_key,
    alert_history_key,
    alert_mask_key,
    alert_overlay_key,
    alerts_key,
    decode_entry,
    decode_jpeg,
    decode_mask_png,
    mask_png,
    overlay_jpeg,
    stream_state_key,
)
from streamguard.sinks.metrics import METRIC_NAMES, Metrics
from streamguard.sinks.redis_sink import RedisSink
from streamguard.sinks.spool import Spool, SpoolRecord

__all__ = [
    "ALERT_FIELDS",
    "METRIC_NAMES",
    "AlertEntry",
    "EmbeddedRedis",
    "Metrics",
    "RedisSink",
    "Spool",
    "SpoolRecord",
    "alert_crop_key",
    "alert_history_key",
    "alert_mask_key",
    "alert_overlay_key",
    "alerts_key",
    "decode_entry",
    "decode_jpeg",
    "decode_mask_png",
    "format_alert",
    "mask_png",
    "overlay_jpeg",
    "read_alerts",
    "stream_state_key",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
