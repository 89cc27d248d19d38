"""Each stage's own defaults equal its config section's, so a stage built without a config behaves as configured.

The stages sit below `streamguard.config` (the layer contract), so they keep plain keyword defaults; these
tests are what stops the two from drifting apart.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from streamguard.config import DaemonConfig
from streamguard.config.ingest import IngestDefaults
from streamguard.config.redis import RedisConfig
from streamguard.daemon.core import cadence_options, face_options, follow_options, tracking_options
from streamguard.ingest.file import FileSource
from streamguard.ingest.rtsp import RtspSource
from streamguard.ingest.webrtc import WebRtcSource
from streamguard.scoring.cadence import CadenceOptions
from streamguard.sinks.redis_sink import RedisSink
from streamguard.vision.crop import DEFAULT_CROP_SIZE
from streamguard.vision.faces import FaceOptions
from streamguard.vision.follow import FollowOptions
from streamguard.vision.tracking import TrackingOptions


def _defaults(function: Callable[..., Any]) -> dict[str, Any]:
    parameters = inspect.signature(function).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def test_face_stage_defaults_are_the_faces_section_defaults() -> None:
    assert face_options(DaemonConfig(), DEFAULT_CROP_SIZE) == FaceOptions()


def test_follower_defaults_are_the_faces_section_defaults() -> None:
    assert follow_options(DaemonConfig()) == FollowOptions()


def test_cadence_defaults_are_the_scoring_section_defaults() -> None:
    assert cadence_options(DaemonConfig()) == CadenceOptions()


def test_tracker_defaults_are_the_tracking_section_defaults() -> None:
    config = DaemonConfig()
    assert tracking_options(config, config.ingest.analysis_fps) == TrackingOptions()


def test_redis_sink_defaults_are_the_redis_section_defaults() -> None:
    sink, section = _defaults(RedisSink.__init__), RedisConfig()
    shared = set(sink) & set(RedisConfig.model_fields)
    assert shared >= {"prefix", "alerts_maxlen", "mask_ttl_s", "spool_max_events", "retry_initial_s", "retry_max_s"}
    assert {name: sink[name] for name in shared} == {name: getattr(section, name) for name in shared}


@pytest.mark.parametrize("source", [FileSource, RtspSource, WebRtcSource])
def test_source_defaults_are_the_ingest_section_defaults(source: type[Any]) -> None:
    own, section = _defaults(source.__init__), IngestDefaults()
    shared = set(own) & set(IngestDefaults.model_fields)
    assert {"analysis_fps", "queue_size", "max_pixels"} <= shared
    assert {name: own[name] for name in shared} == {name: getattr(section, name) for name in shared}
