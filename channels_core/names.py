"""Channel and group names: the rules, and where a response channel is stored.

A *normal* channel (``thumbnailer.create``) may be read by any worker. A
*response* channel starts with ``!`` (``!django.websocket.send.srv1.k3J9``) and
is read only by the interface server holding that client.

Response channels are stored per **inbox**: the name without its last
dot-separated part (``!django.websocket.send.srv1``). An interface server
listens on its inbox and so receives for all of its clients at once, with a
number of backend round trips that does not grow with the number of clients.
"""

from __future__ import annotations

import re
import secrets

from .defaults import MAX_NAME_LENGTH
from .exceptions import InvalidChannelName

# The wire format's names live in .protocol; these stay importable from here, where
# the name rules (and handled_channel_of) use them.
from .protocol import (
    HANDLED_NAME,
    WEBSOCKET_CONNECT,
    WEBSOCKET_DISCONNECT,
    WEBSOCKET_KEEPALIVE,
    WEBSOCKET_RECEIVE,
    WEBSOCKET_REPLY_PREFIX,
)

__all__ = [
    "HANDLED_NAME",
    "RESPONSE_PREFIX",
    "WEBSOCKET_CONNECT",
    "WEBSOCKET_DISCONNECT",
    "WEBSOCKET_KEEPALIVE",
    "WEBSOCKET_RECEIVE",
    "WEBSOCKET_REPLY_PREFIX",
    "handled_channel_of",
    "inbox_of",
    "is_response_channel",
    "new_channel_name",
    "validate_channel_name",
    "validate_group_name",
]

RESPONSE_PREFIX = "!"
_ALLOWED = re.compile(r"[a-zA-Z0-9._-]+")
_FORBIDDEN_CHARACTER = re.compile(r"[^a-zA-Z0-9._-]")


def _check(kind: str, name: object, body: str) -> None:
    if not body:
        raise InvalidChannelName(f"{kind} name {name!r} is empty")
    if len(str(name)) >= MAX_NAME_LENGTH:
        raise InvalidChannelName(
            f"{kind} name {name!r} has {len(str(name))} characters; names must be shorter than {MAX_NAME_LENGTH}"
        )
    if not _ALLOWED.fullmatch(body):
        bad = _FORBIDDEN_CHARACTER.search(body)
        assert bad is not None
        raise InvalidChannelName(
            f"{kind} name {name!r} contains {bad.group()!r}; "
            "only a-z A-Z 0-9 - _ . are allowed"
            + (" (and '!' as the first character of a response channel)" if kind == "channel" else "")
        )


def validate_channel_name(name: object) -> str:
    """Return ``name`` if it is a valid channel name, else raise :exc:`InvalidChannelName`."""
    if not isinstance(name, str):
        raise InvalidChannelName(f"channel name must be a str, not {type(name).__name__}")
    _check("channel", name, name.removeprefix(RESPONSE_PREFIX))
    return name


def validate_group_name(name: object) -> str:
    """Return ``name`` if it is a valid group name, else raise :exc:`InvalidChannelName`."""
    if not isinstance(name, str):
        raise InvalidChannelName(f"group name must be a str, not {type(name).__name__}")
    _check("group", name, name)
    return name


def is_response_channel(name: str) -> bool:
    """Whether ``name`` is a response channel (it starts with ``!``)."""
    return name.startswith(RESPONSE_PREFIX)


def inbox_of(name: str) -> str:
    """The queue a message for channel ``name`` is stored in.

    A normal channel is its own queue; a response channel lives in its inbox,
    the name without its last dot-separated part.
    """
    if not is_response_channel(name):
        return name
    inbox, dot, _ = name.rpartition(".")
    return inbox if dot and inbox != RESPONSE_PREFIX else name


def new_channel_name(prefix: str) -> str:
    """A fresh, unguessable channel name one level below ``prefix``.

    For a response prefix, the new channel lives in the inbox ``prefix``, so
    a server that listens on ``prefix`` receives for every name made here.
    """
    validate_channel_name(prefix)
    return validate_channel_name(f"{prefix}.{secrets.token_urlsafe(12).replace('-', 'x').replace('_', 'y')}")


def handled_channel_of(send_channel: str) -> str:
    """Where a worker reports that it handled a message of the socket ``send_channel``.

    A channel of the socket's inbox, so the server that holds the socket
    reads the report with its replies, in the same round trip.
    """
    return f"{inbox_of(send_channel)}.{HANDLED_NAME}"
