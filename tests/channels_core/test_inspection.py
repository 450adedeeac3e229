"""The inspector (issue 20, acceptance 2): ``manage.py channels`` shows what was set up, on every backend kind.

Each test sets up known queues, groups, presence sets and a server on the
site's default backend, then reads them back through ``call_command`` (text
and ``--json``) and the inspection API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from channels_core.backends import BaseBackend, backends, get_backend
from channels_core.inspection import inspect_backend, inspect_group
from channels_core.management.commands.channels import format_age
from channels_core.presence import Presence
from channels_core.servers import SERVERS_GROUP, announce_server
from channels_core.testing import wait_until
from tests.conftest import require_postgres

from .conftest import BASE_CONFIG

_db = pytest.mark.django_db(transaction=True)
KINDS = [
    pytest.param("memory", id="memory", marks=_db),
    pytest.param("database-sqlite", id="database-sqlite", marks=_db),
    pytest.param(
        "database-postgres",
        id="database-postgres",
        marks=pytest.mark.django_db(transaction=True, databases=["default", "postgres"]),
    ),
    pytest.param("redis", id="redis", marks=_db),
    pytest.param("redis-sharded", id="redis-sharded", marks=_db),
    pytest.param("redis-cluster", id="redis-cluster", marks=_db),
]

SERVER_A = "!django.websocket.send.srvA"
SERVER_B = "!django.websocket.send.srvB"
A1, A2, B1 = f"{SERVER_A}.a1", f"{SERVER_A}.a2", f"{SERVER_B}.b1"


def config_for(kind: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """A ``CHANNEL_BACKENDS`` entry of ``kind`` on the test's private servers."""
    config: dict[str, Any] = {**BASE_CONFIG, "CHANNEL_EXPIRY": {"short.*": 0.5}}
    if kind == "memory":
        return {**config, "BACKEND": "channels_core.backends.memory.InMemoryBackend"}
    if kind.startswith("database"):
        if kind.endswith("postgres"):
            require_postgres()
        database = "postgres" if kind.endswith("postgres") else "default"
        return {**config, "BACKEND": "channels_core.backends.database.DatabaseBackend", "DATABASE": database}
    config["PREFIX"] = "inspect:"
    if kind == "redis-cluster":
        hosts = request.getfixturevalue("redis_cluster").urls
        return {**config, "BACKEND": "channels_core.backends.redis_cluster.RedisClusterBackend", "HOSTS": hosts}
    servers = (
        request.getfixturevalue("redis_shards")
        if kind == "redis-sharded"
        else [request.getfixturevalue("redis_server")]
    )
    return {**config, "BACKEND": "channels_core.backends.redis.RedisBackend", "HOSTS": [s.url for s in servers]}


@pytest.fixture(params=KINDS)
def site_backend(request: pytest.FixtureRequest, settings: Any) -> Iterator[BaseBackend]:
    """The site's default backend, of each kind in turn, empty."""
    settings.CHANNEL_BACKENDS = {"default": config_for(request.param, request)}
    backends.reset()
    backend = get_backend()
    backend.flush()
    yield backend
    backend.flush()
    backends.reset()


def set_up_known_state(backend: BaseBackend) -> None:
    """Queues, groups, presence and a server, each with numbers the tests know."""
    for n in range(3):
        backend.send("inspect.work", {"n": n})
    backend.send("bulk.jobs", {"n": 0})
    backend.send(A1, {"text": "hello"})
    backend.send(A2, {"text": "hello"})  # a1 and a2 share their server's inbox: one queue, 2 entries
    for member in (A1, A2, B1):
        backend.group_add("room-1", member)
    backend.group_add("room-2", A1)
    backend.group_add("room-2", B1)
    backend.group_discard("room-2", B1)  # gone: not counted
    backend.group_add(SERVERS_GROUP, SERVER_A)  # server A announced itself; B did not
    room = Presence("room-1", alias="default")
    room.join(A1, "ada")
    room.join(A2, "ada")
    room.join(B1, "bob")


def test_the_command_prints_the_queues_groups_presence_and_servers_set_up(site_backend: BaseBackend, capsys) -> None:
    set_up_known_state(site_backend)

    call_command("channels")
    text = capsys.readouterr().out

    heading, *sections = text.strip().split("\n\n")
    assert heading == f"Channel backend 'default' ({type(site_backend).__name__})"
    tables = {section.splitlines()[0]: [line.split() for line in section.splitlines()[2:]] for section in sections}
    assert list(tables) == ["Queues (3)", "Groups (2)", "Presence (1)", "Servers alive (1)"], text
    # Queues: name, depth, capacity, oldest, expiry.
    assert [row[:3] for row in tables["Queues (3)"]] == [
        ["!django.websocket.send.srvA", "2", "100"],
        ["bulk.jobs", "1", "1000"],
        ["inspect.work", "3", "100"],
    ]
    assert all(row[4] == "1m00s" for row in tables["Queues (3)"])
    assert tables["Groups (2)"] == [["room-1", "3"], ["room-2", "1"]], "the servers' group is not among them"
    assert tables["Presence (1)"] == [["room-1", "2", "3", "ada,", "bob"]]
    assert tables["Servers alive (1)"] == [[SERVER_A, "3", "2"]]


