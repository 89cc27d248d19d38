"""Rendezvous hashing of stream ids over StatefulSet replicas."""

from __future__ import annotations

import pytest

from streamguard.config import DaemonConfig, StreamConfig
from streamguard.errors import ConfigError
from streamguard.ops.sharding import (
    REPLICA_INDEX_ENV,
    REPLICAS_ENV,
    Replica,
    assign,
    filter_streams_for_replica,
    owner,
    parse_index,
    replica_from_env,
)

STREAMS = [f"cam-{i:04d}" for i in range(2000)]
MAX_REPLICAS = 8


def moved_share(before: int, after: int) -> float:
    """The share of `STREAMS` whose owner changes from `before` to `after` replicas."""
    return sum(owner(s, before) != owner(s, after) for s in STREAMS) / len(STREAMS)


@pytest.mark.parametrize("replicas", range(1, MAX_REPLICAS + 1))
def test_every_stream_has_exactly_one_owner_and_shards_are_balanced(replicas: int) -> None:
    shards = assign(STREAMS, replicas)
    assert sorted(shards) == list(range(replicas))
    owned = [s for shard in shards.values() for s in shard]
    assert sorted(owned) == sorted(STREAMS)  # each exactly once
    expected = len(STREAMS) / replicas
    assert all(abs(len(shard) - expected) < 0.2 * expected for shard in shards.values())


@pytest.mark.parametrize("replicas", range(1, MAX_REPLICAS))
def test_scaling_up_by_one_moves_about_one_over_n_plus_one_and_only_to_the_new_replica(replicas: int) -> None:
    share = moved_share(replicas, replicas + 1)
    ideal = 1 / (replicas + 1)
    assert abs(share - ideal) < 0.25 * ideal, f"{replicas}->{replicas + 1}: moved {share:.3f}, ideal {ideal:.3f}"
    # Nothing moves between old replicas: every moved stream goes to the new one.
    assert all(owner(s, replicas + 1) == replicas for s in STREAMS if owner(s, replicas) != owner(s, replicas + 1))


def test_scaling_down_moves_only_the_removed_replicas_streams() -> None:
    for replicas in range(2, MAX_REPLICAS + 1):
        for s in STREAMS[:500]:
            if owner(s, replicas) != replicas - 1:
                assert owner(s, replicas - 1) == owner(s, replicas)


def test_owner_is_stable_and_checks_its_input() -> None:
    assert owner("front-door", 1) == 0
    assert [owner("front-door", n) for n in range(1, 5)] == [owner("front-door", n) for n in range(1, 5)]
    with pytest.raises(ValueError):
        owner("x", 0)


@pytest.mark.parametrize(("value", "index"), [("0", 0), (" 3 ", 3), ("streamguard-2", 2), ("sg-gpu-11", 11)])
def test_parse_index_accepts_ordinals_and_pod_names(value: str, index: int) -> None:
    assert parse_index(value) == index


def test_replica_from_env() -> None:
    assert replica_from_env({}) is None
    assert replica_from_env({REPLICA_INDEX_ENV: "streamguard-1", REPLICAS_ENV: "3"}) == Replica(1, 3)
    for env in (
        {REPLICA_INDEX_ENV: "1"},
        {REPLICAS_ENV: "2"},
        {REPLICA_INDEX_ENV: "2", REPLICAS_ENV: "2"},
        {REPLICA_INDEX_ENV: "pod", REPLICAS_ENV: "2"},
        {REPLICA_INDEX_ENV: "0", REPLICAS_ENV: "two"},
    ):
        with pytest.raises(ConfigError):
            replica_from_env(env)


def test_filter_streams_for_replica_partitions_the_configured_streams() -> None:
    config = DaemonConfig(streams=[StreamConfig(id=s, url=f"rtsp://cam/{s}") for s in STREAMS[:50]])
    assert filter_streams_for_replica(config, {}) is config
    kept = [
        [s.id for s in filter_streams_for_replica(config, {REPLICA_INDEX_ENV: str(i), REPLICAS_ENV: "3"}).streams]
        for i in range(3)
    ]
    assert sorted(s for shard in kept for s in shard) == sorted(STREAMS[:50])
    assert kept == [assign(STREAMS[:50], 3)[i] for i in range(3)]


def test_other_owner_lookup_names_the_owning_replica_only_when_it_is_another() -> None:
    from streamguard.ops.sharding import other_owner_lookup

    lookups = [
        other_owner_lookup({"STREAMGUARD_REPLICAS": "3", "STREAMGUARD_REPLICA_INDEX": f"streamguard-{i}"})
        for i in range(3)
    ]
    for stream_id in (f"cam-{n}" for n in range(30)):
        answers = [lookup(stream_id) for lookup in lookups]
        assert answers.count(None) == 1  # exactly one replica owns it; the others name that one
        owner_index = answers.index(None)
        assert all(a == owner_index for i, a in enumerate(answers) if i != owner_index)
    assert other_owner_lookup({})("anything") is None
