"""The WSGI adapter's 503 and 504, in this process on the in-memory backend.

503 means "never started, safe to retry"; 504 means "a worker started it, the
outcome is unknown" ("Request deadlines" in docs/topics/design.rst). The
adapter tells them apart by taking back the request's start ticket. The stack
tests (``test_wsgi_deadline_stack.py``) show the same with real processes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from channels_core.backends import BaseBackend, get_backend
from channels_core.consumers import http_request
from channels_core.exceptions import BackendUnavailable, ChannelsError
from channels_core.http import CHUNK_SIZE
from channels_core.interfaces.wsgi import REQUEST_CHANNEL, WsgiAdapter
from channels_core.messages import Message
from channels_core.names import inbox_of
from channels_core.testing import wait_until


@pytest.fixture
def backend(memory_backend: BaseBackend, settings) -> BaseBackend:
    settings.CHANNELS_HTTP_TIMEOUT = 0.5
    return memory_backend


class Answer:
    """What the adapter answered: status line, headers and body."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = dict(headers)
        self.body = body


def call(
    path: str,
    body: bytes | io.RawIOBase = b"",
    method: str = "POST",
    length: bool = True,
    adapter: WsgiAdapter | None = None,
) -> Answer:
    """One request through ``adapter`` (by default a fresh one), as a WSGI server makes it.

    A body in bytes (or in a ``BytesIO``) comes with its ``Content-Length``
    unless ``length`` is false; a stream of another kind never does (as if chunked).
    """
    stream = io.BytesIO(body) if isinstance(body, bytes) else body
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "CONTENT_TYPE": "text/plain",
        "wsgi.input": stream,
        "wsgi.url_scheme": "http",
    }
    if length and isinstance(stream, io.BytesIO):
        environ["CONTENT_LENGTH"] = str(len(stream.getvalue()))
    started: list[Any] = []
    content = b"".join(
        (adapter or WsgiAdapter())(environ, lambda status, headers, exc_info=None: started.append((status, headers)))
    )
    return Answer(*started[0], content)


def take_request(backend: BaseBackend) -> Message:
    received = wait_until(lambda: backend.receive([REQUEST_CHANNEL], timeout=0), what="the request message")
    return received[1]


@contextlib.contextmanager
def in_background(function: Callable[[], Answer]) -> Iterator[Future[Answer]]:
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(function)


DOWN = BackendUnavailable("Redis at redis://127.0.0.1:1/0 is unavailable: connection refused")


def unavailable(*args: Any, **kwargs: Any) -> Any:
    raise DOWN


def test_no_worker_means_503_with_retry_after_and_a_worker_coming_later_drops_the_request(
    backend: BaseBackend, caplog: pytest.LogCaptureFixture
) -> None:
    answer = call("/tests/write-row/", b"text=first")
    assert answer.status == "503 Service Unavailable"
    assert answer.headers["Retry-After"] == "5"
    assert b"no worker answered within 0.5 s; it did not start and never will, so it is safe to retry" in answer.body
    request = take_request(backend)  # still there: it has not expired
    assert backend.receive([request["start_channel"]], timeout=0) is None, "the adapter took its ticket back"
    with caplog.at_level(logging.WARNING, logger="channels_core.http"):
        http_request(**request)  # no database access, or the test would fail
    assert "POST /tests/write-row/ dropped, not started" in caplog.text


def test_a_request_a_worker_started_but_did_not_finish_in_time_gets_504_without_retry_after(
    backend: BaseBackend,
) -> None:
    with in_background(lambda: call("/tests/write-row/", b"text=slow")) as answering:
        request = take_request(backend)
        assert backend.receive([request["start_channel"]], timeout=0) is not None, "the worker starts it"
        answer = answering.result()
    assert answer.status == "504 Gateway Timeout"
    assert "Retry-After" not in answer.headers
    assert b"a worker started the request, but no worker answered within 0.5 s; its outcome is unknown" in answer.body


