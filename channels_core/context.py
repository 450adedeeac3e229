"""The message being handled: which channel it came from, and through which backend.

A consumer is called with the message's keys, not with where the message came
from. The worker records that here for the time the consumer runs, in a
``contextvars.ContextVar`` (as Django's ``asgiref.local`` carries a
request's state), so code below the consumer can ask instead of guessing::

    from channels_core.context import current_message

    handling = current_message()
    if handling is not None and handling.channel == "django.websocket.connect":
        ...

``Channel(...)`` and ``Group(...)`` created while a consumer runs default to
the backend alias its message came from, so a worker started with
``runworker --alias other`` replies through ``other`` without being told.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from . import defaults

__all__ = ["MessageContext", "current_alias", "current_message", "handling_message"]


@dataclass(frozen=True)
class MessageContext:
    """Where the message a consumer is handling came from.

    Attributes:
        channel: the channel it was received on, e.g. ``"django.websocket.connect"``.
        alias: the ``CHANNEL_BACKENDS`` entry it was received through.
    """

    channel: str
    alias: str


_current: ContextVar[MessageContext | None] = ContextVar("channels_core_message", default=None)


def current_message() -> MessageContext | None:
    """The message this thread is handling, or ``None`` outside a consumer."""
    return _current.get()


def current_alias() -> str:
    """The backend alias of the message being handled, else ``"default"``."""
    handling = _current.get()
    return defaults.DEFAULT_ALIAS if handling is None else handling.alias


@contextlib.contextmanager
def handling_message(channel: str, alias: str) -> Iterator[MessageContext]:
    """Record, for the block's duration, that a message from ``channel`` through ``alias`` is being handled.

    The worker wraps each consumer call in it; tests that call a consumer
    directly may too, to run it as a worker would.
    """
    context = MessageContext(channel, alias)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
