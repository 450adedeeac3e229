"""Group history on the Redis backends: what only they promise (the contract is test_contract_history.py).

One Redis: each operation is one script. Several shards and Redis Cluster: a
lock in the group's home that a crashed holder's TTL frees; the history keys
and the lock in the group's slot. The position Lua writes is byte for byte
the one Python writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from channels_core.backends import BaseBackend, backend_from_config
from channels_core.backends.history import Position, Recovery
from channels_core.backends.redis import RedisBackend
from channels_core.backends.redis_cluster import RedisClusterBackend
from channels_core.backends.redis_history_lua import POSITION_LUA
from channels_core.backends.redis_pool import IDLE_CHECK_AFTER
from channels_core.backends.redis_shard import Shard
from channels_core.backends.storage import GroupSendResult
from channels_core.exceptions import BackendUnavailable
from channels_core.messages import with_position
from channels_core.testing import RedisCluster, RedisServer, wait_past

from .test_contract import drain

HISTORY = {"live-*": 5}
_made: list[BaseBackend] = []


@pytest.fixture(autouse=True)
def close_backends() -> Iterator[None]:
    yield
    while _made:
        _made.pop().close()


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A redis-server of this test's own, so it may be stopped and restarted."""
    server = RedisServer().start()
    yield server
    server.stop()


def make(servers: list[RedisServer], **config: Any) -> RedisBackend:
    backend = RedisBackend({"HOSTS": [s.url for s in servers], "PREFIX": "h:", "GROUP_HISTORY": HISTORY, **config})
    backend.flush()
    _made.append(backend)
    return backend


def make_cluster(cluster: RedisCluster, **config: Any) -> RedisClusterBackend:
    backend = backend_from_config(
        {
            "BACKEND": "channels_core.backends.redis_cluster.RedisClusterBackend",
            "HOSTS": cluster.urls[:1],
            "PREFIX": "h:",
            "GROUP_HISTORY": HISTORY,
            **config,
        }
    )
    assert isinstance(backend, RedisClusterBackend)
    backend.flush()
    _made.append(backend)
    return backend


def scripts_run(clients: list[redis.Redis]) -> int:
    """How many scripts the servers ran, over all (``INFO commandstats``)."""
    return sum(int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)) for client in clients)


class RoundTrips:
    """Counts the round trips every Shard makes (a command, a blocking pop or a pipeline each)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        lend = Shard.lend

        def counted(shard: Shard, talk: Any) -> Any:
            self.count += 1
            return lend(shard, talk)

        monkeypatch.setattr(Shard, "lend", counted)

    def __call__(self, clients: list[redis.Redis], operation: Callable[[], object]) -> tuple[int, int, object]:
        """``operation``'s round trips and scripts run, and what it returned."""
        trips, scripts = self.count, scripts_run(clients)
        result = operation()
        return self.count - trips, scripts_run(clients) - scripts, result


# The position, as Lua writes it.


@pytest.mark.parametrize(
    "group",
    ["live-blog", 'quo"te', "back\\slash\\", "unicodé ☃ 😀", "slash/", "ctrl\x00\x01\x1f\x7f", "\n\r\t\b\f", ""],
)
@pytest.mark.parametrize("payload", [b"{}", b'{"id":1,"content":"h\\u00e9 \\"x\\""}', b"{ }", b'{"":{}}'])
def test_lua_writes_the_position_as_python_does(redis_server: RedisServer, group: str, payload: bytes) -> None:
    script = POSITION_LUA + "return with_position(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]))"
    for epoch, offset in [("0123456789abcdef", 1), ('e"\\\x02', 2**53 - 1), ("é", 0)]:
        expected = with_position(payload, Position(group, epoch, offset).as_dict())
        assert redis_server.client().eval(script, 0, payload, group, epoch, offset) == expected


# One Redis: one script per operation.


