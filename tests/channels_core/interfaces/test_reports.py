"""A worker's report of handled messages lets each socket go on (``interfaces/sockets.py``: ``apply_reports``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from channels_core.interfaces.limits import ReceiveRate, SendBuffer
from channels_core.interfaces.sockets import Socket, apply_reports


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def waiting_socket(loop: asyncio.AbstractEventLoop, name: str, order: int) -> Socket:
    connection: Any = None  # not used by the reports
    socket = Socket(connection, name, "/path/", SendBuffer(4, 1024), ReceiveRate(0, 1), order=order)
    socket.handled = loop.create_future()
    return socket


def test_the_report_of_the_awaited_message_lets_its_socket_go_on(loop: asyncio.AbstractEventLoop) -> None:
    one, two = waiting_socket(loop, "!ws.srv.a", order=3), waiting_socket(loop, "!ws.srv.b", order=1)
    keepalives: list[str] = []
    report = {"handled": [{"socket": "!ws.srv.a", "order": 3}, {"socket": "!ws.srv.b", "order": 0}]}
    apply_reports(report, {s.send_channel: s for s in (one, two)}, keepalives.append)
    assert one.handled is not None and one.handled.result() is True
    assert two.handled is not None and not two.handled.done()  # an older message's report: still waiting
    assert keepalives == []


def test_a_keepalive_report_goes_to_the_keepalive_schedule(loop: asyncio.AbstractEventLoop) -> None:
    socket = waiting_socket(loop, "!ws.srv.a", order=2)
    keepalives: list[str] = []
    apply_reports({"handled": [{"socket": "!ws.srv.a", "keepalive": True}]}, {"!ws.srv.a": socket}, keepalives.append)
    assert keepalives == ["!ws.srv.a"]
    assert socket.handled is not None and not socket.handled.done()


def test_reports_of_closed_sockets_and_malformed_reports_are_ignored(loop: asyncio.AbstractEventLoop) -> None:
    socket = waiting_socket(loop, "!ws.srv.a", order=1)
    keepalives: list[str] = []
    for report in (
        {"handled": [{"socket": "!ws.srv.gone", "order": 1}, "not a report", {"order": 1}, {"socket": 7}]},
        {"handled": "not a list"},
        {},
    ):
        apply_reports(report, {"!ws.srv.a": socket}, keepalives.append)
    assert socket.handled is not None and not socket.handled.done()
    assert keepalives == []
