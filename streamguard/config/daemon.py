"""The root of the daemon configuration: streams plus one section per pipeline stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from streamguard.config.api import ApiConfig
from streamguard.config.base import StrictModel
from streamguard.config.console import ConsoleConfig
from streamguard.config.explain import ExplainConfig
from streamguard.config.faces import FacesConfig
from streamguard.config.inference import InferenceConfig
from streamguard.config.ingest import IngestDefaults
from streamguard.config.redis import RedisConfig
from streamguard.config.scoring import ScoringConfig
from streamguard.config.server import ServerConfig
from streamguard.config.streams import StreamConfig
from streamguard.config.tracking import TrackingConfig
from streamguard.redaction import redact_url

DEFAULT_DATA_DIR = Path(".streamguard")


class DaemonConfig(StrictModel):
    """Everything `streamguard run` needs; every section has working defaults.

    Relative paths (``data_dir``, ``inference.model``, ``redis.spool_path``) are taken from the working
    directory of the daemon, not from the folder of the configuration file.
    """

    streams: list[StreamConfig] = Field(
        default_factory=list,
        description="Streams to analyse; more can be given on the command line with --source ID=URL.",
    )
    ingest: IngestDefaults = Field(
        default_factory=IngestDefaults, description="Decoding, sampling and reconnect defaults for all streams."
    )
    faces: FacesConfig = Field(default_factory=FacesConfig, description="Face detection and cropping.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Face tracking per stream.")
    inference: InferenceConfig = Field(
        default_factory=InferenceConfig, description="Detector model, device and micro-batching."
    )
    scoring: ScoringConfig = Field(
        default_factory=ScoringConfig, description="Rolling windows per face track and alert hysteresis."
    )
    explain: ExplainConfig = Field(
        default_factory=ExplainConfig, description="What alerts say was manipulated: attribute and face regions."
    )
    redis: RedisConfig = Field(default_factory=RedisConfig, description="Where alerts, masks and state are published.")
    server: ServerConfig = Field(default_factory=ServerConfig, description="HTTP server for metrics and health.")
    api: ApiConfig = Field(
        default_factory=ApiConfig, description="Runtime stream API and WHIP (WebRTC) ingest: auth, limits, ICE."
    )
    console: ConsoleConfig = Field(
        default_factory=ConsoleConfig, description="Operator console at /: login, previews, alerts feed."
    )
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description=(
            "Folder for the daemon's own files (embedded Redis socket and data, streams added at runtime); "
            "default `.streamguard` in the working directory."
        ),
    )

    @field_validator("streams")
    @classmethod
    def _check_unique_ids(cls, streams: list[StreamConfig]) -> list[StreamConfig]:
        first_index: dict[str, int] = {}
        duplicates: list[str] = []
        for index, stream in enumerate(streams):
            if stream.id in first_index:
                duplicates.append(f"streams.{index}.id {stream.id!r} repeats streams.{first_index[stream.id]}.id")
            else:
                first_index[stream.id] = index
        if duplicates:
            raise ValueError("stream ids must be unique: " + "; ".join(duplicates))
        return streams

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, path: Path) -> Path:
        return path.expanduser()

    def enabled_streams(self) -> list[StreamConfig]:
        """The streams to start (those with ``enabled: true``)."""
        return [stream for stream in self.streams if stream.enabled]

    def stream(self, stream_id: str) -> StreamConfig | None:
        """Return the stream with this id, or ``None``."""
        return next((stream for stream in self.streams if stream.id == stream_id), None)

    def redacted_dump(self) -> dict[str, Any]:
        """Return the configuration as plain data (JSON-compatible) with credentials in URLs replaced.

        Use this to print or log the effective configuration (``check-config``, start-up logs).
        """
        data = self.model_dump(mode="json")
        for stream in data["streams"]:
            if stream["url"] is not None:
                stream["url"] = redact_url(stream["url"])
        if data["redis"]["url"] is not None:
            data["redis"]["url"] = redact_url(data["redis"]["url"])
        return data
