"""What only the Redis backend promises: TTLs, long blocking pops, pool size, round trips, restarts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from channels_core.backends.redis import IDLE_CHECK_AFTER, RedisBackend
from channels_core.exceptions import BackendUnavailable
from channels_core.names import new_channel_name
from channels_core.testing import RedisServer, wait_past, wait_until


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A redis-server of this test's own, so it may be stopped and restarted."""
    server = RedisServer().start()
    yield server
    server.stop()


_made: list[RedisBackend] = []


@pytest.fixture(autouse=True)
def close_backends() -> Iterator[None]:
    yield
    while _made:
        _made.pop().close()


def make(servers: list[RedisServer], **config: object) -> RedisBackend:
    """A backend on ``servers``, closed after the test."""
    _made.append(RedisBackend({"HOSTS": [s.url for s in servers], "PREFIX": "t:", **config}))
    return _made[-1]


def test_no_key_remains_after_expiry(server: RedisServer) -> None:
    backend = make([server], EXPIRY=1, GROUP_EXPIRY=1)
    backend.send("leak.normal", {"n": 1})
    backend.send(new_channel_name("!leak.srv"), {"n": 2})
    backend.group_add("leak", "!leak.srv.member")
    backend.group_send("leak", {"n": 3})
    client = server.client()
    assert client.keys("t:*"), "the messages should be stored at first"
    wait_until(lambda: client.keys("t:*") == [], timeout=4, what="every key to expire (1 s expiry + grace)")


def test_expired_entries_are_reclaimed_while_producers_keep_sending(server: RedisServer) -> None:
    backend = make([server], EXPIRY=0.5)
    for n in range(10):
        backend.send("reclaim.one", {"n": n})
    wait_past(0.7)
    backend.send("reclaim.one", {"n": "fresh"})
    assert server.client().llen("t:q:reclaim.one") == 1


def test_a_blocking_receive_longer_than_the_socket_timeout(server: RedisServer) -> None:
    """redis-py's default socket timeout is 5 s; a longer wait must neither fail nor miss the message."""
    backend = make([server])
    sender = threading.Timer(5.5, lambda: backend.send("patient.one", {"n": 1}))
    sender.start()
    try:
        assert backend.receive(["patient.one"], timeout=15) == ("patient.one", {"n": 1})
    finally:
        sender.join()


def test_two_hundred_simultaneous_blocking_receives(server: RedisServer) -> None:
    """More blocked receivers than redis-py's default pool of 100 connections."""
    backend = make([server])
    received: dict[int, object] = {}
    waiting = threading.Barrier(201)

    def receive(n: int) -> None:
        waiting.wait()
        received[n] = backend.receive([f"many.{n}"], timeout=30)

    threads = [threading.Thread(target=receive, args=(n,)) for n in range(200)]
    for thread in threads:
        thread.start()
    waiting.wait()
    wait_until(lambda: server.client().info("clients")["blocked_clients"] >= 150, what="receivers to block")
    for n in range(200):
        backend.send(f"many.{n}", {"n": n})
    for thread in threads:
        thread.join(30)
    assert received == {n: (f"many.{n}", {"n": n}) for n in range(200)}


def _script_calls(servers: list[RedisServer]) -> list[int]:
    return [int(s.client().info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)) for s in servers]


