"""The WSGI adapter: HTTP requests in, ``django.wsgi.request`` messages out, responses back.

Run it under any WSGI server (``gunicorn config.wsgi``). Each request gets a
response channel in this process's inbox. The requests waiting for their
responses take turns reading the inbox: one of them reads (one backend round
trip for every request in flight), hands each message to the request it is
for, and passes the turn on once its own has come. So a response mostly
reaches its request without a hand-over between threads.

What a failure answer means ("Request deadlines" in ``docs/topics/design.rst``):

* **503** (with ``Retry-After``): no worker started the request and none ever
  will; retrying is safe, even for a ``POST``. Before the request, the
  adapter puts a start ticket on a channel of its own; a worker runs the
  request only once it has taken the ticket. An adapter that gives up takes
  the ticket back, and the backend hands it to only one of them.
* **504**: a worker started the request (the ticket was gone) but did not
  answer in time; what it did is unknown.

Settings (all optional): ``CHANNELS_HTTP_TIMEOUT`` (seconds from a request's
arrival to its worker's first response message, the upload of its body
included, default 20; it is the request's ``deadline``), ``CHANNELS_RETRY_AFTER``
(seconds for the ``Retry-After`` header of a 503, default 5),
``CHANNELS_MAX_REQUEST_BODY`` (bytes, default 64 MiB; larger requests get 413).
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
from ..exceptions import BackendUnavailable, ChannelFull, ChannelsError, InvalidMessage
from ..http import (
    BODY_CHANNEL_PREFIX,
    CHUNK_SIZE,
    REQUEST_CHANNEL,
    START_CHANNEL_PREFIX,
    START_TICKET,
    abandoned_chunk,
    decode_body,
    encode_body,
    request_message,
)
from ..messages import Message
from ..names import new_channel_name

__all__ = ["REQUEST_CHANNEL", "WsgiAdapter", "http_timeout"]

logger = logging.getLogger("channels_core.wsgi")

StartResponse = Callable[..., Any]


class _Refused(Exception):
    """The request cannot be handed to a worker, or was given up on; answer with ``status`` at once."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _refusal(error: ChannelsError) -> _Refused:
    """The answer for a message that could not be sent: 400 for a bad message, else 503."""
    if isinstance(error, ChannelFull):
        return _Refused(503, f"workers are overloaded: {error}")
    if isinstance(error, InvalidMessage):  # e.g. headers too large for one message
        return _Refused(400, str(error))
    return _Refused(503, str(error))


def http_timeout() -> float:
    """Seconds a request waits for a worker's answer before its 503 or 504 (``CHANNELS_HTTP_TIMEOUT``)."""
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
        """The next message for ``send_channel``, or ``None`` when none came within ``timeout`` seconds.

        Raises:
            _Refused: reading the inbox failed unexpectedly (logged with its traceback).
        """
        mine = self.waiting[send_channel]
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if self._reading.acquire(blocking=False):
                try:
                    return self._read_until_mine(mine, deadline)
                except Exception as error:
                    # A bug, not an outage (the loop rides those out): the waiting request
                    # is answered, and the next one to wait takes over the reading.
                    logger.exception("reading response inbox %s failed", self.inbox)
                    raise _Refused(503, f"reading the responses failed: {error!r}") from error
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


