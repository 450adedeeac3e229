"""Keepalives: due times, the window that paces them, lost reports, and restoring after an outage.

The schedule is pure bookkeeping driven with made-up times; the last tests run
it inside a real WebSocket server with a small keepalive channel.
"""

from __future__ import annotations

import contextlib

import pytest

from channels_core.backends import backend_from_config
from channels_core.interfaces.keepalives import KeepaliveSchedule
from channels_core.names import handled_channel_of
from channels_core.testing import wait_until
from tests.channels_core.interfaces.test_websocket_server import RunningServer, take

KEEPALIVE = "django.websocket.keepalive"


def schedule(window: int = 2) -> KeepaliveSchedule:
    return KeepaliveSchedule(interval=30.0, window=window, timeout=60.0)


def test_a_sockets_first_keepalive_is_due_one_interval_after_its_connect() -> None:
    keepalives = schedule()
    keepalives.add("a", now=0.0)
    assert keepalives.take_due(29.9) == []
    assert keepalives.next_due() == 30.0
    assert keepalives.take_due(31.0) == [("a", 1.0)]  # and how late it goes


def test_no_more_than_the_window_is_out_at_once_and_reports_make_room() -> None:
    keepalives = schedule(window=2)
    for name in "abcde":
        keepalives.add(name, now=0.0)
    assert [name for name, _ in keepalives.take_due(30.0)] == ["a", "b"]
    assert keepalives.take_due(30.0) == []  # the window is full however many are due
    keepalives.handled("a", now=30.5)
    assert [name for name, _ in keepalives.take_due(30.5)] == ["c"]


def test_the_next_keepalive_is_due_one_interval_after_the_last_was_handled() -> None:
    keepalives = schedule()
    keepalives.add("a", now=0.0)
    keepalives.take_due(30.0)
    keepalives.handled("a", now=32.0)
    assert keepalives.next_due() == 62.0


def test_a_keepalive_whose_report_never_comes_frees_its_place_and_is_due_again() -> None:
    keepalives = schedule(window=1)
    keepalives.add("lost", now=0.0)
    keepalives.add("next", now=0.0)
    assert [name for name, _ in keepalives.take_due(30.0)] == ["lost"]
    assert keepalives.next_due() == 90.0  # the window is full: the next event is the give-up
    assert keepalives.take_due(90.0) == [("next", 60.0)]  # the most overdue goes first
    keepalives.handled("next", now=90.5)
    assert [name for name, _ in keepalives.take_due(90.5)] == ["lost"]


def test_a_keepalive_that_could_not_be_sent_is_tried_again_not_dropped() -> None:
    keepalives = schedule()
    keepalives.add("a", now=0.0)
    keepalives.take_due(30.0)
    keepalives.failed("a", now=30.0, retry_in=1.0)
    assert keepalives.take_due(30.5) == []
    assert [name for name, _ in keepalives.take_due(31.0)] == ["a"]


def test_a_closed_socket_is_forgotten() -> None:
    keepalives = schedule()
    keepalives.add("a", now=0.0)
    keepalives.remove("a")
    assert keepalives.take_due(100.0) == [] and len(keepalives) == 0
    assert keepalives.handled("a", now=100.0) is False


def test_after_an_outage_every_socket_is_due_at_once_and_tracked_until_handled() -> None:
    keepalives = schedule(window=10)
    for name in "abc":
        keepalives.add(name, now=0.0)
    keepalives.take_due(30.0)
    keepalives.handled("a", now=30.0)
    assert keepalives.restore_all(now=40.0) == 3
    assert sorted(name for name, _ in keepalives.take_due(40.0)) == ["a", "b", "c"]
    assert [keepalives.handled(name, now=41.0) for name in "ab"] == [True, True]
    assert keepalives.restoring == {"c"}
    keepalives.handled("c", now=41.0)
    assert keepalives.restoring == set()


def test_a_window_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1, not 0"):
        KeepaliveSchedule(interval=30.0, window=0, timeout=60.0)


