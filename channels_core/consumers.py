"""The consumer that runs Django itself: a view is just another consumer.

Each ``django.wsgi.request`` message becomes a WSGI environ; Django's own
WSGI handler runs it through the project's middleware and URLs, exactly as
under any WSGI server; the response goes back as messages on the request's
``send_channel``.

Before it runs Django, the consumer makes sure the request may still start
("Request deadlines" in ``docs/topics/design.rst``): not past its
``deadline``, and only with its start ticket taken from ``start_channel``.
A request that fails either check was (or will be) answered by the adapter
without it; running it would make a 503 a lie, so it is dropped and logged.
"""

from __future__ import annotations

import inspect
import io
import logging
import time
from collections.abc import Generator
from functools import cache
from typing import Any

from django.core.handlers.wsgi import WSGIHandler

from . import metrics
from .backends import BaseBackend, get_backend
from .context import current_alias
from .decorators import consumer
from .exceptions import BackendUnavailable, ChannelFull
from .http import (
    CHUNK_SIZE,
    REQUEST_CHANNEL,
    BodyReader,
    decode_body,
    environ_from_request,
    response_messages,
)
from .messages import Message

__all__ = ["http_request"]

logger = logging.getLogger("channels_core.http")

#: Seconds to wait for the next chunk of a request body, or for room to send a response chunk.
TRANSFER_TIMEOUT = 30.0
#: Seconds past a request's deadline to wait for a body chunk: the adapter sends none after its
#: deadline, but one sent just before it may still be on its way (or the clocks differ a little).
DEADLINE_GRACE = 1.0
#: Chunks taken off a body channel per round trip when a view left them unread.
DROP_BATCH = 8


def _backend() -> BaseBackend:
    """The backend the request came through: its ticket, body and response are all there."""
    return get_backend(current_alias())


@cache
def _django() -> WSGIHandler:
    """Django's WSGI handler, built once per process (it loads the middleware)."""
    return WSGIHandler()


def _body_chunks(body_channel: str | None, deadline: float | None) -> Generator[bytes]:
    """The rest of a request body, chunk by chunk, as the interface server sends it.

    Raises:
        OSError: the body will not be complete: the adapter abandoned it, or no
            chunk came in time (Django turns it into ``UnreadablePostError``, so
            a view never takes a truncated body for the whole one).
    """
    if body_channel is None:
        return
    backend = _backend()
    while True:
        wait = _chunk_wait(deadline)
        received = backend.receive([body_channel], timeout=wait)
        if received is None:
            raise OSError(f"request body incomplete: no chunk on {body_channel!r} for {wait:.1f} s")
        chunk = received[1]
        if "abandoned" in chunk:
            raise OSError(f"request body incomplete: the interface server abandoned it ({chunk['abandoned']})")
        yield decode_body(chunk["content"])
        if not chunk.get("more_content"):
            return


def _drop_unread(body_channel: str | None, chunks: Generator[bytes]) -> None:
    """Once the view is done, take off ``body_channel`` the chunks it did not read: nobody else will.

    The adapter sends a few chunks at a time, each once there is room ("Request
    bodies" in ``docs/topics/design.rst``), so a view that stops reading stops
    the upload, and the adapter takes back what it sent once it sees the
    response. This covers an adapter that gave up on the request already.
    """
    if body_channel is None or inspect.getgeneratorstate(chunks) == inspect.GEN_CLOSED:
        return  # read to its end, or to its abandoned chunk
    try:
        while len(_backend().receive_many([body_channel], timeout=0, limit=DROP_BATCH)) == DROP_BATCH:
            pass
    except BackendUnavailable as error:  # the chunks expire on their own
        logger.info("could not drop the unread request body on %s: %s", body_channel, error)


def _chunk_wait(deadline: float | None) -> float:
    """How long to wait for the next body chunk: the adapter sends none after the request's deadline."""
    if deadline is None:
        return TRANSFER_TIMEOUT
    return min(TRANSFER_TIMEOUT, max(0.0, deadline - time.time()) + DEADLINE_GRACE)


def _may_start(request: Message, start_channel: str | None, deadline: float | None) -> bool:
    """Whether this worker may run the request: before its deadline, and holding its start ticket.

    The deadline is checked first because it is free: past it, the adapter has
    stopped waiting (or died), and the ticket is left for the adapter to take
    back (so it can answer an honest 503). Taking the ticket is one
    non-blocking receive; the backend hands it to exactly one taker, so either
    this worker runs the request or the adapter has answered without it.
    A message without these keys (from an older adapter) is run as before.
    """
    what = f"{request.get('method')} {request.get('path')}"
    if deadline is not None and (late := time.time() - deadline) > 0:
        metrics.dropped(
            metrics.DEADLINE,
            REQUEST_CHANNEL,
            detail=f"{what} dropped, not started: its deadline passed {late:.1f} s ago",
        )
        return False
    if start_channel is None:
        return True
    try:
        ticket = _backend().receive([start_channel], timeout=0)
    except BackendUnavailable as error:
        logger.warning("%s dropped, not started: could not take its start ticket: %s", what, error)
        return False
    if ticket is None:
        gone = f"its start ticket on {start_channel} is gone (the interface server answered without it)"
        metrics.dropped(metrics.DEADLINE, REQUEST_CHANNEL, detail=f"{what} dropped, not started: {gone}")
        return False
    return True


def _send_waiting_for_room(channel: str, message: Message) -> None:
    """Send, waiting while the channel is full: a big response must not fail because it is big."""
    deadline = time.monotonic() + TRANSFER_TIMEOUT
    pause = 0.01
    while True:
        try:
            _backend().send(channel, message)
            return
        except ChannelFull:
            if time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


@consumer(REQUEST_CHANNEL)
def http_request(
    send_channel: str,
    body: str,
    body_channel: str | None = None,
    start_channel: str | None = None,
    deadline: float | None = None,
    **request: Any,
) -> None:
    """Run Django for one HTTP request and send the response back in pieces, unless it may not start."""
    if not _may_start(request, start_channel, deadline):
        return
    chunks = _body_chunks(body_channel, deadline)
    stream = io.BufferedReader(BodyReader(decode_body(body), chunks), CHUNK_SIZE)
    environ = environ_from_request(request, stream)
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [int(status.split(" ", 1)[0]), headers]
        return None

    result = _django()(environ, start_response)
    try:
        streaming = bool(getattr(result, "streaming", False))
        for message in response_messages(started[0], started[1], result, streaming):
            _send_waiting_for_room(send_channel, message)
    finally:
        # Closing the response sends request_finished (closing database connections).
        result.close()
        _drop_unread(body_channel, chunks)
