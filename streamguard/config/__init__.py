"""The daemon configuration: one strict pydantic model per section, and the YAML loader.

`load_config` reads a file (with ``${VAR}`` substitution) into a `DaemonConfig`; `config_from_overrides`
applies the ``--source``/``--redis``/``--listen`` flags. Every error is a
`streamguard.errors.ConfigError` naming the file, the field path and the problem.
"""

from __future__ import annotations

from streamguard.config.api import TOKEN_ENV, ApiConfig, IceServerConfig, WebRtcConfig
from streamguard.config.base import StrictModel
from streamguard.config.console import ConsoleConfig
from streamguard.config.daemon import DEFAULT_DATA_DIR, DaemonConfig
from streamguard.config.explain import ExplainConfig
from streamguard.config.faces import FacesConfig
from streamguard.config.inference import (
    CPU_DEFAULT_MAX_BATCH,
    CPU_DEFAULT_MAX_DELAY_MS,
    DEFAULT_MODEL_PATH,
    GPU_DEFAULT_MAX_BATCH,
    GPU_DEFAULT_MAX_DELAY_MS,
    InferenceBackend,
    InferenceConfig,
    Precision,
    TritonConfig,
)
from streamguard.config.ingest import IngestDefaults, Transport
from streamguard.config.loader import (
    ConfigProblem,
    config_from_overrides,
    format_validation_error,
    load_config,
    substitute_env,
)
from streamguard.config.redis import RedisConfig, check_redis_url
from streamguard.config.scoring import ScoringConfig
from streamguard.config.server import DEFAULT_LISTEN, ServerConfig, TlsConfig, parse_listen
from streamguard.config.streams import ResolvedStream, StreamConfig, StreamKind, check_url, url_kind
from streamguard.config.tracking import TrackingConfig

__all__ = [
    "CPU_DEFAULT_MAX_BATCH",
    "CPU_DEFAULT_MAX_DELAY_MS",
    "DEFAULT_DATA_DIR",
    "DEFAULT_LISTEN",
    "DEFAULT_MODEL_PATH",
    "GPU_DEFAULT_MAX_BATCH",
    "GPU_DEFAULT_MAX_DELAY_MS",
    "TOKEN_ENV",
    "ApiConfig",
    "ConfigProblem",
    "ConsoleConfig",
    "DaemonConfig",
    "ExplainConfig",
    "FacesConfig",
    "IceServerConfig",
    "InferenceBackend",
    "InferenceConfig",
    "IngestDefaults",
    "Precision",
    "RedisConfig",
    "ResolvedStream",
    "ScoringConfig",
    "ServerConfig",
    "StreamConfig",
    "StreamKind",
    "StrictModel",
    "TlsConfig",
    "TrackingConfig",
    "Transport",
    "TritonConfig",
    "WebRtcConfig",
    "check_redis_url",
    "check_url",
    "config_from_overrides",
    "format_validation_error",
    "load_config",
    "parse_listen",
    "substitute_env",
    "url_kind",
]
