"""A graceful drain: on shutdown, the WebSocket server closes its sockets in batches spread over a window.

Closed all at once, every client of a restarted server comes back in the same
second: a reconnect storm on the servers left (and on the workers, which
handle a connect per socket). So a drain closes at most ``batch`` sockets at a
time, and spreads the batches evenly over ``window`` seconds, each at a random
moment of its own slice of the window (servers restarted together do not
close in step). A server holding no more than one batch closes them at once.

Each socket is closed with 1001 (going away): the browser client
(``socket.js``) reconnects after it with its backoff and full jitter, which
spreads each batch's return further. Each socket's disconnect is emitted by its
handler as for any other close, so it is emitted once.

:class:`DrainPlan` is pure (when each batch goes, how many it closes);
:func:`drain` carries it out on a ``websockets`` server.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from dataclasses import dataclass

from websockets.asyncio.server import Server, ServerConnection

from .. import defaults
from .sockets import GOING_AWAY

__all__ = ["DrainPlan", "drain"]

logger = logging.getLogger("channels_core.websocket")


@dataclass(frozen=True)
class DrainPlan:
    """How a server closes its sockets on shutdown.

    Args:
        window: seconds over which the batches are spread (``CHANNELS_WS_DRAIN_WINDOW``);
            ``0`` closes every socket at once.
        batch: most sockets closed at one moment (``CHANNELS_WS_DRAIN_BATCH``).
    """

    window: float = defaults.WS_DRAIN_WINDOW
    batch: int = defaults.WS_DRAIN_BATCH

    def __post_init__(self) -> None:
        if self.window < 0:
            raise ValueError(f"the drain window must be 0 or more seconds, not {self.window:g}")
        if self.batch < 1:
            raise ValueError(f"a drain batch must close at least 1 socket, not {self.batch}")

    def batches(self, sockets: int) -> int:
        """How many batches close ``sockets`` sockets."""
        return max(1, math.ceil(sockets / self.batch))

    def offsets(self, sockets: int, rng: random.Random | None = None) -> list[float]:
        """Seconds from the start of the drain at which each batch closes, in order.

        Batch ``i`` of ``n`` closes at a random moment of the ``i``-th of ``n``
        equal slices of the window; a single batch closes at once.
        """
        count = self.batches(sockets)
        if count == 1 or self.window == 0:
            return [0.0] * count
        chance = rng or random
        slice_ = self.window / count
        return [(number + chance.random()) * slice_ for number in range(count)]


async def drain(server: Server, plan: DrainPlan, rng: random.Random | None = None) -> int:
    """Close the server's open sockets in batches, as ``plan`` says; return how many it closed.

    Call it once the server stopped accepting (``server.close(close_connections=False)``).
    Each batch takes sockets at random among those still open, so a socket
    that closed by itself meanwhile leaves room for another; the last batch
    takes every socket left. It returns once every close has completed (the
    ``websockets`` close handshake, bounded by its close timeout).
    """
    chance = rng or random.Random()
    loop = asyncio.get_running_loop()
    offsets = plan.offsets(len(server.connections), chance)
    started = loop.time()
    closing: set[ServerConnection] = set()
    closes: list[asyncio.Task[None]] = []
    for number, offset in enumerate(offsets, start=1):
        await asyncio.sleep(max(0.0, started + offset - loop.time()))
        still_open = sorted(server.connections - closing, key=id)  # a set's order is not an order to rely on
        last = number == len(offsets)
        batch = still_open if last else chance.sample(still_open, min(plan.batch, len(still_open)))
        if batch:
            # The loop's clock is the machine's monotonic clock: a test compares it with its clients' closes.
            logger.info(
                "drain: batch %d of %d, closing %d socket(s) with %d (monotonic clock %.6f)",
                number, len(offsets), len(batch), GOING_AWAY, loop.time(),
            )  # fmt: skip
        closing.update(batch)
        closes += [asyncio.create_task(connection.close(GOING_AWAY)) for connection in batch]
    if closes:
        await asyncio.wait(closes)
    return len(closing)
