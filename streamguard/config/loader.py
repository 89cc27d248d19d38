"""Read a YAML configuration file into a `DaemonConfig`, and merge command-line overrides into one.

Every problem is reported as ``<file>: <dotted.field.path>: <problem>`` followed by the YAML line when it
can be found, all problems at once, in a `ConfigError`. Credentials never appear in these messages: URLs
are redacted and YAML snippets (which may quote a URL) are not copied into them.

``${VAR}`` and ``${VAR:-default}`` in any string value are replaced from the environment before
validation (``$${`` writes a literal ``${``), so secrets can stay out of the file.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from streamguard.config.daemon import DaemonConfig
from streamguard.config.redis import check_redis_url
from streamguard.config.server import parse_listen
from streamguard.config.streams import StreamConfig, url_kind
from streamguard.errors import ConfigError
from streamguard.redaction import redact_text

logger = logging.getLogger(__name__)

PathPart = str | int
FieldPath = tuple[PathPart, ...]

_ENV_REFERENCE = re.compile(r"\$\$\{|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|\$\{")
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")
ROOT_PATH_LABEL = "(top level)"
_LITERAL_REFERENCE = "$${"


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a configuration, located by its field path.

    Attributes:
        path: Keys and list indexes from the top of the document, e.g. ``("streams", 0, "url")``.
        message: What is wrong, free of credentials.
    """

    path: FieldPath
    message: str


def dotted_path(path: Sequence[PathPart]) -> str:
    """Write a field path as ``streams.0.url`` (``(top level)`` for the document itself)."""
    return ".".join(str(part) for part in path) if path else ROOT_PATH_LABEL


def format_problems(
    source: str | os.PathLike[str], problems: Sequence[ConfigProblem], root: yaml.Node | None = None
) -> str:
    """Format problems one per line as ``<source>: <path>: <problem> (line N)``.

    Args:
        source: The file name (or ``--source`` etc. for command-line values).
        problems: What is wrong; at least one.
        root: The composed YAML document, used to find line numbers; ``None`` leaves them out.

    Returns:
        One line for a single problem; otherwise a count followed by one indented line per problem.
    """
    lines = []
    for problem in problems:
        line = _line_of(root, problem.path) if root is not None else None
        where = f" (line {line})" if line is not None else ""
        lines.append(f"{os.fspath(source)}: {dotted_path(problem.path)}: {problem.message}{where}")
    if len(lines) == 1:
        return lines[0]
    return f"{len(lines)} problems in the configuration:\n" + "\n".join(f"  {line}" for line in lines)


def validation_problems(error: ValidationError, model: type[BaseModel] = DaemonConfig) -> list[ConfigProblem]:
    """Turn a pydantic `ValidationError` into problems with readable, credential-free messages.

    Args:
        error: The error raised by validating `model`.
        model: The model that was validated; used to list the allowed names of unknown fields.
    """
    urls = list(_urls_in([detail.get("input") for detail in error.errors()]))
    problems = []
    for detail in error.errors(include_url=False):
        path: FieldPath = tuple(detail["loc"])
        if detail["type"] == "extra_forbidden":
            message = _unknown_field_message(model, path)
        else:
            message = detail["msg"]
            for prefix in _PYDANTIC_PREFIXES:
                message = message.removeprefix(prefix)
        problems.append(ConfigProblem(path, redact_text(message, urls)))
    return problems


def format_validation_error(
    error: ValidationError,
    source: str | os.PathLike[str],
    root: yaml.Node | None = None,
    model: type[BaseModel] = DaemonConfig,
) -> str:
    """Describe every problem of a `ValidationError` as ``<source>: <dotted.field.path>: <problem>``.

    Args:
        error: The error raised by validating `model`.
        source: The configuration file (or a label such as ``--source``).
        root: The composed YAML document, to add line numbers; ``None`` leaves them out.
        model: The model that was validated (for the allowed names of unknown fields).

    Returns:
        The message, with URLs redacted.
    """
    return format_problems(source, validation_problems(error, model), root)


