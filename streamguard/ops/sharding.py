"""Rendezvous (highest-random-weight) hashing of stream ids over the replicas of a StatefulSet.

Every replica reads the same configuration and keeps only the streams it owns: stream ``s`` belongs to the
replica ``r`` in ``0..n-1`` with the highest weight ``H(s, r)``. No coordination is needed, every stream has
exactly one owner, and going from ``n`` to ``n + 1`` replicas moves only the streams whose new highest
weight is the new replica's, about ``1 / (n + 1)`` of them (the others keep their owner).

The replica is told by two environment variables:

* ``STREAMGUARD_REPLICAS``: the number of replicas (the StatefulSet's ``spec.replicas``);
* ``STREAMGUARD_REPLICA_INDEX``: this replica's ordinal, either a number or a pod name ending in ``-N``
  (``streamguard-2``), so the downward API's ``metadata.name`` can be used as is.

When neither is set the daemon runs every stream (a single instance).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from streamguard.config import DaemonConfig
from streamguard.errors import ConfigError

REPLICAS_ENV = "STREAMGUARD_REPLICAS"
REPLICA_INDEX_ENV = "STREAMGUARD_REPLICA_INDEX"
_ORDINAL_SUFFIX = re.compile(r"-(\d+)$")


@dataclass(frozen=True, slots=True)
class Replica:
    """This process's place in the set of replicas.

    Attributes:
        index: Ordinal of this replica, ``0 <= index < count``.
        count: Number of replicas.
    """

    index: int
    count: int


def weight(stream_id: str, replica: int) -> int:
    """The rendezvous weight of a stream on one replica: the first 8 bytes of SHA-256 of both, as an integer.

    Args:
        stream_id: The stream id.
        replica: The replica ordinal.

    Returns:
        A 64-bit integer, the same on every machine and Python version (no ``hash()`` randomisation).
    """
    digest = hashlib.sha256(f"{stream_id}\x00{replica}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def owner(stream_id: str, replicas: int) -> int:
    """The replica ordinal that owns `stream_id` among `replicas` replicas (ties go to the lower ordinal).

    Args:
        stream_id: The stream id.
        replicas: Number of replicas, at least 1.

    Returns:
        The ordinal in ``0..replicas-1`` with the highest `weight`.

    Raises:
        ValueError: When `replicas` is below 1.
    """
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    return max(range(replicas), key=lambda r: (weight(stream_id, r), -r))


def assign(stream_ids: Iterable[str], replicas: int) -> dict[int, list[str]]:
    """Split stream ids over the replicas.

    Args:
        stream_ids: The stream ids, in configuration order.
        replicas: Number of replicas, at least 1.

    Returns:
        For every ordinal ``0..replicas-1`` (also those that own nothing), its streams in input order.
    """
    shards: dict[int, list[str]] = {r: [] for r in range(replicas)}
    for stream_id in stream_ids:
        shards[owner(stream_id, replicas)].append(stream_id)
    return shards


def parse_index(value: str) -> int:
    """Read a replica ordinal from ``"2"`` or from a StatefulSet pod name such as ``"streamguard-2"``.

    Args:
        value: The value of ``STREAMGUARD_REPLICA_INDEX``.

    Returns:
        The ordinal.

    Raises:
        ValueError: When the value is neither a number nor a name ending in ``-N``.
    """
    text = value.strip()
    if text.isdigit():
        return int(text)
    match = _ORDINAL_SUFFIX.search(text)
    if match is None:
        raise ValueError(f"expected an ordinal or a pod name ending in -N, got {value!r}")
    return int(match.group(1))


def replica_from_env(env: Mapping[str, str] | None = None) -> Replica | None:
    """This process's replica from ``STREAMGUARD_REPLICA_INDEX`` and ``STREAMGUARD_REPLICAS``.

    Args:
        env: The environment; `os.environ` when omitted.

    Returns:
        The replica, or ``None`` when neither variable is set (run every stream).

    Raises:
        ConfigError: When only one of them is set, a value is not a number, or the index is out of range.
    """
    env = os.environ if env is None else env
    index_text = env.get(REPLICA_INDEX_ENV, "").strip()
    count_text = env.get(REPLICAS_ENV, "").strip()
    if not index_text and not count_text:
        return None
    if not index_text or not count_text:
        raise ConfigError(f"set both {REPLICA_INDEX_ENV} and {REPLICAS_ENV}, or neither")
    try:
        index = parse_index(index_text)
        count = int(count_text)
    except ValueError as exc:
        raise ConfigError(f"{REPLICA_INDEX_ENV}/{REPLICAS_ENV}: {exc}") from exc
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"{REPLICA_INDEX_ENV}={index} is not in 0..{REPLICAS_ENV}-1 ({REPLICAS_ENV}={count})")
    return Replica(index=index, count=count)


def filter_streams_for_replica(config: DaemonConfig, env: Mapping[str, str] | None = None) -> DaemonConfig:
    """Keep only the configured streams this replica owns (all of them when no replica is configured).

    Call it on the loaded configuration before the daemon starts its streams. Disabled streams are filtered
    like the others, so enabling one later does not move it.

    Args:
        config: The loaded configuration.
        env: The environment; `os.environ` when omitted.

    Returns:
        `config` itself when no replica is configured, else a copy with the owned streams only.

    Raises:
        ConfigError: As `replica_from_env`.
    """
    replica = replica_from_env(env)
    if replica is None:
        return config
    kept = [s for s in config.streams if owner(s.id, replica.count) == replica.index]
    return config.model_copy(update={"streams": kept})


def other_owner_lookup(env: Mapping[str, str] | None = None) -> Callable[[str], int | None]:
    """For the runtime API: the replica that owns a stream id when it is not this one (``None``: this one).

    Without replicas configured, this process owns every stream.

    Raises:
        ConfigError: As `replica_from_env`.
    """
    replica = replica_from_env(env)
    if replica is None:
        return lambda _stream_id: None

    def lookup(stream_id: str) -> int | None:
        index = owner(stream_id, replica.count)
        return None if index == replica.index else index

    return lookup
