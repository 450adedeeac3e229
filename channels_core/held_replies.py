"""A batching worker's replies to WebSocket clients, held until its batch is done.

``runworker --batch N`` takes up to N messages at once and runs their
consumers one after another. Each consumer's replies to its sockets would
cost one backend round trip each; held here, they are stored together when
the batch ends: one round trip in, one out, for the whole batch. The price is
written in ``docs/topics/design.rst`` ("Batching workers").

This is the worker's policy, so it lives beside the worker, not in the
backends, which only learn to store several prepared messages at once
(:meth:`~channels_core.backends.base.BaseBackend.prepare` and
:meth:`~channels_core.backends.base.BaseBackend.send_prepared`). The worker
opens a :func:`holding_replies` block per batch; :class:`~channels_core.channel.Channel`
and :class:`~channels_core.channel.Group` send through :func:`send_in_order`
and :func:`store_held_replies`, which ask whether the thread holds replies
for their backend, as Channels 1.x's ``Channel.send`` asked whether a
consumer was running. Code that calls a backend's ``send`` itself bypasses
them: its messages are stored at once, ahead of what the thread holds.

What keeps a thread's messages in order:

* a reply to a WebSocket client (a channel below ``!django.websocket.send``)
  is held;
* any other send stores what is held first, in the same round trip, and
  raises its own error as :meth:`~channels_core.backends.base.BaseBackend.send` would;
* a group send stores what is held first (one round trip), then sends;
* bad input raises at the send that caused it, not with the batch.

A held reply that cannot be stored (its server's inbox is full, the backend
is down) is logged: the consumer that sent it has returned. Only the thread
that opened the block holds; sends through another alias go straight out.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

from .backends import BaseBackend
from .backends.storage import PreparedMessage
from .exceptions import ChannelsError
from .messages import Message
from .protocol import WEBSOCKET_REPLY_PREFIX

__all__ = ["HeldReplies", "held_replies_for", "holding_replies", "send_in_order", "store_held_replies"]

logger = logging.getLogger("channels_core.worker")


class HeldReplies:
    """One thread's held replies to WebSocket clients through ``backend``, and its other sends after them."""

    def __init__(self, backend: BaseBackend) -> None:
        self.backend = backend
        self._held: list[PreparedMessage] = []

    def __len__(self) -> int:
        return len(self._held)

    def send(self, channel: str, message: Message) -> None:
        """Hold a reply to a WebSocket client; send anything else now, after what is held.

        Raises:
            As :meth:`~channels_core.backends.base.BaseBackend.send`; a held reply
            raises only for bad input.
        """
        prepared = self.backend.prepare(channel, message)
        if channel.startswith(WEBSOCKET_REPLY_PREFIX + "."):
            self._held.append(prepared)
            return
        (outcome,) = self.store(then=[prepared])
        if outcome is not None:
            raise outcome

    def store(self, then: Sequence[PreparedMessage] = ()) -> list[ChannelsError | None]:
        """Store what is held, and ``then`` after it, in one round trip.

        Returns:
            The outcome of each of ``then``, as
            :meth:`~channels_core.backends.base.BaseBackend.send_many` gives them;
            a held reply that cannot be stored is logged.
        """
        held, self._held = self._held, []
        outcomes = self.backend.send_prepared([*held, *then])
        for reply, outcome in zip(held, outcomes, strict=False):
            if outcome is not None:
                logger.error("reply to %s not stored: %s", reply.channel, outcome)
        return outcomes[len(held) :]


_current: ContextVar[HeldReplies | None] = ContextVar("channels_core_held_replies", default=None)


@contextlib.contextmanager
def holding_replies(backend: BaseBackend) -> Iterator[HeldReplies]:
    """Hold this thread's replies to WebSocket clients through ``backend`` until the block ends.

    Inside a block already holding, the outer block stores them, in order.
    """
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    held = HeldReplies(backend)
    token = _current.set(held)
    try:
        yield held
    finally:
        try:
            held.store()
        finally:
            _current.reset(token)


def held_replies_for(backend: BaseBackend) -> HeldReplies | None:
    """What this thread holds for ``backend``, or ``None`` outside a :func:`holding_replies` block for it."""
    held = _current.get()
    return held if held is not None and held.backend is backend else None


def send_in_order(backend: BaseBackend, channel: str, message: Message) -> None:
    """Send through ``backend``, after (or among) the replies this thread holds for it, if any."""
    held = held_replies_for(backend)
    if held is None:
        backend.send(channel, message)
    else:
        held.send(channel, message)


def store_held_replies(backend: BaseBackend) -> None:
    """Store the replies this thread holds for ``backend`` now, before a send that cannot join them."""
    held = held_replies_for(backend)
    if held is not None:
        held.store()