def substitute_env(
    data: Any,
    source: str | os.PathLike[str] = "<config>",
    environ: Mapping[str, str] | None = None,
    root: yaml.Node | None = None,
) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string value of parsed YAML data.

    Mapping keys are left alone. ``$${`` stands for a literal ``${``. A default is used when the variable
    is unset or empty. Substituted text is not scanned again.

    Args:
        data: Parsed YAML (mappings, lists, scalars).
        source: The file name used in error messages.
        environ: The variables to use; default `os.environ`.
        root: The composed YAML document, to add line numbers to error messages.

    Returns:
        A copy of `data` with the references replaced.

    Raises:
        ConfigError: When a variable without default is unset, or a ``${`` is malformed; every such
            place is listed with its field path.
    """
    problems: list[ConfigProblem] = []
    result = _substitute(data, os.environ if environ is None else environ, (), problems)
    if problems:
        raise ConfigError(format_problems(source, problems, root))
    return result


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> DaemonConfig:
    """Read, substitute and validate a YAML configuration file.

    An empty file gives the defaults (no streams). Relative paths inside are relative to the working
    directory.

    Args:
        path: The YAML file.
        environ: Variables for ``${VAR}`` substitution; default `os.environ`.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: When the file is missing or unreadable, is not valid YAML (the message gives the
            line), is not a mapping, uses an unset variable, or fails validation (every problem listed
            as ``<file>: <field.path>: <problem>`` with its line).
    """
    source = os.fspath(path)
    text = _read_text(Path(path))
    root, data = _parse_yaml(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping of sections (streams, ingest, ...), not a {type(data).__name__}"
        )
    data = substitute_env(data, source, environ, root)
    try:
        config = DaemonConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source, root)) from e
    logger.debug("loaded configuration %s: %d streams", source, len(config.streams))
    return config


def config_from_overrides(
    base: DaemonConfig | None = None,
    sources: Sequence[str] = (),
    redis_url: str | None = None,
    listen: str | None = None,
) -> DaemonConfig:
    """Apply command-line flags on top of a configuration (flags win).

    A ``--source ID=URL`` whose id names a stream of `base` replaces that stream's URL (and enables it;
    its other settings stay when they still fit the kind of source); other ids are appended.

    Args:
        base: The configuration from the file; ``None`` starts from the defaults.
        sources: ``--source`` values, each ``ID=URL``.
        redis_url: ``--redis``; ``None`` keeps the file's setting.
        listen: ``--listen HOST:PORT``; ``None`` keeps the file's setting.

    Returns:
        The merged, validated configuration.

    Raises:
        ConfigError: Naming the flag (``--source``, ``--redis``, ``--listen``) whose value is invalid.
    """
    config = DaemonConfig() if base is None else base
    overrides = [_parse_source_flag(value) for value in sources]
    _check_unique_flag_ids(overrides)
    data = config.model_dump()
    for stream in overrides:
        _merge_stream(data["streams"], stream)
    if redis_url is not None:
        data["redis"]["url"] = _checked_flag("--redis", redis_url, check_redis_url)
    if listen is not None:
        data["server"]["listen"] = _checked_flag("--listen", listen, parse_listen)
    try:
        return DaemonConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, "command line")) from e


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: config file not found") from e
    except IsADirectoryError as e:
        raise ConfigError(f"{path}: is a directory, not a config file") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {e.start})") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file: {e.strerror or e}") from e


def _parse_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        _check_duplicate_keys(root, (), source)
        return root, loader.construct_document(root)
    except yaml.MarkedYAMLError as e:
        raise ConfigError(_yaml_error_message(e, source)) from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: YAML error: {redact_text(str(e))}") from e
    finally:
        loader.dispose()


def _yaml_error_message(error: yaml.MarkedYAMLError, source: str) -> str:
    # str(error) quotes the offending line, which may hold a password: build the message from parts.
    mark = error.problem_mark or error.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown position"
    what = "; ".join(part for part in (error.context, error.problem) if part) or "invalid YAML"
    return f"{source}: YAML syntax error at {where}: {redact_text(what)}"


def _check_duplicate_keys(node: yaml.Node, path: FieldPath, source: str) -> None:
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_duplicate_keys(item, (*path, index), source)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if isinstance(key_node, yaml.ScalarNode) and key != "<<":
                if key in seen:
                    raise ConfigError(
                        f"{source}: {dotted_path((*path, key))}: key repeated (line {key_node.start_mark.line + 1},"
                        f" first on line {seen[key]})"
                    )
                seen[key] = key_node.start_mark.line + 1
            _check_duplicate_keys(value_node, (*path, key), source)


def _substitute(value: Any, environ: Mapping[str, str], path: FieldPath, problems: list[ConfigProblem]) -> Any:
    if isinstance(value, str):
        return _substitute_text(value, environ, path, problems)
    if isinstance(value, dict):
        return {key: _substitute(item, environ, (*path, key), problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, environ, (*path, index), problems) for index, item in enumerate(value)]
    return value


def _substitute_text(text: str, environ: Mapping[str, str], path: FieldPath, problems: list[ConfigProblem]) -> str:
    def replace(match: re.Match[str]) -> str:
        reference, name, default = match.group(0), match.group("name"), match.group("default")
        if reference == _LITERAL_REFERENCE:
            return "${"
        if name is None:
            problems.append(
                ConfigProblem(path, "malformed ${...}: write ${VAR} or ${VAR:-default} (and $${ for a literal ${)")
            )
            return reference
        found = environ.get(name, "")
        if found:
            return found
        if default is not None:
            return default
        if name in environ:
            return ""
        problems.append(
            ConfigProblem(path, f"environment variable {name} is not set (give a default with ${{{name}:-...}})")
        )
        return reference

    return _ENV_REFERENCE.sub(replace, text)


def _line_of(root: yaml.Node, path: FieldPath) -> int | None:
    node, line = root, root.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            entry = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if entry is None:
                break
            node, line = entry[1], entry[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _urls_in(values: Any) -> Iterator[str]:
    if isinstance(values, str):
        if "://" in values:
            yield values
    elif isinstance(values, dict):
        for item in values.values():
            yield from _urls_in(item)
    elif isinstance(values, (list, tuple)):
        for item in values:
            yield from _urls_in(item)


def _unknown_field_message(model: type[BaseModel], path: FieldPath) -> str:
    owner = _model_at(model, path[:-1])
    if owner is None:
        return "unknown field"
    allowed = list(owner.model_fields)
    hint = difflib.get_close_matches(str(path[-1]), allowed, n=1)
    suggestion = f"did you mean `{hint[0]}`? " if hint else ""
    return f"unknown field; {suggestion}allowed: {', '.join(allowed)}"


def _model_at(model: type[BaseModel], path: FieldPath) -> type[BaseModel] | None:
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = _model_in(current.model_fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for argument in typing.get_args(annotation):
            found = _model_in(argument)
            if found is not None:
                return found
    return None


def _parse_source_flag(value: str) -> StreamConfig:
    stream_id, sep, url = value.partition("=")
    if not sep or not stream_id.strip() or not url.strip() or "://" in stream_id:
        raise ConfigError(f"--source {redact_text(value)!r}: expected ID=URL, e.g. --source cam1=rtsp://host/stream")
    try:
        return StreamConfig(id=stream_id.strip(), url=url)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, f"--source {redact_text(value)}", model=StreamConfig)) from e


def _check_unique_flag_ids(streams: Sequence[StreamConfig]) -> None:
    ids = [stream.id for stream in streams]
    repeated = sorted({stream_id for stream_id in ids if ids.count(stream_id) > 1})
    if repeated:
        raise ConfigError(f"--source: stream id given more than once: {', '.join(repeated)}")


def _merge_stream(streams: list[dict[str, Any]], override: StreamConfig) -> None:
    for index, existing in enumerate(streams):
        if existing["id"] == override.id:
            streams[index] = _replaced_stream(existing, override)
            return
    streams.append(override.model_dump())


def _replaced_stream(existing: dict[str, Any], override: StreamConfig) -> dict[str, Any]:
    merged = {**existing, "url": override.url, "type": None, "enabled": True}
    kind = url_kind(override.url or "")
    if kind != "rtsp":
        merged["transport"] = None
    if kind != "file":
        merged["loop"] = merged["realtime"] = None
    return merged


def _checked_flag(flag: str, value: str, check: typing.Callable[[str], object]) -> str:
    try:
        check(value)
    except ValueError as e:
        raise ConfigError(f"{flag}: {redact_text(str(e), [value])}") from e
    return value.strip()
