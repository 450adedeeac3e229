"""The WSGI adapter: HTTP requests in, ``django.wsgi.request`` messages out, responses back.

Run it under any WSGI server (``gunicorn config.wsgi``). Each request gets a
response channel in this process's inbox. The requests waiting for their
responses take turns reading the inbox: one of them reads (one backend round
trip for every request in flight), hands each message to the request it is
for, and passes the turn on once its own has come. So a response mostly
reaches its request without a hand-over between threads.

A 503 (always with ``Retry-After``) means that no worker started the
request and none ever will, so retrying is safe; a 504, that a worker started
it and did not answer in time (``channels_core.interfaces.handover``).

Settings (all optional): ``CHANNELS_HTTP_TIMEOUT`` (seconds from a request's
arrival to its worker's first response message, the upload of its body
included, default 20; it is the request's ``deadline``), ``CHANNELS_RETRY_AFTER``
(seconds for the ``Retry-After`` header of a 503, default 5),
``CHANNELS_MAX_REQUEST_BODY`` (bytes, default 64 MiB; larger requests get 413).

A body larger than one message goes to the worker in chunks, a few at a time
(the capacity of ``django.wsgi.body.*``): the adapter reads at most one chunk
ahead of what it has sent, so a body never waits whole in the backend, and
any chunk still waiting when the adapter is done with the request is taken
back ("Request bodies" in ``docs/topics/design.rst``).
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

from .. import defaults, metrics
from ..backends import BaseBackend, get_backend
from ..backoff import Backoff
from ..conf import http_timeout, max_request_body, retry_after
from ..exceptions import BackendUnavailable
from ..http import CHUNK_SIZE, decode_body, encode_body, request_message
from ..messages import Message
from ..names import new_channel_name
from ..protocol import BODY_CHANNEL_PREFIX, REQUEST_CHANNEL, RESPONSE_INBOX_PREFIX
from .handover import Handover, Refused
from .metrics_page import is_metrics_request, metrics_page

__all__ = ["REQUEST_CHANNEL", "WsgiAdapter", "http_timeout"]

logger = logging.getLogger("channels_core.wsgi")

StartResponse = Callable[..., Any]


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
        self.inbox = new_channel_name(RESPONSE_INBOX_PREFIX)
        #: Each waiting request's queue of messages; ``None`` in it is a nudge.
        self.waiting: dict[str, queue.SimpleQueue[Message | None]] = {}
        self._reading = threading.Lock()
        self._backoff = Backoff(logger)
        #: Where the requests report a send or take-back the backend failed, and the next success:
        #: an outage is logged once for all of them (it shares its logger with the inbox reader's).
        self.outage = Backoff.reporting_only(logger)

    def next(self, send_channel: str, timeout: float) -> Message | None:
        """The next message for ``send_channel``, or ``None`` when none came within ``timeout`` seconds.

        Raises:
            Refused: reading the inbox failed unexpectedly (logged with its traceback).
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
                    raise Refused(503, f"reading the responses failed: {error!r}") from error
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
        if is_metrics_request(environ):  # answered here, with this process's metrics, or 404
            return metrics_page(environ, start_response)
        dispatcher = self.dispatcher()
        send_channel = new_channel_name(dispatcher.inbox)
        dispatcher.waiting[send_channel] = queue.SimpleQueue()
        handover = Handover(dispatcher.backend, dispatcher.outage, send_channel, self.timeout)
        try:
            first = self._send_request(dispatcher, handover, environ)
            if first is None:
                first = self._first_response(dispatcher, handover)
        except Refused as refused:
            dispatcher.waiting.pop(send_channel, None)
            return self._refuse(environ, start_response, handover.settle(refused))
        except BaseException:
            dispatcher.waiting.pop(send_channel, None)
            handover.drop_body()
            raise
        status = int(first["status"])
        metrics.http_response(status)
        phrase = _phrase(status)
        start_response(f"{status} {phrase}", [(name, value) for name, value in first.get("headers", [])])
        return self._content(dispatcher, handover, first, environ)

    def _send_request(self, dispatcher: _Dispatcher, handover: Handover, environ: dict[str, Any]) -> Message | None:
        """Send the request message, then the rest of its body in chunks on a channel of its own.

        Returns:
            The worker's first response message if it came before the whole
            body was sent (the view answered without reading it all), else ``None``.

        Raises:
            Refused: the request cannot be handed over, or was given up on
                (413 as soon as more than ``CHANNELS_MAX_REQUEST_BODY`` bytes were read).
        """
        limit = max_request_body()
        try:
            declared = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise Refused(400, "invalid Content-Length") from None
        if declared > limit:
            raise Refused(413, f"request body of {declared} bytes is over the limit of {limit}")
        chunks = _read_chunks(environ["wsgi.input"], declared)
        first = next(chunks, b"")
        following = next(chunks, None)
        if following is not None:
            handover.body_channel = new_channel_name(BODY_CHANNEL_PREFIX)
            handover.body_unfinished = True
        handover.send_request(
            request_message(
                environ, handover.send_channel, first, handover.body_channel, handover.start_channel, handover.deadline
            )
        )
        if following is None:
            return None
        rest = _with_last(itertools.chain([following], chunks))
        return self._send_body(dispatcher, handover, rest, len(first), limit)

    def _send_body(
        self, dispatcher: _Dispatcher, handover: Handover, chunks: Iterator[tuple[bytes, bool]], sent: int, limit: int
    ) -> Message | None:
        """Send the body's other chunks as the worker takes them; the worker's answer if it came first.

        A worker that answers without reading the whole body (a CSRF refusal,
        say) stops taking chunks, so the body channel stays full: while it
        waits for room the adapter looks for that answer. Once it has come, the
        chunks waiting are taken back and the rest of the body is read and
        dropped, so that a body over the limit still gets its 413 and the
        client has sent everything before it reads the answer.
        """
        answered: list[Message] = []

        def wait(seconds: float) -> bool:
            if (message := dispatcher.next(handover.send_channel, seconds)) is not None:
                answered.append(message)
            return bool(answered)

        for chunk, last in chunks:
            sent += len(chunk)
            if sent > limit:
                raise Refused(413, f"request body is over the limit of {limit} bytes")
            if handover.remaining() <= 0:
                if answered:
                    break  # the client may send the rest to the WSGI server
                raise Refused(503, f"the request body was still arriving after {handover.timeout:g} s")
            if answered:
                continue
            if not handover.send_chunk({"content": encode_body(chunk), "more_content": not last}, wait):
                more = answered[0].get("more_content")  # the view may still run, and read (a streaming response)
                handover.drop_body("the view answered before the whole body came" if more else None)
        return answered[0] if answered else None

    def _first_response(self, dispatcher: _Dispatcher, handover: Handover) -> Message:
        """The worker's first response message, which must come before the request's deadline."""
        message = dispatcher.next(handover.send_channel, handover.remaining())
        if message is None:
            raise Refused(503, f"no worker answered within {handover.timeout:g} s")
        return message

    def _content(
        self,
        dispatcher: _Dispatcher,
        handover: Handover,
        message: Message,
        environ: dict[str, Any],
    ) -> Iterator[bytes]:
        """The body, chunk by chunk as the worker sends it; each chunk may take up to the timeout.

        Once the response is over, nobody reads the request's body channel:
        any chunk the view did not read is taken back.
        """
        try:
            while True:
                content = decode_body(message.get("content", ""))
                if content:
                    yield content
                if not message.get("more_content"):
                    return
                try:
                    following = dispatcher.next(handover.send_channel, self.timeout)
                except Refused as refused:
                    following, reason = None, str(refused)
                else:
                    reason = f"the rest of the response did not come within {self.timeout:g} s"
                if following is None:
                    logger.error("%s %s: %s; response cut short", environ["REQUEST_METHOD"], _path(environ), reason)
                    return
                message = following
        finally:
            dispatcher.waiting.pop(handover.send_channel, None)
            handover.drop_body()

    def _refuse(self, environ: dict[str, Any], start_response: StartResponse, refused: Refused) -> list[bytes]:
        """Answer with ``refused``'s status: a 503 always with ``Retry-After``, since it is safe to retry."""
        metrics.http_response(refused.status)
        level = logging.WARNING if refused.status >= 500 and not refused.outage else logging.INFO
        logger.log(level, "%s %s: answering %d: %s", environ["REQUEST_METHOD"], _path(environ), refused.status, refused)
        safe = "; it did not start and never will, so it is safe to retry" if refused.status == 503 else ""
        body = f"{HTTPStatus(refused.status).phrase}: {refused}{safe}\n".encode()
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        if refused.status == 503:
            headers.append(("Retry-After", str(retry_after())))
        start_response(f"{refused.status} {HTTPStatus(refused.status).phrase}", headers)
        return [body]


def _read_chunks(stream: Any, declared: int) -> Iterator[bytes]:
    """The request body in :data:`CHUNK_SIZE` pieces (reading to the end when no length is declared).

    Raises:
        Refused: 400 when the client stops sending before its ``Content-Length``
            (it is gone: the body must not reach a view as if whole).
    """
    remaining = declared if declared else None
    while remaining is None or remaining > 0:
        try:
            chunk = stream.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
        except OSError as error:
            raise Refused(400, f"reading the request body failed: {error}") from error
        if not chunk:
            if remaining is not None:
                raise Refused(400, f"the request body ended after {declared - remaining} of {declared} bytes")
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _with_last(chunks: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Each chunk with whether it is the last one (looking one chunk ahead)."""
    current = next(chunks, None)
    while current is not None:
        following = next(chunks, None)
        yield current, following is None
        current = following


def _phrase(status: int) -> str:
    """The reason phrase of a status code, or ``"Unknown"`` for one HTTP does not name (a view may use any)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _path(environ: dict[str, Any]) -> str:
    return str(environ.get("PATH_INFO", "/"))
