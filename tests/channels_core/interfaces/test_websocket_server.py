"""The WebSocket server in this process, on the in-memory backend: what it emits, in what order, and floods.

The stack tests (``test_stack.py``) run the real ``runwsserver``; these look
closely at the messages one server emits, which is quicker without processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from channels_core.backends import BaseBackend, backend_from_config
from channels_core.interfaces import websocket
from channels_core.interfaces.websocket import WebSocketServer
from channels_core.names import handled_channel_of
from channels_core.origins import OriginPolicy
from channels_core.testing import free_port, wait_until

RECEIVE = "django.websocket.receive"
CAPACITY = 5


class RunningServer:
    """A :class:`WebSocketServer` serving from a thread of its own until :meth:`stop`."""

    def __init__(
        self, backend: BaseBackend, order_timeout: float | None = None, keepalive: float = 30.0, **options: Any
    ) -> None:
        self.backend = backend
        self.server = WebSocketServer(
            backend, origins=OriginPolicy(["127.0.0.1"]), order_timeout=order_timeout, keepalive=keepalive, **options
        )
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

    def connect(self, path: str = "/flood/", origin: str | None = None) -> ClientConnection:
        return connect(f"ws://127.0.0.1:{self.port}{path}", open_timeout=10, origin=origin)

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


def take(backend: BaseBackend, channel: str, count: int, report: bool = True) -> list[dict[str, Any]]:
    """``count`` messages from ``channel``, waiting for each; each reported handled as a worker would, if ``report``."""
    taken = []
    for _ in range(count):
        received = backend.receive([channel], timeout=10)
        assert received is not None, f"only {len(taken)} of {count} messages came on {channel}"
        message = received[1]
        taken.append(message)
        if report:
            backend.send(
                handled_channel_of(message["send_channel"]),
                {"handled": [{"socket": message["send_channel"], "order": message["order"]}]},
            )
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


def test_a_sockets_next_message_waits_until_the_previous_one_is_handled(running: RunningServer) -> None:
    with running.connect() as client:
        client.send("first")
        client.send("second")
        take(running.backend, "django.websocket.connect", 1)
        (first,) = take(running.backend, RECEIVE, 1, report=False)
        # The second frame stays with the server while the first is being handled...
        with running.connect() as other:
            take(running.backend, "django.websocket.connect", 1)
            other.send("another socket is not held up")
            assert take(running.backend, RECEIVE, 1)[0]["text"] == "another socket is not held up"
        assert running.backend.receive([RECEIVE], timeout=0) is None
        # ... and comes once a worker says the first was handled.
        running.backend.send(
            handled_channel_of(first["send_channel"]), {"handled": [{"socket": first["send_channel"], "order": 1}]}
        )
        assert take(running.backend, RECEIVE, 1)[0]["text"] == "second"


def test_a_message_never_reported_handled_holds_its_socket_up_only_until_the_order_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = backend_from_config({"BACKEND": "channels_core.backends.memory.InMemoryBackend"})
    server = RunningServer(backend, order_timeout=0.2)
    try:
        with server.connect() as client:
            client.send("lost")
            client.send("next")
            take(backend, "django.websocket.connect", 1)
            take(backend, RECEIVE, 1, report=False)  # as if its worker died
            assert take(backend, RECEIVE, 1)[0]["text"] == "next"
    finally:
        server.stop()
    assert "not reported handled within 0.2 s" in caplog.text


def test_a_full_receive_channel_slows_sockets_down_instead_of_closing_them(running: RunningServer) -> None:
    # One socket has one message in flight at a time, so it takes several sockets to fill the channel.
    with contextlib.ExitStack() as open_sockets:
        clients = [open_sockets.enter_context(running.connect()) for _ in range(CAPACITY + 1)]
        take(running.backend, "django.websocket.connect", CAPACITY + 1)
        for n, client in enumerate(clients):
            client.send(f"frame {n}")
        # The last frame waits at the server until a worker makes room; nobody is closed.
        frames = take(running.backend, RECEIVE, CAPACITY + 1)
        assert sorted(frame["text"] for frame in frames) == [f"frame {n}" for n in range(CAPACITY + 1)]
        assert running.backend.receive(["django.websocket.disconnect"], timeout=0) is None


def test_a_frame_that_finds_no_room_in_time_closes_only_its_socket_with_1013(
    running: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(websocket, "ROOM_WAIT", 0.2)
    with contextlib.ExitStack() as open_sockets:
        clients = [open_sockets.enter_context(running.connect()) for _ in range(CAPACITY + 1)]
        take(running.backend, "django.websocket.connect", CAPACITY + 1)
        for n, client in enumerate(clients):
            client.send(f"frame {n}")
        disconnect = wait_until(
            lambda: running.backend.receive(["django.websocket.disconnect"]),
            what="the disconnect of the socket refused",
        )[1]
        assert disconnect["code"] == 1013
        accepted = take(running.backend, RECEIVE, CAPACITY)
        assert disconnect["send_channel"] not in {frame["send_channel"] for frame in accepted}


def test_a_page_of_the_same_origin_or_no_page_may_open_a_socket(running: RunningServer) -> None:
    with running.connect(origin=f"http://127.0.0.1:{running.port}"):
        take(running.backend, "django.websocket.connect", 1)
    with running.connect():  # a program, not a browser page
        take(running.backend, "django.websocket.connect", 1)


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("http://127.0.0.1:{other_port}", id="another port"),
        pytest.param("https://127.0.0.1:{port}", id="another scheme"),
        pytest.param("http://evil.example:{port}", id="another host"),
        pytest.param("null", id="an opaque origin"),
    ],
)
def test_a_page_of_another_origin_is_refused_with_403(running: RunningServer, origin: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        running.connect(origin=origin.format(port=running.port, other_port=free_port()))
    assert refused.value.response.status_code == 403
    assert running.backend.receive(["django.websocket.connect"], timeout=0) is None


def test_a_frame_whose_message_would_be_too_large_is_closed_with_1009(running: RunningServer) -> None:
    with running.connect() as client:
        take(running.backend, "django.websocket.connect", 1)
        client.send('"' * 600_000)  # under the 1 MiB frame limit; JSON escaping doubles it
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=10)
        assert client.close_code == 1009
    disconnect = wait_until(lambda: running.backend.receive(["django.websocket.disconnect"]), what="the disconnect")
    assert disconnect[1]["code"] == 1009


def test_the_connect_carries_the_handshakes_headers_and_the_server_keeps_none_of_them(running: RunningServer) -> None:
    with running.connect() as client:
        (connect,) = take(running.backend, "django.websocket.connect", 1)
        assert ["host", f"127.0.0.1:{running.port}"] in connect["headers"]
        # Emptied before the connect was emitted: thousands of sockets would each keep a few KiB.
        connection = running.server.sockets[connect["send_channel"]].connection
        assert connection.request is not None and not connection.request.headers and connection.response is None
        client.send("the socket works on")
        assert take(running.backend, RECEIVE, 1)[0]["text"] == "the socket works on"
