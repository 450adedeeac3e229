"""Request bodies are bounded before they reach the backend (issue 15, acceptance point 4).

The adapter sends a body's chunks a few at a time, each once the worker has
taken one ("Request bodies" in docs/topics/design.rst), answers 413 for any
body over ``CHANNELS_MAX_REQUEST_BODY``, chunked or not, and takes back every
chunk still waiting once it is done with a request. The first tests run the
adapter in this process on the in-memory backend; the slow ones run the real
stack (gunicorn, ``runworker``, a private Redis) and look at Redis itself.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings

from channels_core.backends import BaseBackend, get_backend
from channels_core.consumers import http_request
from channels_core.exceptions import ChannelFull
from channels_core.http import (
    BODY_CHANNEL_PREFIX,
    CHUNK_SIZE,
    START_TICKET,
    encode_body,
    request_message,
)
from channels_core.messages import Message, encode_message
from channels_core.names import new_channel_name

from .stack import Stack
from .test_wsgi_deadlines import call, in_background, take_request

MEMORY_BACKEND = "channels_core.backends.memory.InMemoryBackend"
INBOX = "!django.wsgi.response.tests"


@pytest.fixture
def backend(memory_backend: BaseBackend, settings) -> BaseBackend:
    """The in-memory backend with body channels of two chunks (the site gives them four)."""
    settings.CHANNELS_HTTP_TIMEOUT = 30
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": MEMORY_BACKEND, "CHANNEL_CAPACITY": {"django.wsgi.body.*": 2}}}
    return get_backend()


class BodySends:
    """What happened to the adapter's sends on body channels: one found the channel full, the last chunk went."""

    def __init__(self) -> None:
        self.full = threading.Event()
        self.last_sent = threading.Event()


@pytest.fixture
def body_sends(backend: BaseBackend, monkeypatch: pytest.MonkeyPatch) -> BodySends:
    sends = BodySends()
    send = backend.send

    def noting(channel: str, message: Message) -> None:
        try:
            send(channel, message)
        except ChannelFull:
            sends.full.set()
            raise
        if channel.startswith(BODY_CHANNEL_PREFIX + ".") and not message.get("more_content"):
            sends.last_sent.set()

    monkeypatch.setattr(backend, "send", noting)
    return sends


def body_of(chunks: int) -> io.BytesIO:
    """A body of ``chunks`` whole chunks, each different."""
    return io.BytesIO(b"".join(bytes([n]) * CHUNK_SIZE for n in range(chunks)))


def left_on(backend: BaseBackend, body_channel: str) -> list[Message]:
    """What waits on a body channel (taken off it)."""
    return [message for _, message in backend.receive_many([body_channel], timeout=0, limit=100)]


def answer_without_reading(backend: BaseBackend, request: Message) -> None:
    """What CSRF does to an anonymous POST: take the ticket and answer 403, leaving the body unread."""
    assert backend.receive([request["start_channel"]], timeout=0) is not None
    response = {"status": 403, "headers": [["content-type", "text/plain"]], "content": encode_body(b"refused")}
    backend.send(request["send_channel"], {**response, "more_content": False})


def test_a_full_body_channel_makes_the_adapter_wait_for_room_not_answer_503(
    backend: BaseBackend, body_sends: BodySends
) -> None:
    body = body_of(7)  # the request's chunk, then six on a channel that holds two
    with in_background(lambda: call("/tests/upload/", body)) as answering:
        request = take_request(backend)
        assert body_sends.full.wait(10), "the adapter never found the body channel full"
        http_request(**request)  # only now does a worker read the body
        answer = answering.result()
    assert answer.status == "200 OK", answer.body
    assert f'"length": {len(body.getvalue())}'.encode() in answer.body
    assert left_on(backend, request["body_channel"]) == []