def test_the_commands_json_holds_exactly_what_was_set_up(site_backend: BaseBackend, capsys) -> None:
    set_up_known_state(site_backend)

    call_command("channels", "--json")
    data = json.loads(capsys.readouterr().out)

    assert data["alias"] == "default" and data["backend"] == type(site_backend).__name__
    depths = {q["queue"]: (q["depth"], q["capacity"], q["expiry"]) for q in data["queues"]}
    assert depths == {"bulk.jobs": (1, 1000, 60.0), "inspect.work": (3, 100, 60.0), SERVER_A: (2, 100, 60.0)}
    assert all(0 <= q["oldest_age"] < 60 for q in data["queues"])
    assert data["groups"] == [{"group": "room-1", "members": 3}, {"group": "room-2", "members": 1}]
    assert data["presence"] == [{"presence": "room-1", "people": ["ada", "bob"], "sockets": 3}]
    assert data["servers"] == [{"inbox": SERVER_A, "memberships": 3, "waiting": 2}]


def test_a_groups_members_and_presence(site_backend: BaseBackend, capsys) -> None:
    set_up_known_state(site_backend)

    call_command("channels", "--group", "room-1", "--json")
    assert json.loads(capsys.readouterr().out) == {
        "alias": "default",
        "group": "room-1",
        "members": sorted([A1, A2, B1]),
        "presence": ["ada", "bob"],
    }
    call_command("channels", "--group", "room-1")
    text = capsys.readouterr().out
    assert text.splitlines() == [
        "Group 'room-1' on 'default': 3 live member(s)",
        *(f"  {member}" for member in sorted([A1, A2, B1])),
        "Presence 'room-1': 2 person(s): ada, bob",
    ]


def test_the_age_of_the_oldest_message_and_expired_messages(site_backend: BaseBackend) -> None:
    site_backend.send("inspect.later", {"n": 1})
    site_backend.send("short.lived", {"n": 1})  # expires after 0.5 s (CHANNEL_EXPIRY)
    first = {q.queue: q for q in inspect_backend().queues}
    assert first["short.lived"].depth == 1 and first["short.lived"].expiry == 0.5

    def short_gone() -> dict[str, Any] | None:
        queues = {q.queue: q for q in inspect_backend().queues}
        return None if "short.lived" in queues else queues

    later = wait_until(short_gone, 10, what="the expired message to drop out of the inspection")
    assert later["inspect.later"].depth == 1, "the live message is still counted"
    assert later["inspect.later"].oldest_age is not None
    assert later["inspect.later"].oldest_age > first["inspect.later"].oldest_age, "its age grows while it waits"


def test_a_server_announces_itself_while_it_runs_and_leaves_when_it_stops(site_backend: BaseBackend) -> None:
    class Server:
        backend = site_backend
        inbox = SERVER_B
        keepalive = 30.0

    def announced() -> bool:
        return SERVER_B in inspect_group(SERVERS_GROUP).members

    async def run() -> list[str]:
        # One thread for the server's blocking calls and one for the test's, so that
        # the database connections they open can be closed at the end.
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        test_thread = ThreadPoolExecutor(max_workers=1)
        announcing = asyncio.ensure_future(announce_server(Server()))
        try:
            await loop.run_in_executor(test_thread, wait_until, announced, 30.0, "the announcement")
            snapshot = await loop.run_in_executor(test_thread, inspect_backend)
        finally:
            announcing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await announcing
            for executor in (None, test_thread):
                await loop.run_in_executor(executor, connections.close_all)
            test_thread.shutdown()
        return [server.inbox for server in snapshot.servers]

    assert asyncio.run(asyncio.wait_for(run(), 30)) == [SERVER_B]
    assert inspect_backend().servers == [], "a server that stops leaves at once"


def test_format_age() -> None:
    assert [format_age(s) for s in (None, 0.25, 4.21, 725, 12000)] == ["-", "250ms", "4.2s", "12m05s", "3h20m"]


@pytest.mark.django_db
def test_bad_group_names_and_unknown_aliases_are_clear_errors(memory_backend: BaseBackend) -> None:
    with pytest.raises(CommandError, match="contains ' '"):
        call_command("channels", "--group", "no spaces")
    with pytest.raises(Exception, match="no channel backend 'nope'"):
        call_command("channels", "--alias", "nope")
