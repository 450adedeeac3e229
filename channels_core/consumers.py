"""The consumer that runs Django itself: a view is just another consumer.

Each ``django.wsgi.request`` message becomes a WSGI environ; Django's own
WSGI handler runs it through the project's middleware and URLs, exactly as
under any WSGI server; the response goes back as messages on the request's
``send_channel``.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from functools import cache
from typing import Any

from django.core.handlers.wsgi import WSGIHandler

from .backends import get_backend
from .decorators import consumer
from .exceptions import ChannelFull
from .http import CHUNK_SIZE, BodyReader, decode_body, environ_from_request, response_messages
from .messages import Message

__all__ = ["http_request"]

logger = logging.getLogger("channels_core.http")

#: Seconds to wait for the next chunk of a request body, or for room to send a response chunk.
TRANSFER_TIMEOUT = 30.0


@cache
def _django() -> WSGIHandler:
    """Django's WSGI handler, built once per process (it loads the middleware)."""
    return WSGIHandler()


def _body_chunks(body_channel: str | None) -> Iterator[bytes]:
    """The rest of a request body, chunk by chunk, as the interface server sends it."""
    if body_channel is None:
        return
    backend = get_backend()
    while True:
        received = backend.receive([body_channel], timeout=TRANSFER_TIMEOUT)
        if received is None:
            raise OSError(f"request body incomplete: no chunk on {body_channel!r} for {TRANSFER_TIMEOUT} s")
        chunk = received[1]
        yield decode_body(chunk["content"])
        if not chunk.get("more_content"):
            return


def _send_waiting_for_room(channel: str, message: Message) -> None:
    """Send, waiting while the channel is full: a big response must not fail because it is big."""
    deadline = time.monotonic() + TRANSFER_TIMEOUT
    pause = 0.01
    while True:
        try:
            get_backend().send(channel, message)
            return
        except ChannelFull:
            if time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


@consumer("django.wsgi.request")
def http_request(send_channel: str, body: str, body_channel: str | None = None, **request: Any) -> None:
    """Run Django for one HTTP request and send the response back in pieces."""
    stream = io.BufferedReader(BodyReader(decode_body(body), _body_chunks(body_channel)), CHUNK_SIZE)
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