def test_each_history_operation_is_one_round_trip_on_one_redis(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make([server])
    for n in range(3):
        backend.group_add("live-blog", f"!live.srv{n}.a")
    since = backend.group_position("live-blog")  # each script's first call also loads it
    backend.group_send("live-blog", {"n": 0})
    backend.group_add("live-blog", "!live.srv0.b", since=since)
    measure, clients = RoundTrips(monkeypatch), [server.client()]

    assert measure(clients, lambda: backend.group_position("live-blog"))[:2] == (1, 1)
    trips, scripts, result = measure(clients, lambda: backend.group_send("live-blog", {"n": 1}))
    assert (trips, scripts) == (1, 1)
    assert isinstance(result, GroupSendResult) and result.delivered == 4
    trips, scripts, result = measure(clients, lambda: backend.group_add("live-blog", "!live.srv1.b", since=since))
    assert (trips, scripts, result) == (1, 1, Recovery(True, 2))


def test_a_restarted_redis_starts_a_new_epoch(server: RedisServer) -> None:
    backend = make([server])
    backend.group_send("live-blog", {"n": 1})
    before = backend.group_position("live-blog")
    server.stop()
    server.start()  # same port, empty: Redis here keeps nothing on disk
    wait_past(IDLE_CHECK_AFTER)  # the pooled connection is checked, and replaced, before its next use
    assert backend.group_add("live-blog", "live.reader", since=before) == Recovery(False, 0)
    assert drain(backend, ["live.reader"]) == []
    after = backend.group_position("live-blog")
    assert after["epoch"] != before["epoch"]
    assert after["offset"] == 0


# Several shards: the lock in the group's home.


def home_of(backend: RedisBackend, servers: list[RedisServer], group: str) -> redis.Redis:
    return servers[backend.ring.shard_of(group)].client()


def test_a_send_and_an_add_since_on_shards_take_two_round_trips_more_than_one_redis(
    redis_shards: list[RedisServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make(redis_shards)
    for n in range(12):
        backend.group_add("live-wide", f"!wide.srv{n}.a")
    since = backend.group_position("live-wide")
    backend.group_send("live-wide", {"n": 0})  # loads the scripts on every shard
    for n in range(12):
        backend.group_add("live-wide", f"!wide.srv{n}.b", since=since)
    measure, clients = RoundTrips(monkeypatch), [server.client() for server in redis_shards]

    trips, scripts, result = measure(clients, lambda: backend.group_send("live-wide", {"n": 1}))
    assert trips == scripts == len(redis_shards) + 2, "take the lock and number, one delivery per shard, release"
    assert isinstance(result, GroupSendResult) and result.delivered == 24
    trips, scripts, result = measure(clients, lambda: backend.group_add("live-wide", "!wide.srv5.c", since=since))
    assert (trips, scripts, result) == (3, 3, Recovery(True, 2)), "take the lock and read, add and replay, release"


def test_a_lock_left_by_a_crashed_holder_delays_a_send_until_it_expires(redis_shards: list[RedisServer]) -> None:
    backend = make(redis_shards)
    backend.group_add("live-blog", "live.reader")
    lock = home_of(backend, redis_shards, "live-blog")
    started = time.monotonic()
    assert lock.set("h:hlock:live-blog", "crashed-holder", px=400)
    position = backend.group_send("live-blog", {"n": 1}).position
    assert time.monotonic() - started >= 0.4, "the send waited for the lock to expire"
    assert position is not None and position["offset"] == 1
    assert drain(backend, ["live.reader"]) == [("live.reader", {"position": position, "n": 1})]
    assert not lock.exists("h:hlock:live-blog"), "the send gave the lock back"


def test_a_lock_held_past_its_ttl_is_an_error_naming_the_group(redis_shards: list[RedisServer]) -> None:
    backend = make(redis_shards, SOCKET_TIMEOUT=0.2)  # a lock TTL of 0.4 s
    backend.group_add("live-blog", "live.reader")
    lock = home_of(backend, redis_shards, "live-blog")
    lock.set("h:hlock:live-blog", "stuck")  # no TTL: nothing a real holder would leave
    with pytest.raises(BackendUnavailable, match="another process holds the history lock of group 'live-blog'"):
        backend.group_send("live-blog", {"n": 1})
    since = backend.group_position("live-blog")
    with pytest.raises(BackendUnavailable, match="history lock of group 'live-blog'"):
        backend.group_add("live-blog", "live.other", since=since)
    assert drain(backend, ["live.reader"]) == []
    assert since["offset"] == 0, "a send that met the lock did nothing"
    assert lock.get("h:hlock:live-blog") == b"stuck", "nobody gave back a lock it did not hold"
    lock.delete("h:hlock:live-blog")
    assert backend.group_send("live-blog", {"n": 2}).position == {**since, "offset": 1}


# Redis Cluster: the history in the group's slot.


def keyslot(cluster: RedisCluster, key: str) -> int:
    with cluster.nodes[0].client() as client:
        return int(client.execute_command("CLUSTER", "KEYSLOT", key))


def test_the_history_and_its_lock_are_in_the_groups_slot(redis_cluster: RedisCluster) -> None:
    backend = make_cluster(redis_cluster)
    members = [f"!slot.srv{n}.a" for n in range(8)]  # inboxes in several slots
    for member in members:
        backend.group_add("live-slot", member)
    backend.group_send("live-slot", {"n": 1})
    history, kept, lock = backend.keys.history("live-slot")
    slots = {keyslot(redis_cluster, key) for key in [history, kept, lock, backend.keys.group("live-slot")]}
    assert slots == {keyslot(redis_cluster, "{live-slot}")}
    with redis_cluster.primary_of(history).client() as home:
        assert home.exists(history, kept) == 2
        started = time.monotonic()
        assert home.set(lock, "crashed-holder", px=400)
        position = backend.group_send("live-slot", {"n": 2}).position
        assert time.monotonic() - started >= 0.4, "the send waited for the lock in the group's slot"
        assert not home.exists(lock)
    assert position is not None and position["offset"] == 2
    for member in members:
        assert backend.receive_inbox(member.rsplit(".", 1)[0], limit=10) == [
            (member, {"position": {**position, "offset": 1}, "n": 1}),
            (member, {"position": position, "n": 2}),
        ]
