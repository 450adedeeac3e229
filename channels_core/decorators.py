"""``@consumer``: bind a function to the messages of a channel.

A consumer is to a message what a view is to a request: it takes one message
(its keys arrive as keyword arguments) and may send zero or more messages::

    @consumer("django.websocket.connect")
    @consumer("django.websocket.keepalive")
    def ws_connect(path, send_channel, **kwargs):
        Group("liveblog").add(send_channel)

The decorator only records the binding on the function; the worker collects
every bound function from each installed app's ``consumers.py`` when it
starts (see :mod:`channels_core.registry`), so importing a module never
registers anything behind your back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .exceptions import InvalidChannelName
from .names import is_response_channel, validate_channel_name

__all__ = ["BINDINGS_ATTRIBUTE", "Binding", "consumer"]

#: Attribute of a decorated function holding its bindings.
BINDINGS_ATTRIBUTE = "consumer_bindings"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Binding:
    """A consumer bound to one channel, optionally only for messages whose ``path`` matches."""

    channel: str
    path: re.Pattern[str] | None
    function: Callable[..., Any]

    @property
    def name(self) -> str:
        """``module.function``, for error messages and logs."""
        return f"{self.function.__module__}.{self.function.__qualname__}"

    def match(self, message: dict[str, Any]) -> dict[str, str] | None:
        """The extra keyword arguments for ``message``, or ``None`` if it is not ours."""
        if self.path is None:
            return {}
        path = message.get("path")
        found = self.path.search(path) if isinstance(path, str) else None
        return None if found is None else found.groupdict()


def consumer(channel: str, *, path: str | None = None) -> Callable[[F], F]:
    """Run the decorated function for each message on ``channel``.

    Args:
        channel: a normal channel name (response channels belong to interface servers).
        path: a regular expression; if given, the function only gets messages
            whose ``path`` it matches, and its named groups arrive as extra
            keyword arguments.
    """
    validate_channel_name(channel)
    if is_response_channel(channel):
        raise InvalidChannelName(
            f"cannot bind a consumer to response channel {channel!r}: "
            "response channels are read by the interface server that owns them"
        )
    pattern = re.compile(path) if path is not None else None

    def decorate(function: F) -> F:
        bindings = list(getattr(function, BINDINGS_ATTRIBUTE, []))
        bindings.append(Binding(channel, pattern, function))
        setattr(function, BINDINGS_ATTRIBUTE, bindings)
        return function

    return decorate