def test_a_worker_that_takes_the_ticket_serves_the_request_body_chunks_and_all(backend: BaseBackend, settings) -> None:
    settings.CHANNELS_HTTP_TIMEOUT = 30
    body = bytes(range(256)) * (CHUNK_SIZE // 256 * 2 + 1)  # three chunks
    with in_background(lambda: call("/tests/upload/", body)) as answering:
        http_request(**take_request(backend))
        answer = answering.result()
    assert answer.status == "200 OK"
    assert f'"length": {len(body)}'.encode() in answer.body


@pytest.fixture
def send_outcomes(backend: BaseBackend, monkeypatch: pytest.MonkeyPatch) -> list[list[ChannelsError | None]]:
    """Make the adapter's send_many return the outcomes put in this list (nothing is stored)."""
    outcomes: list[list[ChannelsError | None]] = []
    monkeypatch.setattr(backend, "send_many", lambda messages: outcomes.pop(0))
    return outcomes


def test_a_full_request_channel_means_503_with_retry_after(
    backend: BaseBackend, settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CHANNEL_BACKENDS = {
        "default": {
            "BACKEND": "channels_core.backends.memory.InMemoryBackend",
            "CHANNEL_CAPACITY": {REQUEST_CHANNEL: 1},
        }
    }
    get_backend().send(REQUEST_CHANNEL, {"filler": True})
    answer = call("/tests/write-row/", b"text=x")
    assert answer.status == "503 Service Unavailable"
    assert answer.headers["Retry-After"] == "5"
    assert b"workers are overloaded: channel 'django.wsgi.request' is full (capacity 1)" in answer.body
    assert "answering 503" in caplog.text


def test_a_backend_down_for_the_send_and_the_take_back_means_503_not_500(
    backend: BaseBackend, send_outcomes: list[list[ChannelsError | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    send_outcomes.append([DOWN, DOWN])
    monkeypatch.setattr(backend, "receive", unavailable)
    answer = call("/tests/write-row/", b"text=x")
    assert answer.status == "503 Service Unavailable"
    assert answer.headers["Retry-After"] == "5"
    assert b"connection refused" in answer.body


def test_an_outage_is_logged_once_with_its_end_and_each_503_of_it_at_info(
    backend: BaseBackend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = WsgiAdapter()  # one process's adapter: its requests share the outage
    call("/tests/write-row/", b"text=x", adapter=adapter)  # a send that works ends any earlier outage
    monkeypatch.setattr(backend, "send_many", lambda messages: [DOWN, DOWN])
    monkeypatch.setattr(backend, "receive", unavailable)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="channels_core.wsgi"):
        answers = [call("/tests/write-row/", b"text=x", adapter=adapter) for _ in range(3)]
        monkeypatch.undo()  # the backend is back
        call("/tests/write-row/", b"text=x", adapter=adapter)
    assert [answer.status for answer in answers] == ["503 Service Unavailable"] * 3
    loud = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(loud) == 3, loud  # the outage, its end, and the last request's 503 (no worker answered)
    assert "connection refused" in loud[0] and loud[1].startswith("backend reachable again")
    answered_during = [record for record in caplog.records if "answering 503: Redis at" in record.getMessage()]
    assert [record.levelno for record in answered_during] == [logging.INFO] * 3


def test_a_backend_gone_after_the_request_was_stored_means_504_since_a_worker_may_have_started_it(
    backend: BaseBackend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(backend, "receive_inbox", unavailable)
    monkeypatch.setattr(backend, "receive", unavailable)
    answer = call("/tests/write-row/", b"text=x")
    assert answer.status == "504 Gateway Timeout"
    assert "could not take back start ticket" in caplog.text


@pytest.mark.parametrize("started", [False, True], ids=["not-started", "started"])
def test_a_failure_reading_the_inbox_is_logged_with_its_traceback_and_answered(
    backend: BaseBackend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, started: bool
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        if started:  # a worker takes the ticket before the adapter reads its inbox
            backend.receive([take_request(backend)["start_channel"]], timeout=0)
        raise RuntimeError("bug in the inbox reader")

    monkeypatch.setattr(backend, "receive_inbox", broken)
    answer = call("/tests/write-row/", b"text=x")
    assert answer.status == ("504 Gateway Timeout" if started else "503 Service Unavailable")
    assert b"reading the responses failed: RuntimeError('bug in the inbox reader')" in answer.body
    (failure,) = [record for record in caplog.records if record.exc_info]
    assert failure.getMessage().startswith("reading response inbox !django.wsgi.response.")


class GatedBody(io.RawIOBase):
    """A body sent without Content-Length whose third chunk is read only once ``gate`` is set."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.chunks = [b"a" * CHUNK_SIZE, b"b" * CHUNK_SIZE, b"c" * CHUNK_SIZE]

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if len(self.chunks) == 1:
            assert self.gate.wait(10), "the worker never took the ticket"
        return self.chunks.pop(0) if self.chunks else b""


def test_a_body_over_the_limit_after_a_worker_started_is_413_and_the_worker_is_told_at_once(
    backend: BaseBackend, settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CHANNELS_HTTP_TIMEOUT = 30
    settings.CHANNELS_MAX_REQUEST_BODY = CHUNK_SIZE * 2 + 1
    started = threading.Event()
    receive = backend.receive

    def noting_the_start(channels: list[str], timeout: float | None = 0) -> Any:
        received = receive(channels, timeout)
        if channels[0].startswith("django.wsgi.start.") and received is not None:
            started.set()
        return received

    monkeypatch.setattr(backend, "receive", noting_the_start)
    with in_background(lambda: call("/tests/upload/", GatedBody(started), length=False)) as answering:
        request = take_request(backend)
        request["headers"].append(["content-length", str(CHUNK_SIZE * 3)])  # as the client would have said
        http_request(**request)
        answer = answering.result()
    assert answer.status == "413 Request Entity Too Large"
    worker_answered = backend.receive_inbox(inbox_of(request["send_channel"]), timeout=0)
    assert [message["status"] for _, message in worker_answered] == [500], "the view failed on the body"
    assert "request body incomplete: the interface server abandoned it (request body is over the limit of" in (
        caplog.text
    )
