"""Daemon configuration: models, validators, YAML loading, env substitution, flag overrides."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Annotated, Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AfterValidator, BaseModel, ValidationError, create_model

from streamguard.config import (
    DaemonConfig,
    InferenceConfig,
    IngestDefaults,
    RedisConfig,
    ServerConfig,
    StreamConfig,
    config_from_overrides,
    load_config,
    parse_listen,
    substitute_env,
)
from streamguard.config.loader import format_validation_error
from streamguard.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SECRET = "hunter2-Zq9"  # noqa: S105 - a fake password the tests look for in messages


def write_yaml(tmp_path: Path, data: Any, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return path


def load_error(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={} if environ is None else environ)
    return str(caught.value)


def stream(**fields: Any) -> dict[str, Any]:
    return {"id": "cam1", "url": "rtsp://10.0.0.5/live", **fields}


# --- shipped files -------------------------------------------------------------------------------------


def test_example_yaml_loads_and_documents_the_defaults() -> None:
    config = load_config(REPO / "config" / "example.yaml", environ={})
    assert [s.id for s in config.streams] == ["front-door", "lobby", "replay"]
    assert [s.kind for s in config.streams] == ["rtsp", "rtsp", "file"]
    assert [s.id for s in config.enabled_streams()] == ["front-door", "lobby"]
    defaults = DaemonConfig()
    # The example states the defaults of every section: a drift between the two would mislead readers.
    for section in (
        "ingest",
        "faces",
        "tracking",
        "inference",
        "scoring",
        "redis",
        "server",
        "api",
        "console",
        "data_dir",
    ):
        assert getattr(config, section) == getattr(defaults, section), section


def test_example_yaml_takes_passwords_from_the_environment() -> None:
    config = load_config(REPO / "config" / "example.yaml", environ={"FRONT_DOOR_PASSWORD": SECRET})
    assert config.streams[0].url == f"rtsp://viewer:{SECRET}@192.168.1.20:554/stream1"
    assert SECRET not in str(config.redacted_dump())


def test_demo_yaml_loads_with_embedded_redis_on_localhost() -> None:
    config = load_config(REPO / "config" / "demo.yaml", environ={})
    assert [(s.id, s.kind) for s in config.streams] == [("demo", "file")]
    assert config.redis.embedded
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8080)


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    seen.add(model)
    for field in model.model_fields.values():
        for argument in (field.annotation, *typing.get_args(field.annotation)):
            if isinstance(argument, type) and issubclass(argument, BaseModel) and argument not in seen:
                _models(argument, seen)


def test_every_field_of_every_section_is_described() -> None:
    models: set[type[BaseModel]] = set()
    _models(DaemonConfig, models)
    assert len(models) == 16
    for model in models:
        assert model.model_config.get("extra") == "forbid", model.__name__
        for name, field in model.model_fields.items():
            assert field.description and len(field.description) > 10, f"{model.__name__}.{name}"


# --- validators: one case per validator, each must name the field path ------------------------------------

INVALID: list[tuple[dict[str, Any], str, str]] = [
    ({"streams": [stream(id="bad id")]}, "streams.0.id", "not a valid stream id"),
    ({"streams": [stream(id="x" * 65)]}, "streams.0.id", "not a valid stream id"),
    ({"streams": [stream(), stream(url="a.mp4"), stream(id="cam2"), stream(url="b.mp4")]}, "streams", "streams.3.id"),
    ({"streams": [stream(url="   ")]}, "streams.0.url", "must not be empty"),
    ({"streams": [stream(url="ftp://host/x")]}, "streams.0.url", "unsupported URL scheme 'ftp'"),
    ({"streams": [stream(url="rtsp:///live")]}, "streams.0.url", "names no host"),
    ({"streams": [stream(url="file://")]}, "streams.0.url", "names no path"),
    ({"streams": [{"id": "cam1"}]}, "streams.0.url", "is required"),
    ({"streams": [stream(type="webrtc")]}, "streams.0.url", "must be omitted"),
    ({"streams": [stream(type="file")]}, "streams.0.url", "is a rtsp source but `type` says file"),
    ({"streams": [stream(url="clip.mp4", transport="udp")]}, "streams.0.transport", "RTSP streams only"),
    ({"streams": [stream(loop=True)]}, "streams.0.loop", "file streams only"),
    ({"streams": [stream(realtime=False)]}, "streams.0.realtime", "file streams only"),
    ({"streams": [stream(analysis_fps=0)]}, "streams.0.analysis_fps", "greater than 0"),
    ({"ingest": {"analysis_fps": 500}}, "ingest.analysis_fps", "less than or equal to 120"),
    ({"ingest": {"transport": "quic"}}, "ingest.transport", "'tcp' or 'udp'"),
    ({"ingest": {"backoff_initial_s": 10, "backoff_max_s": 5}}, "ingest.backoff_max_s", "backoff_initial_s"),
    ({"ingest": {"backoff_jitter": 1.5}}, "ingest.backoff_jitter", "less than or equal to 1"),
    ({"faces": {"model": "huge_range"}}, "faces.model", "'full_range' or 'short_range'"),
    ({"faces": {"min_confidence": -0.1}}, "faces.min_confidence", "greater than or equal to 0"),
    ({"faces": {"crop_scale": 0.5}}, "faces.crop_scale", "greater than or equal to 1"),
    ({"tracking": {"max_age_s": 0}}, "tracking.max_age_s", "greater than 0"),
    ({"inference": {"device": "gpu"}}, "inference.device", "pattern"),
    ({"inference": {"max_batch": 0}}, "inference.max_batch", "greater than or equal to 1"),
    ({"inference": {"device": "cpu", "precision": "fp16"}}, "inference.precision", "needs a CUDA device"),
    ({"scoring": {"on_threshold": 0.5, "off_threshold": 0.5}}, "scoring.off_threshold", "below on_threshold"),
    ({"scoring": {"use_ema": True}}, "scoring.use_ema", "needs ema_alpha"),
    ({"scoring": {"ema_alpha": 0}}, "scoring.ema_alpha", "greater than 0"),
    ({"redis": {"url": "http://localhost:6379"}}, "redis.url", "redis://, rediss:// or unix://"),
    ({"redis": {"url": "redis://"}}, "redis.url", "names no host"),
    ({"redis": {"prefix": "has space"}}, "redis.prefix", "pattern"),
    ({"redis": {"retry_initial_s": 2, "retry_max_s": 1}}, "redis.retry_max_s", "retry_initial_s"),
    ({"server": {"listen": "8080"}}, "server.listen", "HOST:PORT"),
    ({"server": {"listen": "localhost:65536"}}, "server.listen", "0..65535"),
    ({"server": {"listen": "localhost:http"}}, "server.listen", "must be a number"),
    ({"server": {"listen": "::1:8080"}}, "server.listen", "in brackets"),
    ({"api": {"token": " "}}, "api.token", "must not be empty"),
    ({"api": {"allowed_hosts": ["cam 1"]}}, "api.allowed_hosts", "not an IP address, a CIDR block"),
    ({"api": {"allowed_url_schemes": ["ftp"]}}, "api.allowed_url_schemes.0", "'rtsp', 'rtsps', 'http' or 'https'"),
    ({"api": {"token": "a", "token_file": "/t"}}, "api", "set token or token_file, not both"),
    ({"server": {"tls": {"cert_file": "c.pem"}}}, "server.tls.key_file", "Field required"),
    ({"api": {"stream_tokens": {"bad id": "t"}}}, "api.stream_tokens", "not a valid stream id"),
    ({"api": {"max_sdp_bytes": 10}}, "api.max_sdp_bytes", "greater than or equal to 1024"),
    ({"api": {"webrtc": {"host_addresses": ["nowhere"]}}}, "api.webrtc.host_addresses", "does not appear to be"),
    ({"api": {"webrtc": {"ice_servers": [{"urls": ["http://x"]}]}}}, "api.webrtc.ice_servers.0.urls", "stun:"),
]


@pytest.mark.parametrize(("data", "field_path", "problem"), INVALID, ids=[case[1] for case in INVALID])
def test_invalid_value_is_reported_with_file_and_field_path(
    tmp_path: Path, data: dict[str, Any], field_path: str, problem: str
) -> None:
    with pytest.raises(ValidationError):
        DaemonConfig.model_validate(data)
    path = write_yaml(tmp_path, data)
    message = load_error(path)
    assert message.startswith(f"{path}: {field_path}: "), message
    assert problem in message
    assert "\n" not in message  # exactly one problem


def test_all_problems_are_listed_each_with_its_yaml_line(tmp_path: Path) -> None:
    text = (
        "streams:\n"  # 1
        "  - id: cam1\n"  # 2
        "    url: ftp://host/x\n"  # 3
        "scoring:\n"  # 4
        "  on_threshold: 0.4\n"  # 5
        "  off_threshold: 0.6\n"  # 6
        "server:\n"  # 7
        "  listen: nowhere\n"  # 8
    )
    path = write_yaml(tmp_path, text)
    lines = load_error(path).splitlines()
    assert lines[0] == "3 problems in the configuration:"
    pattern = re.compile(rf"  {re.escape(str(path))}: (\S+): .* \(line (\d+)\)")
    located = sorted(re.findall(pattern, "\n".join(lines[1:])))
    assert located == [("scoring.off_threshold", "6"), ("server.listen", "8"), ("streams.0.url", "3")]


def test_valid_stream_kinds() -> None:
    assert StreamConfig(id="a", url="rtsps://cam/live").kind == "rtsp"
    assert StreamConfig(id="a", url="RTSP://cam/live").kind == "rtsp"
    assert StreamConfig(id="a", url="https://host/live.m3u8").kind == "file"
    assert StreamConfig(id="a", url="file:///tmp/a.mp4").kind == "file"
    assert StreamConfig(id="a", url="clips/a.mp4?loop=1&realtime=1").kind == "file"
    webrtc = StreamConfig(id="phone", type="webrtc")
    assert (webrtc.kind, webrtc.url) == ("webrtc", None)
    assert StreamConfig(id="a", type="rtsp", url="rtsp://cam/live", transport="udp").transport == "udp"


def test_stream_overrides_resolve_against_ingest_defaults() -> None:
    defaults = IngestDefaults(analysis_fps=5, transport="tcp", queue_size=3)
    own = StreamConfig(id="cam", url="rtsp://cam/live", analysis_fps=2, transport="udp").resolve(defaults)
    inherited = StreamConfig(id="file", url="a.mp4", loop=True).resolve(defaults)
    assert (own.analysis_fps, own.transport, own.queue_size, own.loop) == (2, "udp", 3, None)
    assert (inherited.analysis_fps, inherited.transport, inherited.loop, inherited.kind) == (5, "tcp", True, "file")


def test_listen_parsing() -> None:
    assert parse_listen("0.0.0.0:9000") == ("0.0.0.0", 9000)  # noqa: S104 - parsing only
    assert parse_listen("[::1]:8080") == ("::1", 8080)
    assert (ServerConfig(listen=" localhost:1 ").host, ServerConfig(listen="localhost:1").port) == ("localhost", 1)


def test_inference_defaults_depend_on_the_device() -> None:
    auto = InferenceConfig()
    assert (auto.resolved_max_batch(False), auto.resolved_max_batch(True)) == (8, 64)
    assert (auto.resolved_max_delay_s(False), auto.resolved_max_delay_s(True)) == (0.010, 0.020)
    fixed = InferenceConfig(max_batch=16, max_delay_ms=5)
    assert (fixed.resolved_max_batch(True), fixed.resolved_max_delay_s(False)) == (16, 0.005)


def test_models_are_frozen() -> None:
    config = DaemonConfig()
    with pytest.raises(ValidationError):
        config.server.listen = "0.0.0.0:1"


# --- unknown fields, files, YAML errors --------------------------------------------------------------------


def test_unknown_field_is_rejected_by_name_with_a_suggestion(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, {"streams": [stream(urll="x")], "ingst": {}})
    message = load_error(path)
    assert f"{path}: streams.0.urll: unknown field; did you mean `url`?" in message
    assert f"{path}: ingst: unknown field; did you mean `ingest`?" in message


def test_missing_file(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in message and "not found" in message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    message = load_error(write_yaml(tmp_path, "- id: cam1\n"))
    assert "top level must be a mapping" in message and "list" in message


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write_yaml(tmp_path, "# nothing\n"), environ={}) == DaemonConfig()


def test_yaml_syntax_error_names_file_and_line_without_quoting_it(tmp_path: Path) -> None:
    text = f"streams:\n  - id: cam1\n    url: rtsp://admin:{SECRET}@cam/live: oops\n"
    path = write_yaml(tmp_path, text)
    message = load_error(path)
    assert message.startswith(f"{path}: YAML syntax error at line 3, column ")
    assert SECRET not in message


def test_repeated_key_is_an_error(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "server:\n  listen: a:1\nserver:\n  listen: b:2\n")
    message = load_error(path)
    assert f"{path}: server: key repeated (line 3, first on line 1)" in message


# --- environment substitution --------------------------------------------------------------------------------


def test_env_substitution_with_defaults(tmp_path: Path) -> None:
    text = (
        "streams:\n"
        "  - id: ${CAM_ID}\n"
        "    url: rtsp://admin:${CAM_PASS}@${CAM_HOST:-10.0.0.9}/live\n"
        "    analysis_fps: ${FPS:-2.5}\n"
        "redis:\n"
        "  prefix: ${EMPTY:-fallback}\n"
        "server:\n"
        "  listen: 127.0.0.1:${PORT}\n"
        "data_dir: $${NOT_A_VAR}\n"
    )
    environ = {"CAM_ID": "door", "CAM_PASS": SECRET, "EMPTY": "", "PORT": "9100"}
    config = load_config(write_yaml(tmp_path, text), environ=environ)
    assert config.streams[0].id == "door"
    assert config.streams[0].url == f"rtsp://admin:{SECRET}@10.0.0.9/live"
    assert config.streams[0].analysis_fps == 2.5
    assert config.redis.prefix == "fallback"
    assert config.server.port == 9100
    assert config.data_dir == Path("${NOT_A_VAR}")


def test_missing_env_var_names_file_field_and_line(tmp_path: Path) -> None:
    text = "streams:\n  - id: cam1\n    url: rtsp://u:${CAM_PASS}@cam/live\nredis:\n  url: ${REDIS_URL}\n"
    path = write_yaml(tmp_path, text)
    lines = load_error(path).splitlines()
    assert lines[0] == "2 problems in the configuration:"
    assert lines[1].strip().startswith(f"{path}: streams.0.url: environment variable CAM_PASS is not set")
    assert lines[1].endswith("(line 3)")
    assert lines[2].strip().startswith(f"{path}: redis.url: environment variable REDIS_URL is not set")


def test_malformed_reference_is_reported(tmp_path: Path) -> None:
    message = load_error(write_yaml(tmp_path, {"data_dir": "${HOME"}))
    assert "data_dir: malformed ${...}" in message


@given(value=st.text(max_size=30))
def test_substituted_text_is_not_scanned_again(value: str) -> None:
    data = {"a": ["x${V}y", {"b": "${MISSING:-d}"}], "n": 3}
    assert substitute_env(data, environ={"V": value}) == {"a": [f"x{value}y", {"b": "d"}], "n": 3}


@given(text=st.text(alphabet=st.characters(blacklist_characters="$"), max_size=40))
def test_text_without_references_is_unchanged(text: str) -> None:
    assert substitute_env({"k": text}, environ={}) == {"k": text}


# --- credentials never appear in messages ---------------------------------------------------------------------


def test_password_does_not_appear_in_validation_errors(tmp_path: Path) -> None:
    data = {
        "streams": [
            stream(url=f"ftp://admin:{SECRET}@host/x"),
            stream(id="cam2", url=f"rtsp://admin:{SECRET}@host/x", type="file"),
        ],
        "redis": {"url": f"http://:{SECRET}@redis:6379"},
    }
    message = load_error(write_yaml(tmp_path, data))
    assert message.count("\n") == 3
    assert SECRET not in message


def _fail_quoting(url: str) -> str:
    raise ValueError(f"cannot open {url}")


def test_format_validation_error_redacts_urls_quoted_by_a_validator() -> None:
    quoting = create_model("Quoting", url=(Annotated[str, AfterValidator(_fail_quoting)], ...))
    with pytest.raises(ValidationError) as caught:
        quoting.model_validate({"url": f"rtsp://admin:{SECRET}@cam/live"})
    message = format_validation_error(caught.value, "cfg.yaml", model=quoting)
    assert message == "cfg.yaml: url: cannot open rtsp://***@cam/live"


def test_redacted_dump_hides_credentials() -> None:
    config = config_from_overrides(sources=[f"cam=rtsp://admin:{SECRET}@cam/live"], redis_url=f"redis://:{SECRET}@r:1")
    dumped = config.redacted_dump()
    assert SECRET not in str(dumped)
    assert dumped["streams"][0]["url"] == "rtsp://***@cam/live"


# --- command-line overrides ---------------------------------------------------------------------------------------


def test_overrides_without_a_file() -> None:
    config = config_from_overrides(None, ["cam1=rtsp://cam/live", "clip=demo.mp4?loop=1&realtime=1"], None, None)
    assert [(s.id, s.kind, s.url) for s in config.streams] == [
        ("cam1", "rtsp", "rtsp://cam/live"),
        ("clip", "file", "demo.mp4?loop=1&realtime=1"),
    ]
    assert config.redis.embedded and config.server.listen == "127.0.0.1:8080"


def test_flags_override_the_file() -> None:
    base = DaemonConfig.model_validate(
        {
            "streams": [
                {"id": "demo", "url": "placeholder.mp4", "realtime": True, "analysis_fps": 3, "enabled": False},
                {"id": "cam", "url": "rtsp://old/live", "transport": "udp"},
                {"id": "keep", "url": "rtsp://keep/live"},
            ],
            "server": {"listen": "127.0.0.1:8080"},
        }
    )
    config = config_from_overrides(
        base, ["demo=/tmp/clip.mp4", "cam=other.mp4", "new=rtsp://new/live"], "redis://r:6380/1", "0.0.0.0:9000"
    )
    demo, cam, keep, new = config.streams
    assert (demo.url, demo.realtime, demo.analysis_fps, demo.enabled) == ("/tmp/clip.mp4", True, 3, True)
    assert (cam.url, cam.kind, cam.transport) == ("other.mp4", "file", None)  # rtsp-only override dropped
    assert keep == base.streams[2]
    assert (new.id, new.kind) == ("new", "rtsp")
    assert config.redis.url == "redis://r:6380/1"
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9000)  # noqa: S104 - no socket is opened
    assert base.streams[0].url == "placeholder.mp4"  # the base is left untouched


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"sources": [f"rtsp://admin:{SECRET}@cam/live"]}, "--source 'rtsp://***@cam/live': expected ID=URL"),
        ({"sources": ["=clip.mp4"]}, "--source '=clip.mp4': expected ID=URL"),
        ({"sources": [f"rtsp://admin:{SECRET}@cam/live?a=b"]}, "--source 'rtsp://***@cam/live?a=b': expected ID=URL"),
        ({"sources": ["cam="]}, "--source 'cam=': expected ID=URL"),
        ({"sources": [f"cam=ftp://admin:{SECRET}@h/x"]}, "--source cam=ftp://***@h/x: url: unsupported URL scheme"),
        ({"sources": ["bad id=clip.mp4"]}, "--source bad id=clip.mp4: id: 'bad id' is not a valid stream id"),
        ({"sources": ["a=1.mp4", "a=2.mp4"]}, "--source: stream id given more than once: a"),
        ({"redis_url": f"http://:{SECRET}@r:1"}, "--redis: must start with redis://, rediss:// or unix://"),
        ({"listen": "localhost"}, "--listen: expected HOST:PORT"),
        ({"listen": "localhost:70000"}, "--listen: port must be in 0..65535"),
    ],
)
def test_bad_flag_names_the_flag_and_hides_passwords(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_overrides(None, **kwargs)
    message = str(caught.value)
    assert message.startswith(expected), message
    assert SECRET not in message


def test_redis_config_embedded_when_no_url() -> None:
    assert RedisConfig().embedded
    assert not RedisConfig(url="unix:///run/redis.sock").embedded