# In a real server: 20 sockets, a keepalive channel of 8 (a window of 2), keepalives every 0.2 s.


@pytest.fixture
def paced() -> RunningServer:
    backend = backend_from_config(
        {"BACKEND": "channels_core.backends.memory.InMemoryBackend", "CHANNEL_CAPACITY": {KEEPALIVE: 8}}
    )
    server = RunningServer(backend, keepalive=0.2)
    yield server
    server.stop()


def test_keepalives_never_fill_their_channel_and_reach_every_socket(paced: RunningServer) -> None:
    with contextlib.ExitStack() as open_sockets:
        for _ in range(20):
            open_sockets.enter_context(paced.connect())
        sockets = {message["send_channel"] for message in take(paced.backend, "django.websocket.connect", 20)}
        seen: dict[str, int] = dict.fromkeys(sockets, 0)
        most_waiting = 0

        def handle_keepalives() -> bool:
            nonlocal most_waiting
            waiting = paced.backend.receive_many([KEEPALIVE], timeout=0.5, limit=100)
            most_waiting = max(most_waiting, len(waiting))
            for _, message in waiting:  # as a worker would: handle, then report
                seen[message["send_channel"]] += 1
                report = {"handled": [{"socket": message["send_channel"], "keepalive": True}]}
                paced.backend.send(handled_channel_of(message["send_channel"]), report)
            return min(seen.values()) >= 3

        wait_until(handle_keepalives, timeout=30, what="three keepalives for every socket")
    assert most_waiting <= 2  # the window, however many sockets were due


def test_without_reports_no_more_than_the_window_is_ever_emitted(paced: RunningServer) -> None:
    with contextlib.ExitStack() as open_sockets:
        for _ in range(20):
            open_sockets.enter_context(paced.connect())
        take(paced.backend, "django.websocket.connect", 20)
        first = wait_until(lambda: paced.backend.receive_many([KEEPALIVE], timeout=1, limit=100), what="keepalives")
        assert len(first) <= 2
        # Unreported, they keep their places in the window (until the channel's expiry): nothing more comes.
        assert len(first) + len(paced.backend.receive_many([KEEPALIVE], timeout=1, limit=100)) == 2


def test_a_socket_whose_connect_report_an_outage_may_have_lost_is_due_at_once_and_restored() -> None:
    keepalives = schedule()
    keepalives.add("a", now=0.0, at_once=True)
    assert keepalives.restoring == {"a"}
    assert keepalives.take_due(0.0) == [("a", 0.0)]
    assert keepalives.is_out("a")
    assert keepalives.handled("a", now=0.1) is True


def test_closing_the_last_socket_awaited_ends_the_restoration() -> None:
    keepalives = schedule(window=10)
    for name in "ab":
        keepalives.add(name, now=0.0)
    keepalives.restore_all(now=10.0)
    keepalives.take_due(10.0)
    keepalives.handled("a", now=10.1)
    assert keepalives.remove("b") is True  # nobody is left to restore: the server says it is done
    assert keepalives.remove("a") is False


def test_a_disconnect_waits_for_the_sockets_keepalive_still_out(paced: RunningServer) -> None:
    with paced.connect() as client:
        take(paced.backend, "django.websocket.connect", 1)
        (keepalive,) = wait_until(lambda: paced.backend.receive_many([KEEPALIVE], timeout=1), what="a keepalive")
        client.close()
    # Handled after the disconnect, that keepalive would put the closed socket back into its groups.
    assert paced.backend.receive(["django.websocket.disconnect"], timeout=0.5) is None
    socket = keepalive[1]["send_channel"]
    paced.backend.send(handled_channel_of(socket), {"handled": [{"socket": socket, "keepalive": True}]})
    disconnect = wait_until(lambda: paced.backend.receive(["django.websocket.disconnect"]), what="the disconnect")
    assert disconnect[1]["send_channel"] == socket
