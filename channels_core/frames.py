"""WebSocket events as messages, and replies as frames: the pure encoding layer (no sockets, no backend).

The WebSocket server only moves bytes; what its messages look like
(DESIGN.md §4) is decided here, in plain functions on plain data::

    connect:     send_channel, path, query_string, headers, client, server, order=0
    receive:     send_channel, path, text | bytes (base64), order
    keepalive:   send_channel, path
    disconnect:  send_channel, path, code, order

and what a message on a socket's response channel becomes
(:func:`reply_of`)::

    {"text": "..."}            a text frame
    {"bytes": "<base64>"}      a binary frame
    {"close": true | code}     close the socket, after sending what else the message holds
    any other dict             the whole dict as one JSON text frame
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from websockets.frames import EXTERNAL_CLOSE_CODES, CloseCode

from .http import decode_body, encode_body
from .messages import Message

__all__ = [
    "Reply",
    "connect_message",
    "disconnect_message",
    "keepalive_message",
    "receive_message",
    "reply_of",
]

logger = logging.getLogger("channels_core.websocket")

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Reply:
    """What one reply message does to its socket: a frame to send, then maybe a close."""

    frame: str | bytes | None
    close: int | None = None
    #: The frame's bytes (UTF-8 for a text frame), encoded once however many sockets it goes to.
    payload: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        frame = self.frame.encode("utf-8", "replace") if isinstance(self.frame, str) else self.frame
        object.__setattr__(self, "payload", frame or b"")

    @property
    def is_text(self) -> bool:
        return isinstance(self.frame, str)

    @property
    def size(self) -> int:
        """How many bytes the frame holds, for the socket's send-buffer limit."""
        return len(self.payload)


def connect_message(
    send_channel: str,
    path: str,
    query_string: str,
    headers: Iterable[tuple[str, str]],
    client: Sequence[object],
    server: Sequence[object],
) -> Message:
    """The ``django.websocket.connect`` message of a socket that opened."""
    return {
        "send_channel": send_channel,
        "path": path,
        "query_string": query_string,
        "headers": [[name.lower(), value] for name, value in headers],
        "client": list(client[:2]),
        "server": list(server[:2]),
        "order": 0,
    }


def receive_message(send_channel: str, path: str, order: int, frame: str | bytes) -> Message:
    """The ``django.websocket.receive`` message of one frame from the client."""
    message: Message = {"send_channel": send_channel, "path": path, "order": order}
    if isinstance(frame, str):
        message["text"] = frame
    else:
        message["bytes"] = encode_body(frame)
    return message


def keepalive_message(send_channel: str, path: str) -> Message:
    """The ``django.websocket.keepalive`` message of a socket still open."""
    return {"send_channel": send_channel, "path": path}


def disconnect_message(send_channel: str, path: str, code: int, order: int) -> Message:
    """The ``django.websocket.disconnect`` message of a socket that closed with ``code``."""
    return {"send_channel": send_channel, "path": path, "code": code, "order": order}


def reply_of(message: Message) -> Reply:
    """What a message sent to a socket's response channel does, by the rules in the module docstring."""
    frame: str | bytes | None
    if "text" in message:
        frame = str(message["text"])
    elif "bytes" in message:
        frame = decode_body(message["bytes"])
    else:
        content = {key: value for key, value in message.items() if key != "close"}
        frame = _encoder.encode(content) if content else None
    return Reply(frame, _close_code(message.get("close")))


def _close_code(close: object) -> int | None:
    """The code a reply's ``close`` asks for: ``True`` is 1000, a valid code is itself; a bad one is refused."""
    if close is None or close is False:
        return None
    if close is True:
        return CloseCode.NORMAL_CLOSURE
    if isinstance(close, int) and (close in EXTERNAL_CLOSE_CODES or 3000 <= close <= 4999):
        return close
    # A consumer's mistake: close anyway (the consumer meant to), and say what was wrong.
    logger.warning(
        "a reply asked to close with %r, which is not a close code an application may send; using 1011", close
    )
    return CloseCode.INTERNAL_ERROR
