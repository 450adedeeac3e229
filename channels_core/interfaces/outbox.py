"""The WebSocket server's outbox: what its sockets emit, sent to the backend in batches by one thread.

The event loop must never block on the backend, and one round trip per
message would not keep up with thousands of sockets. So one thread sends
whatever piled up while its last round trip was under way, in the next, with
:meth:`~channels_core.backends.base.BaseBackend.send_many`; each message's
outcome comes back to the event loop as a future.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
from collections.abc import Callable

from ..backends import BaseBackend
from ..exceptions import BackendUnavailable, ChannelFull
from ..messages import Message

__all__ = ["Outbox"]

logger = logging.getLogger("channels_core.websocket")

#: Bounds of the pause between two tries while waiting for room in a full channel.
ROOM_PAUSE_MIN = 0.02
ROOM_PAUSE_MAX = 1.0

#: A message for the backend, and the future that gets the outcome of its send.
_Pending = tuple[str, Message, "asyncio.Future[None]"]


class Outbox:
    """Messages for the backend, sent in batches by one thread; each send's outcome comes back as a future."""

    def __init__(self, backend: BaseBackend, loop: asyncio.AbstractEventLoop) -> None:
        self.backend = backend
        self.loop = loop
        self._pending: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()  # None: close
        self._thread = threading.Thread(target=self._run, name="channels-ws-outbox", daemon=True)
        self._thread.start()

    def send(self, channel: str, message: Message) -> asyncio.Future[None]:
        """Queue ``message`` (from the event loop); the future fails with the error the send met, if any."""
        sent = self.loop.create_future()
        self._pending.put((channel, message, sent))
        return sent

    async def send_when_room(
        self, channel: str, message: Message, patience: float, outage: bool, patient: Callable[[], bool]
    ) -> None:
        """Send, waiting up to ``patience`` seconds for room in a full channel (and, if ``outage``, for the backend).

        A burst (a connect storm, a thousand clients lost at once) then slows
        down instead of being refused; only what still finds no room after
        ``patience``, or once ``patient()`` turns false (a shutdown), is
        refused, with the error of its last try.
        """
        deadline = self.loop.time() + patience
        pause = ROOM_PAUSE_MIN
        while True:
            try:
                await self.send(channel, message)
                return
            except (ChannelFull, BackendUnavailable) as error:
                waiting_allowed = isinstance(error, ChannelFull) or outage
                if not waiting_allowed or not patient() or self.loop.time() + pause > deadline:
                    raise
            # Jittered, so sockets refused together do not all come back together.
            await asyncio.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, ROOM_PAUSE_MAX)

    def close(self) -> None:
        """Send what is queued, then stop the thread (blocks: call it from a thread of the executor)."""
        self._pending.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch, closing = self._take_queued()
            if batch:
                self._send(batch)
            if closing:
                return

    def _take_queued(self) -> tuple[list[_Pending], bool]:
        """Wait for a message, then take every one queued behind it; and whether :meth:`close` was called."""
        batch: list[_Pending] = []
        item = self._pending.get()
        while item is not None:
            batch.append(item)
            try:
                item = self._pending.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _send(self, batch: list[_Pending]) -> None:
        try:
            outcomes: list[BaseException | None] = list(
                self.backend.send_many([(channel, message) for channel, message, _ in batch])
            )
        except Exception as error:  # a bug: fail these sends rather than leave them waiting forever
            logger.exception("sending %d message(s) failed", len(batch))
            outcomes = [error] * len(batch)
        self.loop.call_soon_threadsafe(_settle, [sent for _, _, sent in batch], outcomes)


def _settle(futures: list[asyncio.Future[None]], outcomes: list[BaseException | None]) -> None:
    for sent, outcome in zip(futures, outcomes, strict=True):
        if sent.cancelled():
            continue
        if outcome is None:
            sent.set_result(None)
        else:
            sent.set_exception(outcome)
