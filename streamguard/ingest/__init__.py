"""Stream ingest: sources that decode video, sample it at the analysis rate and hand frames to the loop.

Every source kind (`FileSource`, `RtspSource`, `PushSource`, `WebRtcSource`) implements `BaseSource`:
``await start()``, ``await recv()`` for each sampled RGB `streamguard.types.Frame` until `SourceEnded`
(`SourceInterrupted` once per outage of a live stream, in order with the frames), ``await close()``.
Build one from a URL with `source_from_url`. Never log a URL without `redact_url`.
"""

from __future__ import annotations

import logging

from streamguard.ingest.backoff import Backoff
from streamguard.ingest.base import (
    BaseSource,
    SourceEnded,
    SourceEvent,
    SourceEventKind,
    SourceInterrupted,
    SourceStats,
)
from streamguard.ingest.factory import SOURCE_KINDS, register_source_kind, source_from_url
from streamguard.ingest.file import FileSource
from streamguard.ingest.push import PushSource
from streamguard.ingest.queue import DROP_ANALYSIS_BEHIND, LatestQueue, QueueClosed
from streamguard.ingest.rtsp import RtspSource
from streamguard.ingest.sampling import FrameSampler
from streamguard.redaction import redact_text, redact_url

__all__ = [
    "DROP_ANALYSIS_BEHIND",
    "SOURCE_KINDS",
    "Backoff",
    "BaseSource",
    "FileSource",
    "FrameSampler",
    "LatestQueue",
    "PushSource",
    "QueueClosed",
    "RtspSource",
    "SourceEnded",
    "SourceEvent",
    "SourceEventKind",
    "SourceInterrupted",
    "SourceStats",
    "redact_text",
    "redact_url",
    "register_source_kind",
    "source_from_url",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