def test_a_body_nobody_started_is_503_at_the_deadline_and_its_chunks_are_taken_back(
    backend: BaseBackend, settings, body_sends: BodySends
) -> None:
    settings.CHANNELS_HTTP_TIMEOUT = 0.5
    answer = call("/tests/upload/", body_of(5))
    assert body_sends.full.is_set()
    assert answer.status == "503 Service Unavailable"
    assert answer.headers["Retry-After"] == "5"
    assert b"nobody read the rest of the request body within 0.5 s; it did not start and never will" in answer.body
    request = take_request(backend)  # still there: a worker coming now drops it
    assert left_on(backend, request["body_channel"]) == [], "no chunk waits for a worker that will never come"


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_a_worker_that_answers_without_reading_the_body_is_heard_and_its_body_taken_back(
    backend: BaseBackend, body_sends: BodySends, length: bool
) -> None:
    body = body_of(20)
    with in_background(lambda: call("/", body, length=length)) as answering:
        request = take_request(backend)
        answer_without_reading(backend, request)
        answer = answering.result()
    assert body_sends.full.is_set()
    assert (answer.status, answer.body) == ("403 Forbidden", b"refused")
    assert body.tell() == len(body.getvalue()), "the rest of the body was read (and dropped) before the answer"
    assert left_on(backend, request["body_channel"]) == []


def test_a_chunked_body_over_the_limit_is_413_even_after_the_worker_answered_and_nothing_is_left(
    backend: BaseBackend, settings
) -> None:
    settings.CHANNELS_MAX_REQUEST_BODY = 10 * CHUNK_SIZE
    with in_background(lambda: call("/", body_of(30), length=False)) as answering:
        request = take_request(backend)
        answer_without_reading(backend, request)
        answer = answering.result()
    assert answer.status == "413 Request Entity Too Large"
    assert f"request body is over the limit of {10 * CHUNK_SIZE} bytes".encode() in answer.body
    assert left_on(backend, request["body_channel"]) == []


def test_a_worker_whose_view_did_not_read_the_body_takes_its_chunks_away(backend: BaseBackend) -> None:
    # As if the adapter had given up already: nobody else would ever take these chunks.
    start_channel, body_channel = new_channel_name("django.wsgi.start"), new_channel_name(BODY_CHANNEL_PREFIX)
    backend.send(start_channel, START_TICKET)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
    }
    request = request_message(environ, new_channel_name(INBOX), b"first", body_channel, start_channel, time.time() + 30)
    for more in (True, False):
        backend.send(body_channel, {"content": encode_body(b"more"), "more_content": more})
    http_request(**request)  # CSRF refuses the anonymous POST without reading its body
    assert [message["status"] for _, message in backend.receive_inbox(INBOX, timeout=0)] == [403]
    assert left_on(backend, body_channel) == []


# The real stack.


