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
    """The text of a valid chat message, or a ClientError saying what is wrong."""
    try:
        data = json.loads(text or "")
    except ValueError:
        raise ClientError("bad-json", "Messages must be JSON.") from None
    if not isinstance(data, dict) or data.get("type") != "message":
        raise ClientError("unknown-type", "Only messages of type 'message' can be sent.")
    said = data.get("text")
    if not isinstance(said, str) or not said.strip():
        raise ClientError("empty", "Type something first.")
    if len(said) > MAX_LENGTH:
        raise ClientError("too-long", f"Messages are at most {MAX_LENGTH} characters; this one has {len(said)}.")
    return said.strip()


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
