"""The WebSocket server in this process, on the in-memory backend: what it emits, in what order, and floods.

The stack tests (``test_stack.py``) run the real ``runwsserver``; these look
closely at the messages one server emits, which is quicker without processes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from channels_core.backends import BaseBackend, backend_from_config
from channels_core.interfaces.websocket import WebSocketServer
from channels_core.testing import free_port, wait_until

RECEIVE = "django.websocket.receive"
CAPACITY = 5


class RunningServer:
    """A :class:`WebSocketServer` serving from a thread of its own until :meth:`stop`."""

    def __init__(self, backend: BaseBackend) -> None:
        self.backend = backend
        self.server = WebSocketServer(backend, allowed_hosts=["127.0.0.1"])
        self.port = free_port()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        wait_until(self._ready.is_set, timeout=10, what="the WebSocket server to listen")

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        await self.server.serve("127.0.0.1", self.port, self._stop, ready=self._ready.set)

    def connect(self, path: str = "/flood/") -> ClientConnection:
        return connect(f"ws://127.0.0.1:{self.port}{path}", open_timeout=10)

    def stop(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def running() -> Iterator[RunningServer]:
    backend = backend_from_config(
        {"BACKEND": "channels_core.backends.memory.InMemoryBackend", "CHANNEL_CAPACITY": {RECEIVE: CAPACITY}}
    )
    server = RunningServer(backend)
    yield server
    server.stop()


def take(backend: BaseBackend, channel: str, count: int) -> list[dict[str, Any]]:
    """``count`` messages from ``channel``, waiting for each."""
    taken = []
    for _ in range(count):
        received = backend.receive([channel], timeout=10)
        assert received is not None, f"only {len(taken)} of {count} messages came on {channel}"
        taken.append(received[1])
    return taken


def test_a_sockets_frames_are_emitted_in_order_with_their_order_numbers(running: RunningServer) -> None:
    with running.connect() as client:
        for n in range(CAPACITY):
            client.send(f"frame {n}")
        (connect_message,) = take(running.backend, "django.websocket.connect", 1)
        frames = take(running.backend, RECEIVE, CAPACITY)
    assert [frame["text"] for frame in frames] == [f"frame {n}" for n in range(CAPACITY)]
    assert [frame["order"] for frame in frames] == list(range(1, CAPACITY + 1))
    assert {frame["send_channel"] for frame in frames} == {connect_message["send_channel"]}


def test_a_flood_that_fills_the_receive_channel_closes_that_socket_with_1013(running: RunningServer) -> None:
    with running.connect() as flooder:
        for n in range(CAPACITY + 1):
            flooder.send(f"frame {n}")  # the last one finds the channel full
        with pytest.raises(ConnectionClosed) as closed:
            flooder.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    # Nothing was lost that was accepted, and the server still serves once workers catch up.
    assert [frame["text"] for frame in take(running.backend, RECEIVE, CAPACITY)] == [
        f"frame {n}" for n in range(CAPACITY)
    ]
    disconnect = wait_until(
        lambda: running.backend.receive(["django.websocket.disconnect"]), what="the flooder's disconnect"
    )
    assert disconnect[1]["code"] == 1013
    with running.connect() as client:
        client.send("after the flood")
        assert take(running.backend, RECEIVE, 1)[0]["text"] == "after the flood"
