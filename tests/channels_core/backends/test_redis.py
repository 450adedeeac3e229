"""What only the Redis backend promises: TTLs, long blocking pops, a bounded pool of connections, round trips,
restarts, and a server's failures and refusals reported as BackendUnavailable."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from channels_core.backends.redis import RedisBackend
from channels_core.backends.redis_pool import IDLE_CHECK_AFTER
from channels_core.backends.redis_shard import without_password
from channels_core.defaults import REDIS_POOL_SIZE as POOL_SIZE
from channels_core.exceptions import BackendUnavailable
from channels_core.held_replies import holding_replies
from channels_core.names import new_channel_name
from channels_core.testing import RedisServer, free_port, wait_past, wait_until


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
    """More blocked receivers than redis-py's default pool of 100 connections, in a pool sized for them."""
    backend = make([server], POOL_SIZE=210)  # one for each receiver, and room for the sends
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
    with holding_replies(backend) as held:
        for socket in sockets:
            held.send(socket, {"to": socket})
        held.send("chat.work", {"n": 1})
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
        assert shard.lend(lambda connection: connection.retry.get_retries()) == 0


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


# The pool: a bounded number of connections, whatever the number of threads.


def _connections(server: RedisServer) -> int:
    """How many clients ``server`` has, besides the one asking."""
    with server.client() as client:
        asking = str(client.client_id())
        return sum(1 for entry in client.client_list() if str(entry["id"]) != asking)


def _blocked(server: RedisServer) -> int:
    """How many of ``server``'s clients wait in a blocking pop."""
    with server.client() as client:
        return int(client.info("clients")["blocked_clients"])


def _queued_for_a_connection(backend: RedisBackend) -> int:
    return len(backend.shards[0].pool._queue)


