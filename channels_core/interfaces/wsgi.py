"""The WSGI adapter: HTTP requests in, ``django.wsgi.request`` messages out, responses back.

Run it under any WSGI server (``gunicorn config.wsgi``). Each request gets a
response channel in this process's inbox. The requests waiting for their
responses take turns reading the inbox: one of them reads (one backend round
trip for every request in flight), hands each message to the request it is
for, and passes the turn on once its own has come. So a response mostly
reaches its request without a hand-over between threads.

Settings (all optional): ``CHANNELS_HTTP_TIMEOUT`` (seconds to wait for a
worker's answer, default 20), ``CHANNELS_RETRY_AFTER`` (seconds for the
``Retry-After`` header of a 503, default 5), ``CHANNELS_MAX_REQUEST_BODY``
(bytes, default 64 MiB; larger requests get 413).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

from django.conf import settings

from .. import defaults
from ..backends import BaseBackend, get_backend
from ..backoff import Backoff
from ..exceptions import BackendUnavailable, ChannelFull, InvalidMessage
from ..http import CHUNK_SIZE, decode_body, encode_body, request_message
from ..messages import Message
from ..names import new_channel_name

__all__ = ["WsgiAdapter"]

logger = logging.getLogger("channels_core.wsgi")

StartResponse = Callable[..., Any]
REQUEST_CHANNEL = "django.wsgi.request"


class _Refused(Exception):
    """The request cannot be handed to a worker; answer with ``status`` at once."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def http_timeout() -> float:
    """Seconds a request waits for a worker's answer before its 503 (``CHANNELS_HTTP_TIMEOUT``)."""
    return float(getattr(settings, "CHANNELS_HTTP_TIMEOUT", defaults.HTTP_TIMEOUT))


#: Longest a waiting request goes without checking that some request reads the inbox.
HAND_OVER_WAIT = 0.05


class _Dispatcher:
    """Routes this process's response messages to the requests waiting for them.

    There is no reading thread. A waiting request that finds nobody reading
    the inbox reads it itself, routes what comes to the others, and stops
    once its own message has come; it then nudges another waiting request to
    take over. A nudge can miss (its request just finished), so every waiting
    request also checks for a missing reader every :data:`HAND_OVER_WAIT` seconds.
    """

    def __init__(self, backend: BaseBackend) -> None:
        self.backend = backend
        self.inbox = new_channel_name("!django.wsgi.response")
        #: Each waiting request's queue of messages; ``None`` in it is a nudge.
        self.waiting: dict[str, queue.SimpleQueue[Message | None]] = {}
        self._reading = threading.Lock()
        self._backoff = Backoff(logger)

    def next(self, send_channel: str, timeout: float) -> Message | None:
        """The next message for ``send_channel``, or ``None`` when none came within ``timeout`` seconds."""
        mine = self.waiting[send_channel]
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if self._reading.acquire(blocking=False):
                try:
                    return self._read_until_mine(mine, deadline)
                finally:
                    self._reading.release()
                    self._nudge_another(send_channel)
            try:
                message = mine.get(timeout=min(remaining, HAND_OVER_WAIT))
            except queue.Empty:
                continue
            if message is not None:
                return message
        return None

    def _read_until_mine(self, mine: queue.SimpleQueue[Message | None], deadline: float) -> Message | None:
        """Read the inbox for everybody until a message for ``mine`` comes, or the deadline passes."""
        while True:
            while not mine.empty():
                if (message := mine.get()) is not None:  # None: a nudge, and this request reads already
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                batch = self.backend.receive_inbox(self.inbox, timeout=min(remaining, defaults.RECEIVE_TIMEOUT))
            except BackendUnavailable as error:
                self._backoff.failed(error)
                continue
            self._backoff.succeeded()
            for channel, message in batch:
                waiter = self.waiting.get(channel)
                if waiter is None:
                    logger.debug("response for %s came after its request gave up; dropped", channel)
                else:
                    waiter.put(message)

    def _nudge_another(self, send_channel: str) -> None:
        """Wake one other waiting request, so the inbox does not go unread while it waits."""
        for channel, waiter in list(self.waiting.items()):
            if channel != send_channel:
                waiter.put(None)
                return