def stored_chunk() -> int:
    """Bytes Redis allocates for one body chunk: its JSON, rounded up to the allocator's size class.

    A chunk of 512 KiB is about 683 KiB of JSON (base64 is 4/3 larger). jemalloc,
    Redis's allocator, serves sizes between 512 KiB and 1 MiB in steps of 128 KiB:
    768 KiB.
    """
    encoded = len(
        encode_message("django.wsgi.body.x", {"content": encode_body(bytes(CHUNK_SIZE)), "more_content": True})
    )
    power = 1 << (encoded.bit_length() - 1)
    step = power // 4
    return -(-encoded // step) * step


#: What else a request costs Redis: its keys, their list nodes, its connection's own buffers (about 35 KiB measured).
REQUEST_OVERHEAD = 64 * 1024


def redis_bound(requests: int) -> int:
    """The most the bodies of ``requests`` served at once make Redis hold ("Request bodies" in docs/topics/design.rst).

    Per request: the request message with the first chunk, the window's chunks
    on its body channel, one more chunk in the input buffer of its connection
    (after a large argument, Redis keeps a buffer that size for the next one),
    and :data:`REQUEST_OVERHEAD`. For Redis as a whole, three chunks more: a
    send it is running holds its argument and the copy its script stores at once.
    """
    window = django_settings.CHANNEL_BACKENDS["default"]["CHANNEL_CAPACITY"]["django.wsgi.body.*"]
    chunk = stored_chunk()
    return requests * ((1 + window + 1) * chunk + REQUEST_OVERHEAD) + 3 * chunk


#: Threads of the stack's one gunicorn process: the requests it serves at once.
GUNICORN_THREADS = 16


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    try:
        stack.start_worker(threads=4)
        stack.start_gunicorn(threads=GUNICORN_THREADS)
        yield stack
    finally:
        stack.stop()


def wsgi_keys(stack: Stack, kind: str = "") -> list[bytes]:
    """The keys in the stack's Redis of HTTP's channels (``kind``: e.g. ``body`` for ``django.wsgi.body.*``)."""
    with stack.redis.client() as client:
        return sorted(client.scan_iter(match=f"*django.wsgi.{kind}*"))


def stream(total: int, piece: int = 1024 * 1024) -> Iterator[bytes]:
    """``total`` bytes in pieces, for requests to send chunked (no Content-Length)."""
    for start in range(0, total, piece):
        yield b"x" * min(piece, total - start)


@pytest.mark.slow
def test_a_100_mb_chunked_post_is_413_and_leaves_no_body_in_redis(stack: Stack) -> None:
    response = requests.post(stack.url("/"), data=stream(100 * 1000 * 1000), timeout=60)
    assert response.status_code == 413
    assert "request body is over the limit of 67108864 bytes" in response.text
    assert wsgi_keys(stack) == [], "no chunk, ticket, request or response of it is left in Redis"


class MemorySampler:
    """Polls Redis's ``used_memory`` in a thread of its own and keeps the highest value."""

    def __init__(self, stack: Stack) -> None:
        self.client = stack.redis.client()
        self.peak = self.used()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def used(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def _run(self) -> None:
        while not self._stop.wait(0.002):  # pacing only: a busy loop would take a core from the stack
            self.peak = max(self.peak, self.used())
            self.samples += 1

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join(10)
        self.client.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("worker", "status"),
    [
        # CSRF refuses each (no cookie) without reading its body; the adapter reads the rest and
        # drops it. 50 MB is under the limit (no 413), and a worker starts each in time (no 503).
        (True, 403),
        # The worst case: nobody reads any body, so each request holds all it may until its
        # deadline, and gets 503 (it never started: safe to retry).
        (False, 503),
    ],
    ids=["csrf-refuses", "no-worker"],
)
def test_ten_anonymous_50_mb_posts_keep_redis_within_the_documented_bound(
    tmp_path: Path, worker: bool, status: int
) -> None:
    posts = 10
    body = b"x" * (50 * 1000 * 1000)
    with Stack(tmp_path, CHANNELS_HTTP_TIMEOUT="20" if worker else "3") as stack:
        if worker:
            stack.start_worker(threads=4)
        stack.start_gunicorn(threads=GUNICORN_THREADS)
        with stack.redis.client() as client:
            baseline = int(client.info("memory")["used_memory"])
        with MemorySampler(stack) as sampler, ThreadPoolExecutor(posts) as pool:
            answers = list(pool.map(lambda _: requests.post(stack.url("/"), data=body, timeout=120), range(posts)))
        with stack.redis.client() as client:
            redis_peak = int(client.info("memory")["used_memory_peak"])  # Redis's own, between samples too
        assert [answer.status_code for answer in answers] == [status] * posts
        bound = baseline + redis_bound(min(posts, GUNICORN_THREADS))
        over = (
            f"sampled peak {sampler.peak - baseline} ({sampler.samples} samples), Redis's own {redis_peak - baseline}"
        )
        print(f"over the baseline: {over}; the bound {bound - baseline}")
        assert sampler.samples > posts, "the sampler ran through the uploads"
        assert sampler.peak <= bound, f"Redis grew to {sampler.peak} bytes; the bound is {bound}"
        assert redis_peak <= bound, f"Redis's own peak was {redis_peak} bytes; the bound is {bound}"
        assert wsgi_keys(stack, "body.") == []