def _commands(client: redis.Redis) -> dict[str, int]:
    """How many times the server ran each command (``INFO`` itself left out)."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items() if name != "cmdstat_info"}


@pytest.mark.parametrize("members", [10, 1000])
def test_group_send_is_one_round_trip_per_shard(redis_shards: list[RedisServer], members: int) -> None:
    backend = make(redis_shards, CHANNEL_CAPACITY={"!*": 10})
    backend.flush()
    for n in range(members):
        backend.group_add("wide", new_channel_name(f"!wide.srv{n % 20}"))
    backend.group_send("warm-up", {})  # the first call of a script also loads it
    before = _script_calls(redis_shards)
    result = backend.group_send("wide", {"n": 1})
    after = _script_calls(redis_shards)
    assert result.delivered == members
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    backend.flush()


def test_a_send_stores_the_held_replies_in_its_own_round_trip(server: RedisServer) -> None:
    backend = make([server])
    backend.flush()
    sockets = [new_channel_name("!django.websocket.send.srv1") for _ in range(3)]
    backend.send("warm-up", {})  # the first call of a script also loads it
    before = _script_calls([server])
    with backend.holding_replies():
        for socket in sockets:
            backend.send(socket, {"to": socket})
        backend.send("chat.work", {"n": 1})
        assert _script_calls([server]) == [before[0] + 1]
    assert _script_calls([server]) == [before[0] + 1], "nothing was left to store at the end"
    assert len(backend.receive_inbox("!django.websocket.send.srv1", limit=10)) == 3
    backend.flush()


def test_an_inbox_on_any_shard_is_one_receive(redis_shards: list[RedisServer]) -> None:
    """All channels of one inbox live on one shard, whatever their names."""
    backend = make(redis_shards)
    backend.flush()
    names = [new_channel_name("!sharded.srv1") for _ in range(50)]
    for name in names:
        backend.send(name, {"to": name})
    holders = [s.client().llen("t:q:!sharded.srv1") for s in redis_shards]
    assert sorted(holders) == [0, 0, 50]
    backend.flush()


def test_a_restarted_redis_gives_clear_errors_then_works_again(server: RedisServer) -> None:
    backend = make([server])
    backend.send("restart.one", {"n": 1})
    server.stop()
    with pytest.raises(BackendUnavailable, match=f"Redis at {server.url} is unavailable"):
        backend.send("restart.one", {"n": 2})
    with pytest.raises(BackendUnavailable):
        backend.receive(["restart.one"], timeout=0.1)
    server.start()  # same port, empty: Redis here keeps nothing on disk
    backend.send("restart.one", {"n": 3})
    assert backend.receive(["restart.one"], timeout=5) == ("restart.one", {"n": 3})


def test_send_many_reports_a_stopped_redis_for_every_message(server: RedisServer) -> None:
    backend = make([server])
    server.stop()
    try:
        outcomes = backend.send_many([("down.one", {"n": 1}), ("down.two", {"n": 2})])
    finally:
        server.start()
    assert [type(outcome) for outcome in outcomes] == [BackendUnavailable, BackendUnavailable]
    assert backend.send_many([("down.one", {"n": 3})]) == [None]
    assert backend.receive(["down.one"], timeout=5) == ("down.one", {"n": 3})


def test_send_is_never_retried_by_the_client(server: RedisServer) -> None:
    """A retried send whose first reply was lost could deliver twice, so the pool must not retry."""
    backend = make([server])
    backend.send("retry.check", {})
    for shard in backend.shards:
        assert shard._connection().retry.get_retries() == 0


def test_one_receive_gets_a_whole_group_send_for_an_inbox(server: RedisServer) -> None:
    """An interface server with many sockets in a group gets all their copies in one round trip."""
    backend = make([server])
    names = [new_channel_name("!fanout.srv1") for _ in range(1000)]
    for name in names:
        backend.group_add("everyone", name)
    assert backend.group_send("everyone", {"n": 1}).delivered == 1000
    stats = server.client()
    before = _commands(stats)
    received = backend.receive_inbox("!fanout.srv1")
    after = _commands(stats)
    ran = {name: calls - before.get(name, 0) for name, calls in after.items() if calls != before.get(name)}
    ran.pop("time", None)  # the server's clock, read once every CLOCK_CHECK_EVERY seconds
    assert ran == {"lmpop": 1, "mget": 1}  # the entry, and the members it names
    assert sorted(channel for channel, _ in received) == sorted(names)
    assert all(message == {"n": 1} for _, message in received)


def test_an_idle_connection_survives_a_restart_unnoticed(server: RedisServer) -> None:
    """After a restart, the first command of an idle connection reconnects instead of failing."""
    backend = make([server])
    backend.send("idle.one", {"n": 1})
    server.stop()
    server.start()
    wait_past(IDLE_CHECK_AFTER)  # idle: long enough that the connection is checked before use
    backend.send("idle.one", {"n": 2})
    assert backend.receive(["idle.one"]) == ("idle.one", {"n": 2})


def test_a_redis_without_blmpop_gets_a_clear_error() -> None:
    """Receiving needs Redis 7.0; an older server (here: one with the command disabled) is named in the error."""
    server = RedisServer(options=["--rename-command", "BLMPOP", "", "--rename-command", "LMPOP", ""]).start()
    try:
        backend = make([server])
        backend.send("old.one", {"n": 1})  # sending needs only Lua
        with pytest.raises(ImproperlyConfigured, match=f"needs Redis 7.0 or newer .* {server.url} answered"):
            backend.receive(["old.one"], timeout=1)
        backend.close()
    finally:
        server.stop()


def test_a_redis_on_the_same_machine_through_its_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "redis.sock")
    server = RedisServer(options=["--unixsocket", path, "--unixsocketperm", "700"]).start()
    try:
        backend = RedisBackend({"HOSTS": [f"unix://{path}?db=0"], "PREFIX": "t:"})
        _made.append(backend)
        backend.send("unix.work", {"n": 1})
        assert backend.receive(["unix.work"]) == ("unix.work", {"n": 1})
        socket = new_channel_name("!unix.srv")
        backend.group_add("unix.group", socket)
        assert backend.group_send("unix.group", {"n": 2}).delivered == 1
        assert backend.receive_inbox("!unix.srv") == [(socket, {"n": 2})]
        with server.client() as client:
            assert any(c["addr"] == f"{path}:0" for c in client.client_list()), "the backend did not use the socket"
    finally:
        server.stop()