class WsgiAdapter:
    """A WSGI application that serves every request through channels."""

    def __init__(self, alias: str = defaults.DEFAULT_ALIAS) -> None:
        self.alias = alias
        self._dispatcher: _Dispatcher | None = None
        self._dispatcher_pid = 0
        self._lock = threading.Lock()

    @property
    def timeout(self) -> float:
        return http_timeout()

    def dispatcher(self) -> _Dispatcher:
        """This process's dispatcher, started on first use (after a WSGI server forks its workers)."""
        with self._lock:
            if self._dispatcher is None or self._dispatcher_pid != os.getpid():
                self._dispatcher = _Dispatcher(get_backend(self.alias))
                self._dispatcher_pid = os.getpid()
            return self._dispatcher

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        dispatcher = self.dispatcher()
        send_channel = new_channel_name(dispatcher.inbox)
        dispatcher.waiting[send_channel] = queue.SimpleQueue()
        try:
            self._send_request(dispatcher.backend, environ, send_channel)
            first = self._next(dispatcher, send_channel, "no worker answered")
        except _Refused as refused:
            dispatcher.waiting.pop(send_channel, None)
            return self._refuse(environ, start_response, refused)
        except BaseException:
            dispatcher.waiting.pop(send_channel, None)
            raise
        status = int(first["status"])
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
        start_response(f"{status} {phrase}", [(name, value) for name, value in first.get("headers", [])])
        return self._content(dispatcher, send_channel, first, environ)

    def _send_request(self, backend: BaseBackend, environ: dict[str, Any], send_channel: str) -> None:
        """Send the request message, then the rest of its body in chunks on a channel of its own."""
        limit = int(getattr(settings, "CHANNELS_MAX_REQUEST_BODY", 64 * 1024 * 1024))
        try:
            declared = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise _Refused(400, "invalid Content-Length") from None
        if declared > limit:
            raise _Refused(413, f"request body of {declared} bytes is over the limit of {limit}")
        chunks = _read_chunks(environ["wsgi.input"], declared)
        first = next(chunks, b"")
        following = next(chunks, None)
        body_channel = new_channel_name("django.wsgi.body") if following is not None else None
        self._send(backend, REQUEST_CHANNEL, request_message(environ, send_channel, first, body_channel))
        sent = len(first)
        while following is not None and body_channel is not None:
            chunk, following = following, next(chunks, None)
            sent += len(chunk)
            if sent > limit:
                raise _Refused(413, f"request body is over the limit of {limit} bytes")
            self._send(backend, body_channel, {"content": encode_body(chunk), "more_content": following is not None})

    def _send(self, backend: BaseBackend, channel: str, message: Message) -> None:
        try:
            backend.send(channel, message)
        except ChannelFull as error:
            raise _Refused(503, f"workers are overloaded: {error}") from error
        except BackendUnavailable as error:
            raise _Refused(503, str(error)) from error
        except InvalidMessage as error:  # e.g. headers too large for one message
            raise _Refused(400, str(error)) from error

    def _next(self, dispatcher: _Dispatcher, send_channel: str, what: str) -> Message:
        message = dispatcher.next(send_channel, self.timeout)
        if message is None:
            raise _Refused(503, f"{what} within {self.timeout:g} s")
        return message

    def _content(
        self,
        dispatcher: _Dispatcher,
        send_channel: str,
        message: Message,
        environ: dict[str, Any],
    ) -> Iterator[bytes]:
        """The body, chunk by chunk as the worker sends it."""
        try:
            while True:
                content = decode_body(message.get("content", ""))
                if content:
                    yield content
                if not message.get("more_content"):
                    return
                try:
                    message = self._next(dispatcher, send_channel, "the rest of the response did not come")
                except _Refused as refused:
                    logger.error("%s %s: %s; response cut short", environ["REQUEST_METHOD"], _path(environ), refused)
                    return
        finally:
            dispatcher.waiting.pop(send_channel, None)

    def _refuse(self, environ: dict[str, Any], start_response: StartResponse, refused: _Refused) -> list[bytes]:
        retry_after = str(getattr(settings, "CHANNELS_RETRY_AFTER", 5))
        level = logging.WARNING if refused.status == 503 else logging.INFO
        logger.log(level, "%s %s: answering %d: %s", environ["REQUEST_METHOD"], _path(environ), refused.status, refused)
        body = f"{HTTPStatus(refused.status).phrase}: {refused}\n".encode()
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        if refused.status == 503:
            headers.append(("Retry-After", retry_after))
        start_response(f"{refused.status} {HTTPStatus(refused.status).phrase}", headers)
        return [body]


def _read_chunks(stream: Any, declared: int) -> Iterator[bytes]:
    """The request body in :data:`CHUNK_SIZE` pieces (reading to the end when no length is declared)."""
    remaining = declared if declared else None
    while remaining is None or remaining > 0:
        chunk = stream.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _path(environ: dict[str, Any]) -> str:
    return str(environ.get("PATH_INFO", "/"))
