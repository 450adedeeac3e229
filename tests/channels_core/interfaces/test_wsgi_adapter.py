"""The WSGI adapter in this process, with a stand-in worker thread: requests taking turns to read their responses.

The stack tests (``test_stack.py``) run it under gunicorn with real workers;
these look at how concurrent requests share the one response inbox, which a
stand-in worker makes quick and deterministic.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from channels_core.backends import BaseBackend
from channels_core.http import encode_body
from channels_core.interfaces.wsgi import WsgiAdapter

REQUEST_CHANNEL = "django.wsgi.request"


@pytest.fixture
def backend(memory_backend: BaseBackend, settings) -> BaseBackend:
    settings.CHANNELS_HTTP_TIMEOUT = 5
    return memory_backend


def call(adapter: WsgiAdapter, path: str) -> tuple[str, bytes]:
    """One GET through the adapter, as a WSGI server makes it: the status line and the whole body."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }
    started: list[str] = []
    body = b"".join(adapter(environ, lambda status, headers, exc_info=None: started.append(status)))
    return started[0], body


class StandInWorker:
    """Answers requests in batches, in reverse order, each in three pieces: every request waits on others."""

    def __init__(self, backend: BaseBackend, batch: int) -> None:
        self.backend = backend
        self.batch = batch
        self.ignored = "/ignored/"  # requests to this path are never answered
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopping.is_set():
            requests: list[dict[str, Any]] = []
            while len(requests) < self.batch and (received := self.backend.receive([REQUEST_CHANNEL], timeout=0.2)):
                requests.append(received[1])
            for request in reversed(requests):
                if request["path"] != self.ignored:
                    self.answer(request)

    def answer(self, request: dict[str, Any]) -> None:
        pieces = [f"{request['path']}:{n};".encode() for n in range(3)]
        first, *rest = pieces
        channel = request["send_channel"]
        self.backend.send(channel, {"status": 200, "headers": [], "content": encode_body(first), "more_content": True})
        for n, piece in enumerate(rest, 1):
            self.backend.send(channel, {"content": encode_body(piece), "more_content": n < len(rest)})

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)


def test_concurrent_requests_each_get_their_own_response_whoever_reads(backend: BaseBackend) -> None:
    adapter = WsgiAdapter()
    worker = StandInWorker(backend, batch=8)
    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda n: call(adapter, f"/page/{n}/"), range(200)))
    finally:
        worker.stop()
    assert results == [("200 OK", f"/page/{n}/:0;/page/{n}/:1;/page/{n}/:2;".encode()) for n in range(200)]
    assert adapter.dispatcher().waiting == {}, "every request left the dispatcher"


def test_a_request_nobody_answers_gets_its_503_while_the_others_are_served(backend: BaseBackend, settings) -> None:
    settings.CHANNELS_HTTP_TIMEOUT = 1
    adapter = WsgiAdapter()
    worker = StandInWorker(backend, batch=4)
    try:
        with ThreadPoolExecutor(8) as pool:
            unanswered = pool.submit(call, adapter, worker.ignored)
            answered = list(pool.map(lambda n: call(adapter, f"/page/{n}/"), range(40)))
            status, body = unanswered.result()
    finally:
        worker.stop()
    assert status == "503 Service Unavailable"
    assert b"no worker answered within 1 s" in body
    assert [status for status, _ in answered] == ["200 OK"] * 40
