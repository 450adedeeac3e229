"""HTTP as messages, and back: the pure encoding layer (no sockets, no backend).

The WSGI adapter turns a request into a ``django.wsgi.request`` message; a
worker turns that message back into a WSGI environ for Django, and Django's
response into messages on the request's response channel (DESIGN.md §4)::

    request:  send_channel, method, scheme, path, query_string, headers,
              body (base64), body_channel (when more chunks follow), client, server,
              start_channel, deadline
    chunk:    content (base64), more_content, abandoned (only on a body given up)
    response: status, headers, content (base64), more_content

Bodies travel in chunks of :data:`CHUNK_SIZE` bytes so that every message,
base64 and all, stays under the 1 MiB limit.

``start_channel`` and ``deadline`` make a 503 tell the truth ("Request
deadlines" in ``docs/topics/design.rst``): the adapter puts one
:data:`START_TICKET` on ``start_channel`` before the request, and a worker
runs the request only if it takes that ticket, before ``deadline``; an
adapter that gives up takes the ticket back, so exactly one of the two gets it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Iterator
from typing import IO, Any

from .messages import Message
from .protocol import BODY_CHANNEL_PREFIX, REQUEST_CHANNEL, START_CHANNEL_PREFIX  # also importable from here

__all__ = [
    "BODY_CHANNEL_PREFIX",
    "CHUNK_SIZE",
    "REQUEST_CHANNEL",
    "START_CHANNEL_PREFIX",
    "START_TICKET",
    "BodyReader",
    "abandoned_chunk",
    "decode_body",
    "encode_body",
    "environ_from_request",
    "request_message",
    "response_messages",
]

#: The message on ``start_channel``: what matters is who takes it, not what it holds.
START_TICKET: Message = {}

#: Raw bytes per body message: base64 makes it 4/3 larger, leaving room for the other keys.
CHUNK_SIZE = 512 * 1024

# WSGI keys that are headers without the HTTP_ prefix.
_UNPREFIXED = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


def encode_body(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_body(text: str) -> bytes:
    return base64.b64decode(text)


def _wsgi_text(environ: dict[str, Any], key: str, default: str = "") -> str:
    """A WSGI environ string (latin-1 by PEP 3333) as the text it really is (UTF-8)."""
    return str(environ.get(key, default)).encode("latin-1").decode("utf-8", "replace")


def request_message(
    environ: dict[str, Any],
    send_channel: str,
    body: bytes,
    body_channel: str | None = None,
    start_channel: str | None = None,
    deadline: float | None = None,
) -> Message:
    """The ``django.wsgi.request`` message for a WSGI request whose body starts with ``body``.

    Args:
        start_channel: where the request's :data:`START_TICKET` waits for the worker that runs it.
        deadline: when the adapter stops waiting, in seconds since the epoch
            (a wall clock, since the worker may run on another machine).
    """
    headers = [
        [_UNPREFIXED.get(key) or key[5:].replace("_", "-").lower(), _wsgi_text(environ, key)]
        for key in environ
        if key.startswith("HTTP_") or (key in _UNPREFIXED and environ[key])
    ]
    message: Message = {
        "send_channel": send_channel,
        "method": environ["REQUEST_METHOD"],
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": _wsgi_text(environ, "SCRIPT_NAME") + _wsgi_text(environ, "PATH_INFO", "/"),
        "query_string": _wsgi_text(environ, "QUERY_STRING"),
        "headers": headers,
        "body": encode_body(body),
        "client": [environ.get("REMOTE_ADDR", ""), int(environ.get("REMOTE_PORT") or 0)],
        "server": [environ.get("SERVER_NAME", ""), int(environ.get("SERVER_PORT") or 0)],
    }
    if body_channel is not None:
        message["body_channel"] = body_channel
    if start_channel is not None:
        message["start_channel"] = start_channel
    if deadline is not None:
        message["deadline"] = deadline
    return message


def abandoned_chunk(reason: str) -> Message:
    """The last message on a ``body_channel`` whose body will not be complete: the reader must fail, not wait.

    The adapter sends it when it gives up on a request a worker has started
    before the whole body was sent (body over the limit, channel full, client
    gone, deadline passed), so the view never sees a truncated body as whole.
    """
    return {"content": "", "more_content": False, "abandoned": reason}


def _latin1(text: str) -> str:
    """Text as a WSGI environ string (PEP 3333: bytes as latin-1)."""
    return text.encode("utf-8").decode("latin-1")


def environ_from_request(message: Message, body: IO[bytes]) -> dict[str, Any]:
    """A WSGI environ for Django, from a ``django.wsgi.request`` message and a stream of its body."""
    server_name, server_port = message.get("server") or ["localhost", 80]
    client_host, client_port = message.get("client") or ["", 0]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": message["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": _latin1(message["path"]),
        "QUERY_STRING": _latin1(message.get("query_string", "")),
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": client_host,
        "REMOTE_PORT": str(client_port),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": message.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in message.get("headers", []):
        key = name.upper().replace("-", "_")
        key = key if key in _UNPREFIXED else f"HTTP_{key}"
        # Repeated headers are joined, as a WSGI server would.
        environ[key] = f"{environ[key]},{_latin1(value)}" if key in environ else _latin1(value)
    return environ


class BodyReader(io.RawIOBase):
    """A readable stream over a body that arrives in chunks (the first in hand, the rest fetched)."""

    def __init__(self, first: bytes, more: Iterator[bytes]) -> None:
        self._buffer = first
        self._more = more

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._more, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _pieces(body: Iterable[bytes]) -> Iterator[bytes]:
    """Non-empty pieces of a response body, none larger than :data:`CHUNK_SIZE`."""
    for piece in body:
        for start in range(0, len(piece), CHUNK_SIZE):
            yield piece[start : start + CHUNK_SIZE]


def response_messages(
    status: int, headers: list[tuple[str, str]], body: Iterable[bytes], streaming: bool = False
) -> Iterator[Message]:
    """Messages for a response: status and headers with the first piece, then one per piece.

    A streaming body's pieces are sent the moment they are produced (the
    client sees the response arrive in pieces), and an empty last message
    ends it; a body already in hand is looked ahead so that its last piece
    carries ``more_content: false``.
    """
    pieces = _pieces(body)
    message: Message = {
        "status": status,
        "headers": [[name.lower(), value] for name, value in headers],
    }
    if streaming:
        for piece in pieces:
            yield {**message, "content": encode_body(piece), "more_content": True}
            message = {}
        yield {**message, "content": "", "more_content": False}
        return
    current = next(pieces, b"")
    while True:
        following = next(pieces, None)
        yield {**message, "content": encode_body(current), "more_content": following is not None}
        if following is None:
            return
        current, message = following, {}
