"""The Redis Cluster backend on a real cluster: its key layout, its round trips, and no retry after a lost reply.

The contract suite runs on it too (``-k redis-cluster``); failover and
resharding are in test_redis_cluster_failover.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode as RedisPyClusterNode
from redis.cluster import RedisCluster as RedisPyCluster
from redis.retry import Retry

from channels_core.backends import backend_from_config
from channels_core.backends.redis_cluster import RedisClusterBackend
from channels_core.backends.redis_cluster_slots import slot_of
from channels_core.backends.redis_shard import Shard
from channels_core.exceptions import BackendUnavailable
from channels_core.names import inbox_of
from channels_core.testing import RedisCluster

PREFIX = "layout:"


def make_backend(cluster: RedisCluster, **config: Any) -> RedisClusterBackend:
    backend = backend_from_config(
        {
            "BACKEND": "channels_core.backends.redis_cluster.RedisClusterBackend",
            "HOSTS": cluster.urls[:1],  # one start-up node is enough: it names the others
            "PREFIX": PREFIX,
            **config,
        }
    )
    assert isinstance(backend, RedisClusterBackend)
    return backend


@pytest.fixture
def backend(redis_cluster: RedisCluster) -> Iterator[RedisClusterBackend]:
    backend = make_backend(redis_cluster)
    backend.flush()
    yield backend
    backend.flush()
    backend.close()


def keyslot(cluster: RedisCluster, key: str) -> int:
    with cluster.nodes[0].client() as client:
        return int(client.execute_command("CLUSTER", "KEYSLOT", key))


def test_every_script_touches_the_keys_of_one_slot(redis_cluster: RedisCluster, backend: RedisClusterBackend) -> None:
    keys = backend.keys
    for queue in ["chat.receive", inbox_of("!django.websocket.send.srv1.abc123")]:
        group_send = [keys.queue(queue), keys.members("room", queue), keys.current("room", queue)]
        snapshot = keys.snapshots(queue) + "0123abcd"  # what the reader's MGET and the script's SET name
        slots = {keyslot(redis_cluster, key) for key in [*group_send, snapshot]}
        assert len(slots) == 1, f"keys of queue {queue!r} in {len(slots)} slots"
        assert slots == {slot_of(keys.queue(queue))}  # the backend's own hashing agrees with the server's
    assert keyslot(redis_cluster, keys.group("room")) == slot_of(keys.group("room"))


def test_an_interface_servers_clients_share_one_slot_and_servers_spread(backend: RedisClusterBackend) -> None:
    def slot(channel: str) -> int:
        return slot_of(backend.keys.queue(inbox_of(channel)))

    assert slot("!django.websocket.send.srv1.aaa") == slot("!django.websocket.send.srv1.bbb")
    servers = {slot(f"!django.websocket.send.srv{n}.aaa") for n in range(20)}
    assert len(servers) > 1


class RoundTrips:
    """Counts the commands and pipelines each node's Shard sends (one of either is one round trip)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.by_node: dict[str, list[str]] = {}
        call, call_many = Shard.call, Shard.call_many

        def counted_call(shard: Shard, *args: Any) -> Any:
            self.by_node.setdefault(shard.url, []).append(str(args[0]))
            return call(shard, *args)

        def counted_call_many(shard: Shard, commands: Any) -> Any:
            self.by_node.setdefault(shard.url, []).append(f"pipeline of {len(commands)}")
            return call_many(shard, commands)

        monkeypatch.setattr(Shard, "call", counted_call)
        monkeypatch.setattr(Shard, "call_many", counted_call_many)

    def total(self) -> int:
        return sum(len(trips) for trips in self.by_node.values())


