"""The whole stack on a Redis Cluster: gunicorn, two runwsserver and two runworker, as the how-to starts them.

The site is switched as a user switches it (``CHANNELS_BACKEND=redis-cluster``
and a ``REDIS_URL`` of some of the nodes); the cluster is the session's three
primaries and three replicas (``redis_cluster`` in tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import requests
from websockets.asyncio.client import connect as connect_async
from websockets.sync.client import connect

from channels_core.backends.redis_cluster import RedisClusterBackend
from channels_core.backends.redis_cluster_slots import slot_of
from channels_core.testing import RedisCluster, wait_until

from .stack import Stack

pytestmark = pytest.mark.slow

SOCKETS_PER_SERVER = 100


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_cluster: RedisCluster) -> Iterator[Stack]:
    nodes = ",".join(redis_cluster.urls[:3])  # a few start-up nodes are enough: they name the others
    backend_config = {"BACKEND": "channels_core.backends.redis_cluster.RedisClusterBackend", "HOSTS": nodes.split(",")}
    stack = Stack(
        tmp_path_factory.mktemp("cluster-stack"), backend_config, CHANNELS_BACKEND="redis-cluster", REDIS_URL=nodes
    )
    try:
        stack.collect_static()
        stack.start_worker("worker-1")
        stack.start_worker("worker-2")
        stack.start_ws("ws-1")
        stack.start_ws("ws-2")
        stack.start_gunicorn()
        yield stack
    finally:
        stack.stop()


def test_pages_come_through_the_cluster(stack: Stack) -> None:
    for path in ("/", "/chat/", "/thumbnailer/"):
        response = requests.get(stack.url(path), timeout=30)
        assert response.status_code == 200, path
    assert "Event-driven Django" in requests.get(stack.url("/"), timeout=30).text


def test_a_socket_gets_its_echo(stack: Stack) -> None:
    for server in ("ws-1", "ws-2"):
        with connect(stack.ws_url("/echo/", server), open_timeout=10) as socket:
            socket.send(f"hello {server}")
            assert socket.recv(timeout=10) == f"hello {server}"


def test_a_group_send_reaches_two_hundred_sockets_on_two_servers_in_different_slots(stack: Stack) -> None:
    backend = stack.backend
    assert isinstance(backend, RedisClusterBackend)

    async def scenario() -> list[object]:
        urls = [stack.ws_url("/echo/", "ws-1"), stack.ws_url("/echo/", "ws-2")] * SOCKETS_PER_SERVER
        sockets = [await connect_async(url, open_timeout=20) for url in urls]
        try:
            await asyncio.to_thread(
                wait_until, lambda: len(backend.group_channels("echoers")) >= len(urls), 30, f"{len(urls)} members"
            )
            members = backend.group_channels("echoers")
            inboxes = {member.rsplit(".", 1)[0] for member in members}
            assert len(inboxes) == 2, inboxes
            slots = {slot_of(backend.keys.queue(inbox)) for inbox in inboxes}
            assert len(slots) == 2, f"both servers' inboxes hash to slot {slots}: the test proves less than it says"
            result = backend.group_send("echoers", {"id": 1, "content": "to everyone"})
            assert result.delivered == len(urls)
            return await asyncio.gather(*(asyncio.wait_for(s.recv(), 20) for s in sockets))
        finally:
            await asyncio.gather(*(s.close() for s in sockets))

    frames = asyncio.run(scenario())
    assert [json.loads(frame) for frame in frames] == [{"id": 1, "content": "to everyone"}] * (2 * SOCKETS_PER_SERVER)