def _in_threads(count: int, work: Callable[[int], object]) -> list[BaseException]:
    """Run ``work(n)`` once in each of ``count`` new threads, all released at once; the errors raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        try:
            work(n)
        except BaseException as error:  # reported by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_two_hundred_short_lived_threads_leave_no_more_connections_than_the_pool(server: RedisServer) -> None:
    """Issue 14, acceptance 5: a thread-per-request server does not grow its connections without bound."""
    backend = make([server], CAPACITY=200)
    assert _in_threads(200, lambda n: backend.send("short.lived", {"n": n})) == []
    assert server.client().llen("t:q:short.lived") == 200
    assert 1 <= _connections(server) <= POOL_SIZE < 200


def test_more_threads_than_connections_all_send(server: RedisServer) -> None:
    """Threads wait their turn for a connection instead of failing or opening more."""
    backend = make([server], POOL_SIZE=2, CAPACITY=1000)
    assert _in_threads(20, lambda n: [backend.send("crowded.one", {"n": n, "i": i}) for i in range(25)]) == []
    assert server.client().llen("t:q:crowded.one") == 500
    assert _connections(server) <= 2


def test_a_send_waits_for_the_connection_a_receive_holds(server: RedisServer) -> None:
    backend = make([server], POOL_SIZE=1, SOCKET_TIMEOUT=60)  # a pop may hold the only connection for 30 s
    with ThreadPoolExecutor(2) as threads:
        receiving = threads.submit(backend.receive, ["held.work"], 30)
        wait_until(lambda: _blocked(server) == 1, what="the receive to block")
        sending = threads.submit(backend.send, "held.reply", {"n": 1})
        wait_until(lambda: _queued_for_a_connection(backend) == 1, what="the send to wait for the connection")
        make([server]).send("held.work", {"n": 2})  # ends the pop: its connection goes to the send
        assert receiving.result(10) == ("held.work", {"n": 2})
        sending.result(10)
    assert backend.receive(["held.reply"]) == ("held.reply", {"n": 1})


def test_an_exhausted_pool_is_a_clear_error(server: RedisServer) -> None:
    backend = make([server], POOL_SIZE=1, POOL_TIMEOUT=0.2, SOCKET_TIMEOUT=60)
    with ThreadPoolExecutor(1) as threads:
        receiving = threads.submit(backend.receive, ["held.work"], 30)
        wait_until(lambda: _blocked(server) == 1, what="the receive to block")
        exhausted = f"the pool of 1 connection to Redis at {re.escape(server.url)} was exhausted: none came free"
        with pytest.raises(BackendUnavailable, match=exhausted + r" within 0\.2 s \(POOL_TIMEOUT\)"):
            backend.send("held.reply", {"n": 1})
        assert _queued_for_a_connection(backend) == 0, "the send left the queue when it gave up"
        make([server]).send("held.work", {"n": 2})
        assert receiving.result(10) == ("held.work", {"n": 2})
    backend.send("held.reply", {"n": 3})
    assert backend.receive(["held.reply"]) == ("held.reply", {"n": 3})


def test_a_receive_in_a_loop_does_not_starve_a_waiting_send(server: RedisServer) -> None:
    """A worker thread gives its connection back between two pops and asks for it again at once: the
    connection goes to the thread that was waiting for it, not back to the worker for another long pop."""
    backend = make([server], POOL_SIZE=1, SOCKET_TIMEOUT=60)  # a pop may hold the only connection for 30 s
    waker = make([server])
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            backend.receive(["fair.work"], timeout=30)

    with ThreadPoolExecutor(2) as threads:
        loop = threads.submit(work)
        wait_until(lambda: _blocked(server) == 1, what="the loop to block")
        sending = threads.submit(backend.send, "fair.reply", {"n": 1})
        wait_until(lambda: _queued_for_a_connection(backend) == 1, what="the send to wait for the connection")
        waker.send("fair.work", {"n": 2})  # the loop's pop ends, and it asks for the connection again
        try:
            sending.result(10)  # before the loop's next pop ends: about 30 s
        finally:
            stop.set()
            waker.send("fair.work", {"n": 3})  # ends the loop's pop, if it has begun another one
            loop.result(10)
    assert waker.receive(["fair.reply"]) == ("fair.reply", {"n": 1})


def test_a_receive_longer_than_a_short_socket_timeout_with_a_single_connection(server: RedisServer) -> None:
    """Pops are sliced below the socket timeout; between slices the connection goes back to the pool."""
    backend = make([server], SOCKET_TIMEOUT=1, POOL_SIZE=1)
    started = time.monotonic()
    assert backend.receive(["quiet.one"], timeout=2.5) is None
    assert time.monotonic() - started >= 2.5, "the receive must wait its whole timeout"
    with ThreadPoolExecutor(1) as threads, server.client() as stats:
        receiving = threads.submit(backend.receive, ["late.one"], 30)
        wait_until(lambda: _commands(stats).get("blmpop", 0) >= 8, what="the receive to outlast the socket timeout")
        make([server]).send("late.one", {"n": 1})
        assert receiving.result(10) == ("late.one", {"n": 1})


def test_close_disconnects_idle_connections_at_once_and_lent_ones_when_they_come_back(server: RedisServer) -> None:
    backend = make([server], SOCKET_TIMEOUT=60)
    backend.send("closing.work", {"n": 0})
    assert backend.receive(["closing.work"]), "a first message: the backend reads the server's clock now, not later"
    with ThreadPoolExecutor(1) as threads:
        receiving = threads.submit(backend.receive, ["closing.work"], 30)
        wait_until(lambda: _blocked(server) == 1, what="the receive to block")
        backend.send("closing.other", {"n": 1})  # on a second connection, idle afterwards
        assert _connections(server) == 2
        backend.close()
        wait_until(lambda: _connections(server) == 1, what="the idle connection to close")
        other = make([server])
        other.send("closing.work", {"n": 2})
        other.close()
        assert receiving.result(10) == ("closing.work", {"n": 2})
    wait_until(lambda: _connections(server) == 0, what="the lent connection to close when it came back")
    assert backend.receive(["closing.other"]) == ("closing.other", {"n": 1}), "a closed backend reconnects"


def test_a_forked_child_uses_connections_of_its_own(server: RedisServer) -> None:
    """As gunicorn's workers, forked from a parent that loaded the site: no socket is shared."""
    backend = make([server])
    shard = backend.shards[0]
    parent_connection = shard.call("CLIENT", "ID")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its connection, and leave at once (no pytest teardown here)
        try:
            os.write(write_end, str(shard.call("CLIENT", "ID")).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        child_connection = int(reader.read() or -1)
    os.waitpid(pid, 0)
    assert child_connection not in {-1, parent_connection}
    assert shard.call("CLIENT", "ID") == parent_connection, "the child left the parent's connection open"


# A server that is up but cannot serve: the same BackendUnavailable as a server that is down.


def _replica(client: redis.Redis) -> None:
    """Make the server a replica (as a primary becomes after a failover) of a primary that is gone."""
    client.replicaof("127.0.0.1", free_port())


def _replica_without_stale_data(client: redis.Redis) -> None:
    client.config_set("replica-serve-stale-data", "no")
    _replica(client)


@pytest.mark.parametrize(
    ("code", "options", "setup"),
    [
        pytest.param("READONLY", [], _replica, id="replica"),
        pytest.param("MASTERDOWN", [], _replica_without_stale_data, id="replica-cut-off-from-its-primary"),
        pytest.param("NOREPLICAS", ["--min-replicas-to-write", "1"], None, id="too-few-replicas"),
        pytest.param(
            "CLUSTERDOWN",
            # The bus port is the port + 10000 unless given, beyond 65535 for many a free port.
            ["--cluster-enabled", "yes", "--cluster-config-file", "{tmp}/nodes.conf", "--cluster-port", "{free}"],
            None,
            id="cluster-node-without-slots",
        ),
    ],
)
def test_a_server_that_refuses_commands_is_unavailable(
    code: str, options: list[str], setup: Callable[[redis.Redis], None] | None, tmp_path: Path
) -> None:
    server = RedisServer(options=[option.format(tmp=tmp_path, free=free_port()) for option in options]).start()
    try:
        if setup:
            with server.client() as client:
                setup(client)
        backend = make([server])
        refused = f"Redis at {re.escape(server.url)} is unavailable: {code} "
        with pytest.raises(BackendUnavailable, match=refused):
            backend.send("refused.one", {"n": 1})
        outcomes = backend.send_many([("refused.one", {"n": 2}), ("refused.two", {"n": 3})])
        assert all(isinstance(outcome, BackendUnavailable) and re.match(refused, str(outcome)) for outcome in outcomes)
        with pytest.raises(BackendUnavailable):
            backend.receive(["refused.one"])
        with pytest.raises(BackendUnavailable, match=refused):
            backend.group_add("refused", "!refused.srv.member")
    finally:
        server.stop()


def test_a_replica_promoted_by_a_failover_serves_again(server: RedisServer) -> None:
    backend = make([server])
    with server.client() as client:
        _replica(client)
        with pytest.raises(BackendUnavailable, match="is unavailable: READONLY "):
            backend.send("failover.one", {"n": 1})
        client.replicaof("NO", "ONE")
    backend.send("failover.one", {"n": 2})
    assert backend.receive(["failover.one"]) == ("failover.one", {"n": 2})


def test_a_server_out_of_memory_refuses_sends_and_still_serves_receives() -> None:
    server = RedisServer(options=["--maxmemory-policy", "noeviction"]).start()
    try:
        backend = make([server])
        backend.send("oom.one", {"n": 1})
        with server.client() as client:
            # Out of memory now, whatever the size of a command waiting in a buffer (which counts too).
            client.config_set("maxmemory", client.info("memory")["used_memory"] // 2)
            with pytest.raises(BackendUnavailable, match="is unavailable: OOM command not allowed"):
                backend.send("oom.one", {"n": 2})
            outcomes = backend.send_many([("oom.one", {"n": 3}), ("oom.two", {"n": 4})])
            assert [type(outcome) for outcome in outcomes] == [BackendUnavailable, BackendUnavailable]
            assert backend.receive(["oom.one"]) == ("oom.one", {"n": 1}), "consumers may still drain the queues"
            client.config_set("maxmemory", 0)
        backend.send("oom.one", {"n": 5})
        assert backend.receive(["oom.one"]) == ("oom.one", {"n": 5})
    finally:
        server.stop()


def _busy(client: redis.Redis) -> bool:
    """Whether the server answers BUSY (it runs a script past ``busy-reply-threshold``)."""
    try:
        client.ping()
    except redis.ResponseError as error:
        return str(error).startswith("BUSY")
    return False


def test_a_server_busy_in_a_long_script_is_unavailable() -> None:
    server = RedisServer(options=["--busy-reply-threshold", "100"]).start()
    try:
        backend = make([server])
        with ThreadPoolExecutor(1) as threads, server.client() as client, server.client() as looper:
            looping = threads.submit(looper.eval, "while true do end", 0)
            wait_until(lambda: _busy(client), what="the script to make the server busy")
            with pytest.raises(BackendUnavailable, match="is unavailable: BUSY Redis is busy running a script"):
                backend.send("busy.one", {"n": 1})
            client.script_kill()
            with pytest.raises(redis.ResponseError, match="killed"):
                looping.result(10)
        backend.send("busy.one", {"n": 2})
        assert backend.receive(["busy.one"]) == ("busy.one", {"n": 2})
    finally:
        server.stop()


def test_a_password_in_a_url_never_reaches_a_log_line_or_an_error() -> None:
    assert without_password("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert without_password("rediss://app:s3cret@cache:6380/1") == "rediss://app:***@cache:6380/1"
    assert without_password("redis+sentinel://:s3cret@s1:26379,s2:26379/mymaster/0") == (
        "redis+sentinel://:***@s1:26379,s2:26379/mymaster/0"
    )
    assert without_password("redis://cache:6379/0") == "redis://cache:6379/0"
    backend = RedisBackend({"HOSTS": [f"redis://:s3cret@127.0.0.1:{free_port()}/0"], "CONNECT_TIMEOUT": 0.5})
    with pytest.raises(BackendUnavailable) as unavailable:
        backend.send("anywhere", {})
    assert "s3cret" not in str(unavailable.value) and ":***@127.0.0.1" in str(unavailable.value)
    backend.close()
