"""HTTP and WebSockets through channels, on real processes: gunicorn + runwsserver x2 + runworker x2 + Redis.

These are the acceptance checks of the interface servers; they start the
processes once for the module (the fault tests start stacks of their own).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from websockets.asyncio.client import connect as connect_async
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from channels_core.testing import wait_until
from tests.testapp.views import pattern_bytes

from .stack import ADMIN_PASSWORD, Stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("stack"))
    try:
        stack.start_worker("worker-1")
        stack.start_worker("worker-2")
        # As the scaling how-to suggests for busy sockets, a third worker batches their messages.
        stack.start_worker("sockets-worker", args=["--batch", "8", "--only-channels", "django.websocket.*"])
        stack.start_ws("ws-1")
        stack.start_ws("ws-2")
        stack.start_gunicorn()
        yield stack
    finally:
        stack.stop()


# HTTP.


def test_a_page_comes_through_channels(stack: Stack) -> None:
    response = requests.get(stack.url("/"), timeout=30)
    assert response.status_code == 200
    assert "Event-driven Django" in response.text


def test_csrf_protected_login_and_session_round_trip(stack: Stack) -> None:
    session = requests.Session()
    login_page = session.get(stack.url("/admin/login/"), timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)
    assert token, "the login form carries a CSRF token"
    without_token = requests.post(stack.url("/admin/login/"), data={"username": "admin"}, timeout=30)
    assert without_token.status_code == 403
    logged_in = session.post(
        stack.url("/admin/login/?next=/admin/"),
        data={"csrfmiddlewaretoken": token.group(1), "username": "admin", "password": ADMIN_PASSWORD},
        headers={"Referer": stack.url("/admin/login/")},
        timeout=30,
    )
    assert logged_in.status_code == 200 and logged_in.url == stack.url("/admin/")
    assert session.get(stack.url("/tests/whoami/"), timeout=30).text.startswith("admin ")


def test_a_ten_mebibyte_upload_arrives_intact(stack: Stack) -> None:
    body = os.urandom(10 * 1024 * 1024)
    response = requests.post(stack.url("/tests/upload/"), data=body, timeout=60)
    assert response.json() == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_a_five_mebibyte_download_arrives_intact(stack: Stack) -> None:
    size = 5 * 1024 * 1024
    response = requests.get(stack.url(f"/tests/download/?size={size}"), timeout=60)
    assert response.content == pattern_bytes(size)


def test_a_streaming_response_arrives_in_pieces(stack: Stack, tmp_path: Path) -> None:
    flag = tmp_path / "go-on"
    with requests.get(stack.url(f"/tests/stream/?flag={flag}"), stream=True, timeout=30) as response:
        lines = response.iter_lines()
        assert next(lines) == b"first piece"  # the view has not produced the second one yet
        flag.touch()
        assert next(lines) == b"second piece"


# WebSockets.


def test_a_socket_gets_its_consumers_reply(stack: Stack) -> None:
    with connect(stack.ws_url("/echo/", "ws-1"), open_timeout=10) as socket:
        socket.send("hello")
        assert socket.recv(timeout=10) == "hello"
        socket.send(b"\x00\x01binary")
        assert socket.recv(timeout=10) == b"\x00\x01binary"


def test_group_send_reaches_two_hundred_sockets_on_two_servers(stack: Stack) -> None:
    async def scenario() -> list[object]:
        urls = [stack.ws_url("/echo/", "ws-1"), stack.ws_url("/echo/", "ws-2")] * 100
        sockets = [await connect_async(url, open_timeout=20) for url in urls]
        try:
            await asyncio.to_thread(
                wait_until, lambda: len(stack.backend.group_channels("echoers")) >= 200, 30, "200 members"
            )
            result = stack.backend.group_send("echoers", {"id": 1, "content": "to everyone"})
            assert result.delivered >= 200
            return await asyncio.gather(*(asyncio.wait_for(s.recv(), 20) for s in sockets))
        finally:
            await asyncio.gather(*(s.close() for s in sockets))

    received = asyncio.run(scenario())
    assert [json.loads(r) for r in received] == [{"id": 1, "content": "to everyone"}] * 200  # type: ignore[arg-type]


# Bad input.


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:18999", "http://localhost:8000"])
def test_a_foreign_origin_is_refused_at_the_handshake(stack: Stack, origin: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(stack.ws_url("/echo/", "ws-1"), origin=origin, open_timeout=10)
    assert refused.value.response.status_code == 403


def test_the_sites_pages_may_open_sockets(stack: Stack) -> None:
    # The stack's pages come from gunicorn's port, which it lists in CHANNELS_WS_ALLOWED_ORIGINS.
    with connect(stack.ws_url("/echo/", "ws-1"), origin=stack.url("").rstrip("/"), open_timeout=10) as socket:
        socket.send("allowed")
        assert socket.recv(timeout=10) == "allowed"


def _close_code(socket: object) -> int | None:
    return socket.close_code  # type: ignore[attr-defined,no-any-return]


def test_a_frame_over_one_mebibyte_is_closed_with_1009(stack: Stack) -> None:
    with connect(stack.ws_url("/echo/", "ws-1"), open_timeout=10) as socket:
        socket.send("x" * (1024 * 1024 + 1))
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=10)
        assert _close_code(socket) == 1009


def test_invalid_utf8_is_closed_with_1007(stack: Stack) -> None:
    with connect(stack.ws_url("/echo/", "ws-1"), open_timeout=10) as socket:
        socket.send(b"\xff\xfe not utf-8", text=True)
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=10)
        assert _close_code(socket) == 1007


def test_a_client_that_never_reads_does_not_delay_the_others(stack: Stack) -> None:
    """1,000 big group messages: the reader gets all of them; the sleeper is closed (1013), not waited for."""

    async def scenario() -> int:
        # The sleeper stops reading once its one-message queue is full, so the server's writes to it block.
        sleeper = await connect_async(stack.ws_url("/echo/", "ws-1"), max_queue=1, open_timeout=10)
        reader = await connect_async(stack.ws_url("/echo/", "ws-1"), open_timeout=10)
        try:
            await asyncio.to_thread(
                wait_until, lambda: len(stack.backend.group_channels("echoers")) >= 2, 20, "both to join"
            )
            payload = base64.b64encode(os.urandom(15_000)).decode()  # 20 kB that no compression shrinks

            def broadcast(first: int) -> None:
                for n in range(first, first + 100):
                    stack.backend.group_send("echoers", {"n": n, "payload": payload})

            # In bursts of 100: the reader must get each burst while the sleeper's
            # copies pile up unread (a burst never outruns the server's inbox).
            got = 0
            for first in range(0, 1000, 100):
                await asyncio.to_thread(broadcast, first)
                while got < first + 100:
                    message = json.loads(await asyncio.wait_for(reader.recv(), 20))
                    assert message["n"] == got
                    got += 1
            return got
        finally:
            await reader.close()
            sleeper.transport.abort()

    assert asyncio.run(scenario()) == 1000
    wait_until(lambda: any(line.startswith("disconnect 1013 ") for line in stack.records_lines()), 30, "1013")


def test_a_flooding_socket_slows_down_and_closes_nobody_else(stack: Stack) -> None:
    # 2,000 frames as fast as the client can write them: far more than the receive
    # channel holds (100) and than the socket's rate allows at once (a burst of 200).
    with (
        connect(stack.ws_url("/echo/", "ws-1"), open_timeout=10) as flooder,
        connect(stack.ws_url("/echo/", "ws-1"), open_timeout=10) as neighbour,
    ):
        for n in range(2000):
            flooder.send(f"flood {n}")
        # Meanwhile the neighbour's messages are echoed, in order, and it stays open.
        for n in range(20):
            neighbour.send(f"neighbour {n}")
            assert neighbour.recv(timeout=30) == f"neighbour {n}"
        # The flooder is not closed either: it is read more slowly, and its echoes come in order.
        assert [flooder.recv(timeout=60) for _ in range(300)] == [f"flood {n}" for n in range(300)]
