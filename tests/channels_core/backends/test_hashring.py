"""Consistent hashing of queue names over Redis shards."""

from __future__ import annotations

from collections import Counter

import pytest

from channels_core.backends.hashring import HashRing

NODES = ["redis://10.0.0.1:6379/0", "redis://10.0.0.2:6379/0", "redis://10.0.0.3:6379/0"]
KEYS = [f"chat.room-{n}" for n in range(1500)] + [f"!django.websocket.send.srv{n}" for n in range(1500)]


def test_same_nodes_give_the_same_shards() -> None:
    first, second = HashRing(NODES), HashRing(list(NODES))
    assert [first.shard_of(key) for key in KEYS] == [second.shard_of(key) for key in KEYS]


def test_a_key_keeps_its_shard() -> None:
    ring = HashRing(NODES)
    assert [ring.shard_of(key) for key in KEYS] == [ring.shard_of(key) for key in KEYS]


def test_shards_are_in_node_order() -> None:
    ring = HashRing(NODES)
    assert ring.size == 3
    assert {ring.shard_of(key) for key in KEYS} == {0, 1, 2}


def test_keys_spread_over_every_shard() -> None:
    ring = HashRing(NODES)
    counts = Counter(ring.shard_of(key) for key in KEYS)
    for shard in range(3):
        assert counts[shard] >= 0.20 * len(KEYS), counts


def test_adding_a_node_moves_few_keys_and_only_to_it() -> None:
    before, after = HashRing(NODES), HashRing([*NODES, "redis://10.0.0.4:6379/0"])
    moved = [key for key in KEYS if before.shard_of(key) != after.shard_of(key)]
    assert moved  # the new node takes some keys
    assert len(moved) <= 0.40 * len(KEYS)
    assert {after.shard_of(key) for key in moved} == {3}


def test_shards_follow_the_node_names_not_just_their_number() -> None:
    renamed = HashRing(["redis://a:1/0", "redis://b:1/0", "redis://c:1/0"])
    original = HashRing(NODES)
    assert [renamed.shard_of(k) for k in KEYS] != [original.shard_of(k) for k in KEYS]


def test_one_node_always_gets_shard_zero() -> None:
    ring = HashRing(["redis://only:6379/0"])
    assert {ring.shard_of(key) for key in KEYS} == {0}


def test_no_nodes_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="at least one node"):
        HashRing([])
