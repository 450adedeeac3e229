"""Which interface servers are alive: each WebSocket server keeps its inbox in one group while it runs.

A server's inbox (``!django.websocket.send.<id>``) names it: every response
channel of its sockets lives there. But an inbox is only stored while replies
wait in it, and a server's sockets join groups only if the site's consumers
put them there, so neither says whether a server is alive. So each server
announces itself: it adds its inbox to the group :data:`SERVERS_GROUP` every
keepalive interval (at most a third of ``GROUP_EXPIRY``), and leaves the
group when it stops. A server that dies drops out on its own once its
membership expires, within ``GROUP_EXPIRY``, like its sockets do from their
groups.

A group needs nothing new of any backend, so this works on every one of them.
Nothing is ever sent to the group (its members are inbox names, not the
channels of sockets); :func:`servers_alive` reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from .backends import BaseBackend
from .exceptions import ChannelsError

__all__ = ["SERVERS_GROUP", "AnnouncedServer", "announce_server", "servers_alive"]

logger = logging.getLogger("channels_core.servers")

#: The group whose members are the inboxes of the WebSocket servers alive (a name no site should use).
SERVERS_GROUP = "channels.servers"


class AnnouncedServer(Protocol):
    """What :func:`announce_server` needs of a server: a WebSocket server has it."""

    #: The server's backend.
    backend: BaseBackend
    #: The server's inbox, which names it.
    inbox: str
    #: Seconds between a socket's keepalives; the server announces itself as often.
    keepalive: float


async def announce_server(server: AnnouncedServer) -> None:
    """Keep the server's inbox in :data:`SERVERS_GROUP` until cancelled, then take it out.

    It is announced every keepalive interval, and at least three times per
    ``GROUP_EXPIRY``, so one lost announcement never makes a live server look dead.
    """
    backend, inbox = server.backend, server.inbox
    loop = asyncio.get_running_loop()
    interval = min(server.keepalive, backend.group_expiry / 3)
    try:
        while True:
            try:
                await loop.run_in_executor(None, backend.group_add, SERVERS_GROUP, inbox)
            except ChannelsError as error:  # an outage: the server's own log says so already
                logger.info("could not announce server %s: %s", inbox, error)
            except Exception:  # a bug: say so, and keep announcing
                logger.exception("announcing server %s failed", inbox)
            await asyncio.sleep(interval)
    finally:
        # A server that stops says so, rather than looking alive until its membership expires.
        with contextlib.suppress(ChannelsError):
            await loop.run_in_executor(None, backend.group_discard, SERVERS_GROUP, inbox)


def servers_alive(backend: BaseBackend) -> list[str]:
    """The inboxes of the WebSocket servers that announced themselves within ``GROUP_EXPIRY``, sorted."""
    return sorted(backend.group_channels(SERVERS_GROUP))
