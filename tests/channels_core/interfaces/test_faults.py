"""Faults of the interface servers, each on a stack of its own: dead workers, no workers, Redis restarts, SIGTERM."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from channels_core.testing import wait_until

from .stack import Stack

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    yield stack
    stack.stop()


def _get(url: str) -> requests.Response:
    return requests.get(url, timeout=30)


def test_a_worker_killed_with_requests_in_flight_leaves_the_other_serving(stack: Stack) -> None:
    doomed = stack.start_worker("worker-1", threads=2)
    survivor = stack.start_worker("worker-2", threads=2)
    stack.start_gunicorn()
    with ThreadPoolExecutor(4) as pool:
        in_flight = [pool.submit(_get, stack.url("/tests/slow/?seconds=3")) for _ in range(4)]
        doomed_pid = doomed.process.pid
        wait_until(lambda: f"slow {doomed_pid}" in stack.records_lines(), what="the doomed worker to take a request")
        doomed.kill()
        statuses = sorted(future.result().status_code for future in in_flight)
    assert 200 in statuses, "the survivor's requests completed"
    # The dead worker had started its requests: their outcome is unknown, which is what 504 says.
    assert set(statuses) <= {200, 504}, "the dead worker's requests got a 504, never a 503 or a 500"
    following = [_get(stack.url("/tests/slow/?seconds=0")) for _ in range(10)]
    assert [r.status_code for r in following] == [200] * 10
    assert {r.text for r in following} == {f"served by {survivor.process.pid}"}


def test_no_worker_means_503_with_retry_after_and_the_request_never_runs_later(stack: Stack) -> None:
    stack.start_gunicorn()
    response = _get(stack.url("/tests/slow/?seconds=0"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "no worker answered within 5 s" in response.text
    # The adapter took the request's start ticket back before its 503: a worker starting
    # now never runs it (and the request expired anyway: CHANNEL_EXPIRY is half the timeout).
    worker = stack.start_worker()
    assert _get(stack.url("/tests/slow/?seconds=0")).status_code == 200
    assert stack.records_lines() == [f"slow {worker.process.pid}"]


def test_the_adapter_and_the_websocket_server_ride_out_a_redis_restart(stack: Stack) -> None:
    stack.start_worker()
    stack.start_ws()
    stack.start_gunicorn()
    assert _get(stack.url("/")).status_code == 200
    stack.redis.stop()
    assert _get(stack.url("/")).status_code == 503
    stack.redis.start()  # same port, empty
    wait_until(lambda: _get(stack.url("/")).status_code == 200, timeout=30, what="pages to come back")

    def echoes() -> bool:
        try:
            with connect(stack.ws_url("/echo/"), open_timeout=5) as socket:
                socket.send("back")
                return socket.recv(timeout=5) == "back"
        except (OSError, TimeoutError, ConnectionClosed):
            return False

    wait_until(echoes, timeout=30, what="sockets to work again")
    assert stack.processes["gunicorn"].process.poll() is None
    assert stack.processes["ws"].process.poll() is None


def test_sigterm_closes_every_socket_with_1001_and_emits_their_disconnects(stack: Stack) -> None:
    stack.start_worker()
    server = stack.start_ws()
    with contextlib.ExitStack() as opened:
        sockets = [opened.enter_context(connect(stack.ws_url("/echo/"), open_timeout=10)) for _ in range(3)]
        for socket in sockets:
            socket.send("ready")
            assert socket.recv(timeout=10) == "ready"
        server.signal(signal.SIGTERM)
        for socket in sockets:
            with pytest.raises(ConnectionClosed):
                socket.recv(timeout=10)
            assert socket.close_code == 1001
    assert server.process.wait(20) == 0
    wait_until(
        lambda: sum(line.startswith("disconnect 1001 ") for line in stack.records_lines()) == 3,
        what="three disconnects with 1001",
    )
