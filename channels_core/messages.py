"""Encoding messages for the wire: dicts as compact UTF-8 JSON, at most 1 MiB."""

from __future__ import annotations

import json
from typing import Any

from .defaults import MAX_MESSAGE_SIZE
from .exceptions import InvalidMessage, MessageTooLarge

__all__ = ["Message", "decode_message", "encode_message", "format_size"]

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


def encode_message(channel: str, message: object) -> bytes:
    """Encode ``message`` for ``channel``, or raise :exc:`InvalidMessage`.

    The limit applies to the encoded bytes, so a message of exactly
    :data:`~channels_core.defaults.MAX_MESSAGE_SIZE` bytes is accepted.
    """
    if not isinstance(message, dict):
        raise InvalidMessage(f"message to {channel!r} must be a dict, not {type(message).__name__}")
    try:
        encoded = _encoder.encode(message).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise InvalidMessage(f"message to {channel!r} does not encode as JSON: {error}") from None
    if len(encoded) > MAX_MESSAGE_SIZE:
        raise MessageTooLarge(
            f"message to {channel!r} is {format_size(len(encoded))} ({len(encoded)} bytes); "
            f"the limit is {format_size(MAX_MESSAGE_SIZE)} ({MAX_MESSAGE_SIZE} bytes)"
        )
    return encoded


def decode_message(payload: bytes | str) -> Message:
    """Turn stored bytes back into a message dict."""
    message: Message = json.loads(payload)
    return message
