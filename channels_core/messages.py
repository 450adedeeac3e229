"""Encoding messages for the wire: dicts as compact UTF-8 JSON, at most 1 MiB."""

from __future__ import annotations

import json
from typing import Any

from .defaults import MAX_MESSAGE_SIZE
from .exceptions import InvalidMessage, MessageTooLarge

__all__ = ["Message", "decode_message", "encode_message", "format_size", "with_position"]

#: A message: a dict whose values encode as JSON.
Message = dict[str, Any]

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def format_size(size: int) -> str:
    """``1468006`` → ``'1.4 MiB'``; small sizes in bytes."""
    if size < 1024:
        return f"{size} bytes"
    if round(size / 1024, 1) < 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def encode_message(channel: str, message: object, reserve: int = 0) -> bytes:
    """Encode ``message`` for ``channel``, or raise :exc:`InvalidMessage`.

    The limit applies to the encoded bytes, so a message of exactly
    :data:`~channels_core.defaults.MAX_MESSAGE_SIZE` bytes is accepted.

    Args:
        reserve: bytes the message must leave free under the limit for what
            storage adds to it (a group's ``position``, see :func:`with_position`).
    """
    if not isinstance(message, dict):
        raise InvalidMessage(f"message to {channel!r} must be a dict, not {type(message).__name__}")
    try:
        encoded = _encoder.encode(message).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise InvalidMessage(f"message to {channel!r} does not encode as JSON: {error}") from None
    if len(encoded) > MAX_MESSAGE_SIZE - reserve:
        kept_free = f", less {reserve} bytes kept for its position" if reserve else ""
        raise MessageTooLarge(
            f"message to {channel!r} is {format_size(len(encoded))} ({len(encoded)} bytes); "
            f"the limit is {format_size(MAX_MESSAGE_SIZE)} ({MAX_MESSAGE_SIZE} bytes){kept_free}"
        )
    return encoded


def with_position(payload: bytes, position: Message) -> bytes:
    """An encoded message with ``"position": position`` added as its first key.

    The payload is not decoded: the position goes right after the opening
    brace, so a backend can number a message inside the atomic step that
    stores it without paying for a decode and an encode (the Redis backend
    does the same in Lua). The payload must be an encoded dict without a
    ``position`` key, as :func:`encode_message` makes them.

    >>> with_position(b'{"id":1}', {"offset": 3})
    b'{"position":{"offset":3},"id":1}'
    >>> with_position(b'{}', {"offset": 3})
    b'{"position":{"offset":3}}'
    """
    if not payload.startswith(b"{"):
        raise ValueError(f"an encoded message starts with '{{', not {payload[:20]!r}")
    rest = payload[1:]
    separator = b"" if rest.lstrip().startswith(b"}") else b","  # an empty dict takes no comma
    return b'{"position":' + _encoder.encode(position).encode("utf-8") + separator + rest


def decode_message(payload: bytes | str) -> Message:
    """Turn stored bytes back into a message dict."""
    message: Message = json.loads(payload)
    return message