class _Exchange:
    """One request on its way to a worker: its start ticket, its deadline, and what to answer on giving up.

    Args:
        backend: the backend the request goes through.
        send_channel: the request's response channel.
        timeout: seconds from now to the deadline.
    """

    def __init__(self, backend: BaseBackend, send_channel: str, timeout: float) -> None:
        self.backend = backend
        self.send_channel = send_channel
        self.timeout = timeout
        self.start_channel = new_channel_name(START_CHANNEL_PREFIX)
        #: When the adapter stops waiting, for workers (wall clock: they may run on other machines).
        self.deadline = time.time() + timeout
        self._until = time.monotonic() + timeout  # the same moment, for this process's own waits
        #: Where the rest of the body goes, when it does not fit in the request message.
        self.body_channel: str | None = None
        self.body_complete = True
        self._sent = False
        #: Whether the request message is on its channel: ``None`` when its send failed halfway.
        self._stored: bool | None = False

    def remaining(self) -> float:
        """Seconds left until the deadline."""
        return self._until - time.monotonic()

    def send_request(self, message: Message) -> None:
        """Send the start ticket, then the request: one round trip when both are on one backend server.

        The ticket goes first, so no worker can find the request before its ticket.

        Raises:
            _Refused: either could not be sent.
        """
        self._sent = True
        ticket, request = self.backend.send_many([(self.start_channel, START_TICKET), (REQUEST_CHANNEL, message)])
        # A send the backend refused stored nothing; one that failed on the way may have stored it.
        self._stored = None if isinstance(request, BackendUnavailable) else request is None
        for error in (ticket, request):
            if error is not None:
                raise _refusal(error)

    def send_chunk(self, message: Message) -> None:
        """Send one more chunk of the body on :attr:`body_channel`."""
        assert self.body_channel is not None
        try:
            self.backend.send(self.body_channel, message)
        except ChannelsError as error:
            raise _refusal(error) from error

    def settle(self, refused: _Refused) -> _Refused:
        """The answer for a request given up on: ``refused`` if no worker started it or ever will, else a 504.

        The adapter takes the start ticket back. Holding it proves that no
        worker started the request, nor can any. A ticket already gone means a
        worker took it: the request runs, or ran, and its outcome is unknown.
        """
        if not self._sent:
            return refused
        if self._stored is False:  # no worker can find the request; the ticket is tidied away
            self._take_back()
            return refused
        started = self._take_back()
        if started is None:
            # The backend cannot say. A send that failed halfway almost surely stored nothing
            # ("Request deadlines" in docs/topics/design.rst); a stored request may have started.
            started = self._stored is True
        if not started:
            return refused
        self._abandon_body(refused)
        if refused.status != 503:
            return refused  # e.g. 413: the body was too large whoever started it
        return _Refused(504, f"a worker started the request, but {refused}; its outcome is unknown")

    def _take_back(self) -> bool | None:
        """Take the start ticket back: ``False`` if it was there (nothing started), ``True`` if a worker took it.

        ``None`` when the backend cannot be asked.
        """
        try:
            return self.backend.receive([self.start_channel], timeout=0) is None
        except BackendUnavailable as error:
            logger.warning("could not take back start ticket %s: %s", self.start_channel, error)
            return None

    def _abandon_body(self, refused: _Refused) -> None:
        """Tell the worker that started the request that the rest of its body will not come."""
        if self.body_channel is None or self.body_complete:
            return
        try:
            self.backend.send(self.body_channel, abandoned_chunk(str(refused)))
        except ChannelsError as error:  # the worker's reader then gives up at the deadline
            logger.warning("could not mark the body on %s abandoned: %s", self.body_channel, error)


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
        exchange = _Exchange(dispatcher.backend, send_channel, self.timeout)
        try:
            self._send_request(exchange, environ)
            first = self._first_response(dispatcher, exchange)
        except _Refused as refused:
            dispatcher.waiting.pop(send_channel, None)
            return self._refuse(environ, start_response, exchange.settle(refused))
        except BaseException:
            dispatcher.waiting.pop(send_channel, None)
            raise
        status = int(first["status"])
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
        start_response(f"{status} {phrase}", [(name, value) for name, value in first.get("headers", [])])
        return self._content(dispatcher, send_channel, first, environ)

    def _send_request(self, exchange: _Exchange, environ: dict[str, Any]) -> None:
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
        if following is not None:
            exchange.body_channel = new_channel_name(BODY_CHANNEL_PREFIX)
            exchange.body_complete = False
        exchange.send_request(
            request_message(
                environ, exchange.send_channel, first, exchange.body_channel, exchange.start_channel, exchange.deadline
            )
        )
        sent = len(first)
        while following is not None:
            chunk, following = following, next(chunks, None)
            sent += len(chunk)
            if sent > limit:
                raise _Refused(413, f"request body is over the limit of {limit} bytes")
            if exchange.remaining() <= 0:
                raise _Refused(503, f"the request body was still arriving after {exchange.timeout:g} s")
            exchange.send_chunk({"content": encode_body(chunk), "more_content": following is not None})
        exchange.body_complete = True

    def _first_response(self, dispatcher: _Dispatcher, exchange: _Exchange) -> Message:
        """The worker's first response message, which must come before the request's deadline."""
        message = dispatcher.next(exchange.send_channel, exchange.remaining())
        if message is None:
            raise _Refused(503, f"no worker answered within {exchange.timeout:g} s")
        return message

    def _content(
        self,
        dispatcher: _Dispatcher,
        send_channel: str,
        message: Message,
        environ: dict[str, Any],
    ) -> Iterator[bytes]:
        """The body, chunk by chunk as the worker sends it; each chunk may take up to the timeout."""
        try:
            while True:
                content = decode_body(message.get("content", ""))
                if content:
                    yield content
                if not message.get("more_content"):
                    return
                try:
                    following = dispatcher.next(send_channel, self.timeout)
                except _Refused as refused:
                    following, reason = None, str(refused)
                else:
                    reason = f"the rest of the response did not come within {self.timeout:g} s"
                if following is None:
                    logger.error("%s %s: %s; response cut short", environ["REQUEST_METHOD"], _path(environ), reason)
                    return
                message = following
        finally:
            dispatcher.waiting.pop(send_channel, None)

    def _refuse(self, environ: dict[str, Any], start_response: StartResponse, refused: _Refused) -> list[bytes]:
        """Answer with ``refused``'s status: a 503 always with ``Retry-After``, since it is safe to retry."""
        level = logging.WARNING if refused.status >= 500 else logging.INFO
        logger.log(level, "%s %s: answering %d: %s", environ["REQUEST_METHOD"], _path(environ), refused.status, refused)
        safe = "; it did not start and never will, so it is safe to retry" if refused.status == 503 else ""
        body = f"{HTTPStatus(refused.status).phrase}: {refused}{safe}\n".encode()
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        if refused.status == 503:
            headers.append(("Retry-After", str(getattr(settings, "CHANNELS_RETRY_AFTER", 5))))
        start_response(f"{refused.status} {HTTPStatus(refused.status).phrase}", headers)
        return [body]


def _read_chunks(stream: Any, declared: int) -> Iterator[bytes]:
    """The request body in :data:`CHUNK_SIZE` pieces (reading to the end when no length is declared).

    Raises:
        _Refused: 400 when the client stops sending before its ``Content-Length``
            (it is gone: the body must not reach a view as if whole).
    """
    remaining = declared if declared else None
    while remaining is None or remaining > 0:
        try:
            chunk = stream.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
        except OSError as error:
            raise _Refused(400, f"reading the request body failed: {error}") from error
        if not chunk:
            if remaining is not None:
                raise _Refused(400, f"the request body ended after {declared - remaining} of {declared} bytes")
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _path(environ: dict[str, Any]) -> str:
    return str(environ.get("PATH_INFO", "/"))
