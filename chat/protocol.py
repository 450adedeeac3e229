"""The chat's socket protocol, and the one place where client input is checked.

In (from a page)::

    {"type": "message", "text": "Hello"}

Out (to pages)::

    {"type": "welcome", "name": "ada", "names": [...]}     to a socket that just connected
    {"type": "message", "message": {"id", "author", "text", "created"}}
    {"type": "join", "name": "bob", "names": [...]}         a person's first socket opened
    {"type": "leave", "name": "bob", "names": [...]}        their last one closed, or timed out
    {"type": "error", "code": "too-long", "error": "..."}  to the sender only

Everything a client sends goes through :func:`parse` and :func:`check_rate`;
a :class:`ClientError` is turned into an ``error`` reply in
:func:`replying_to_errors`, so invalid input is never stored or broadcast.
"""

import functools
import json

from channels_core import Channel

from .models import MAX_LENGTH

#: The longest frame worth parsing. In JSON, one character of a message takes
#: at most 12 (an emoji written as two escapes, "\ud83d\ude00"); the rest is
#: room for the keys. A longer frame cannot hold a valid message.
MAX_FRAME_LENGTH = 12 * MAX_LENGTH + 1000
#: At most this many messages...
RATE_COUNT = 5
#: ...per this many seconds, per person and room; more is flooding.
RATE_SECONDS = 5.0


class ClientError(Exception):
    """Bad input from a page: ``code`` tells the page what, ``error`` tells the person."""

    def __init__(self, code: str, error: str) -> None:
        super().__init__(error)
        self.code = code
        self.error = error


def parse(text: str | None) -> str:
    """The text of a valid chat message, or a ClientError saying what is wrong.

    A frame is untrusted: whatever it holds (not JSON, JSON nested thousands
    deep, the wrong shape, characters no database stores), the sender gets an
    error reply, never a traceback in the worker's log.
    """
    if not isinstance(text, str):  # a binary frame (None here): the page only sends text
        raise ClientError("bad-json", "Messages must be JSON text, not binary.")
    if len(text) > MAX_FRAME_LENGTH:  # cannot hold a valid message: not worth parsing
        raise ClientError("too-long", f"Messages are at most {MAX_LENGTH} characters; this one has {len(text):,}.")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        # ValueError: not JSON. RecursionError: JSON nested deeper than Python's
        # stack allows ("[[[[..." 10,000 levels deep is only 20,000 characters).
        raise ClientError("bad-json", "Messages must be JSON.") from None
    if not isinstance(data, dict) or data.get("type") != "message":
        raise ClientError("unknown-type", "Only messages of type 'message' can be sent.")
    said = data.get("text")
    if not isinstance(said, str) or not said.strip():
        raise ClientError("empty", "Type something first.")
    if len(said) > MAX_LENGTH:
        raise ClientError("too-long", f"Messages are at most {MAX_LENGTH} characters; this one has {len(said)}.")
    if not storable(said):
        raise ClientError("bad-json", "Messages must be text; this one holds characters that cannot be stored.")
    return said.strip()


def storable(said: str) -> bool:
    """Whether a database can store ``said``.

    JSON can spell characters that are not text: a lone surrogate (``"\\ud800"``
    has no UTF-8 encoding, so SQLite refuses it) or NUL (``"\\u0000"``, which
    PostgreSQL refuses).
    """
    try:
        said.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in said


def check_rate(said_lately: int) -> None:
    """Refuse a message from someone who said ``said_lately`` messages in the last RATE_SECONDS.

    The count comes from the stored messages (refused ones are never stored),
    so every worker process sees the same one; see ``consumers.say``.
    """
    if said_lately >= RATE_COUNT:
        raise ClientError("flood", f"Slow down: at most {RATE_COUNT} messages every {RATE_SECONDS:g} seconds.")


def replying_to_errors(consumer):
    """Turn a ClientError raised by ``consumer`` into an ``error`` reply to the sender alone."""

    @functools.wraps(consumer)
    def wrapper(send_channel, **kwargs):
        try:
            return consumer(send_channel=send_channel, **kwargs)
        except ClientError as error:
            Channel(send_channel).send(type="error", code=error.code, error=error.error)

    return wrapper