def test_group_send_costs_one_round_trip_per_node_holding_members(
    redis_cluster: RedisCluster, backend: RedisClusterBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = [f"!django.websocket.send.srv{server}.client{n}" for server in range(12) for n in range(25)]
    for member in members:
        backend.group_add("everyone", member)
    nodes_holding_members = {redis_cluster.primary_of(backend.keys.queue(inbox_of(m))).port for m in members}
    assert len(nodes_holding_members) > 1  # twelve inboxes spread over the primaries
    backend.group_send("everyone", {"warm": "up"})  # loads the scripts on every node

    trips = RoundTrips(monkeypatch)
    result = backend.group_send("everyone", {"text": "hello"})

    assert (result.delivered, result.skipped) == (len(members), 0)
    # Reading the group's index, then one pipeline per node holding members: never one per member or inbox.
    assert trips.total() == 1 + len(nodes_holding_members)
    pipelines = [trip for node_trips in trips.by_node.values() for trip in node_trips if trip.startswith("pipeline")]
    assert len(pipelines) == len(nodes_holding_members)
    received = backend.receive_inbox("!django.websocket.send.srv3", timeout=1)
    assert sorted(channel for channel, message in received if message == {"text": "hello"}) == sorted(
        m for m in members if m.startswith("!django.websocket.send.srv3.")
    )


def test_an_inbox_read_is_one_round_trip(backend: RedisClusterBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(50):
        backend.send(f"!django.wsgi.response.srv1.c{n}", {"n": n})
    backend.receive_inbox("!django.wsgi.response.srv1", limit=1)  # reads the slot map and the node's clock
    trips = RoundTrips(monkeypatch)
    received = backend.receive_inbox("!django.wsgi.response.srv1", timeout=1, limit=100)
    assert [message["n"] for _, message in received] == list(range(1, 50))
    assert trips.total() == 1


class LostReplies:
    """Loses the next reply any redis-py connection reads, as a network would: the command ran, the caller times out.

    A fault injected where the wire is (redis-py's connection), so the server
    and every layer above it are real.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.armed = False
        read = redis.connection.AbstractConnection.read_response

        def read_or_lose(connection: redis.connection.AbstractConnection, *args: Any, **kwargs: Any) -> Any:
            reply = read(connection, *args, **kwargs)
            if self.armed:
                self.armed = False
                raise redis.TimeoutError("Timeout reading from socket (the test lost the reply)")
            return reply

        monkeypatch.setattr(redis.connection.AbstractConnection, "read_response", read_or_lose)

    def lose_next(self) -> None:
        self.armed = True


def test_a_send_whose_reply_is_lost_is_not_sent_again(
    backend: RedisClusterBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.send("lost.reply", {"n": 0})  # the slot map is read and the script loaded first
    assert backend.receive(["lost.reply"]) == ("lost.reply", {"n": 0})
    lost = LostReplies(monkeypatch)
    lost.lose_next()
    with pytest.raises(BackendUnavailable, match="the test lost the reply"):
        backend.send("lost.reply", {"n": 1})
    # The script ran once; a retry would have stored the message twice.
    assert backend.receive_many(["lost.reply"], timeout=1, limit=10) == [("lost.reply", {"n": 1})]
    assert backend.receive_many(["lost.reply"], timeout=0, limit=10) == []


def test_redis_pys_cluster_client_would_store_a_lost_reply_twice_by_default(
    redis_cluster: RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the backend keeps its own slot map: redis-py's client retries after a timeout unless told not to."""
    key = "lost.reply.redis-py"
    start_up = [RedisPyClusterNode("127.0.0.1", redis_cluster.nodes[0].port)]
    retrying = RedisPyCluster(startup_nodes=start_up)
    once = RedisPyCluster(startup_nodes=start_up, retry=Retry(NoBackoff(), 0))
    lost = LostReplies(monkeypatch)
    try:
        retrying.delete(key)
        once.llen(key)  # each client connected to the key's node: the lost reply is the rpush's, not a handshake's
        lost.lose_next()
        retrying.rpush(key, "retried")  # returns as if all was well: it sent the command again
        lost.lose_next()
        with pytest.raises(redis.TimeoutError):  # says it does not know
            once.rpush(key, "once")
        stored = [value.decode() for value in retrying.lrange(key, 0, -1)]
        assert stored.count("retried") == 2
        assert stored.count("once") == 1
    finally:
        retrying.delete(key)
        retrying.close()
        once.close()
