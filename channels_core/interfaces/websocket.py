"""The WebSocket interface server: sockets in, ``django.websocket.*`` messages out, replies back.

Built on the ``websockets`` library (asyncio). For each socket it emits
``connect``, ``receive`` (one per frame), ``keepalive`` (every ``keepalive``
seconds) and ``disconnect`` messages, and it sends the socket whatever
arrives on its response channel; what those messages hold, and what a reply
becomes, is :mod:`channels_core.frames`.

Every socket's response channel lives in this server's inbox, so one thread
reads replies for all sockets with one blocking receive, and hands each to
the socket's send buffer, bounded in replies and in bytes. A socket whose
buffer overflows (its client stopped reading) is closed, so it never holds up
the others; a socket that sends faster than its receive rate is read more
slowly (:mod:`~channels_core.interfaces.limits`).

The other way, one thread sends what the sockets emit: whatever piled up
while its last round trip was under way goes in the next, with
:meth:`~channels_core.backends.base.BaseBackend.send_many`.

**One message of a socket at a time.** A socket's ``connect``, ``receive``
and ``disconnect`` are handled in ``order``, however many workers run: the
server emits a socket's next message only once a worker has reported the
previous one handled (on :func:`~channels_core.names.handled_channel_of` the
socket, read with the replies), or once ``order_timeout`` has passed, since
delivery is at most once. Meanwhile its frames wait in the ``websockets``
library's bounded buffer, then in the kernel's. "Per-socket ordering" in
``docs/topics/design.rst`` explains it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .. import defaults
from ..backends import BaseBackend
from ..backends.storage import InboxEntry
from ..backoff import Backoff
from ..exceptions import BackendUnavailable, ChannelFull, ChannelsError, MessageTooLarge
from ..frames import connect_message, disconnect_message, keepalive_message, receive_message, reply_of
from ..messages import Message
from ..names import handled_channel_of, new_channel_name
from ..origins import OriginPolicy
from ..protocol import (
    WEBSOCKET_CONNECT,
    WEBSOCKET_DISCONNECT,
    WEBSOCKET_KEEPALIVE,
    WEBSOCKET_RECEIVE,
    WEBSOCKET_REPLY_PREFIX,
)
from ..servers import announce_server
from .drain import DrainPlan, drain
from .fanout import close_slow, deliver
from .keepalive_sender import KeepaliveSender
from .keepalives import KeepaliveSchedule
from .limits import ReceiveRate, SendBuffer
from .outbox import Outbox
from .pinger import Pinger
from .sockets import (
    INTERNAL_ERROR,
    MESSAGE_TOO_BIG,
    TRY_AGAIN_LATER,
    Socket,
    apply_reports,
    close_code,
    nothing_to_emit,
    release_waits,
    settle_once,
    share_connection_attributes,
)

__all__ = ["WebSocketServer"]

logger = logging.getLogger("channels_core.websocket")

#: Seconds a shutting-down server still waits for sockets' messages to be reported handled.
SHUTDOWN_ORDER_GRACE = 2.0
#: Seconds a connect or a frame waits for room in its full channel before its socket is closed with 1013;
#: ``None``: as long as the channel keeps messages (its expiry), since a message would not wait longer there.
ROOM_WAIT: float | None = None


class WebSocketServer:
    """Serves WebSockets through channels.

    Args:
        backend: a backend that crosses processes (workers run elsewhere).
        origins: which pages may open sockets (see :mod:`channels_core.origins`).
        keepalive: seconds between ``django.websocket.keepalive`` messages per socket.
        send_buffer: replies waiting for one client before its socket is closed.
        send_buffer_bytes: bytes of replies waiting for one client before its socket is closed.
        receive_rate: frames a second one socket may send in the long run (``0``: no limit).
        receive_burst: frames one socket may send at once.
        order_timeout: seconds a socket's next message waits for the previous one to be
            handled; ``None`` waits for the previous message's channel expiry.
        drain: how a shutdown closes the sockets (default: ``DrainPlan()``, the settings' defaults).
        compression: whether sockets may use permessage-deflate (``CHANNELS_WS_COMPRESSION``).
        ping_interval: seconds between pings to each socket, and for its pong to come (``interfaces/pinger.py``).
    """

    def __init__(
        self,
        backend: BaseBackend,
        *,
        origins: OriginPolicy,
        keepalive: float = defaults.KEEPALIVE,
        send_buffer: int = defaults.WS_SEND_BUFFER,
        send_buffer_bytes: int = defaults.WS_SEND_BUFFER_BYTES,
        receive_rate: float = defaults.WS_RECEIVE_RATE,
        receive_burst: int = defaults.WS_RECEIVE_BURST,
        order_timeout: float | None = None,
        drain: DrainPlan | None = None,
        compression: bool = defaults.WS_COMPRESSION,
        ping_interval: float = defaults.WS_PING_INTERVAL,
    ) -> None:
        self.backend = backend
        self.order_timeout = order_timeout
        self.origins = origins
        self.keepalive = keepalive
        self.send_buffer, self.send_buffer_bytes = send_buffer, send_buffer_bytes
        self.receive_rate, self.receive_burst = receive_rate, receive_burst
        self.drain, self.compression = drain or DrainPlan(), compression
        self.inbox = new_channel_name(WEBSOCKET_REPLY_PREFIX)
        #: Where workers report this server's sockets' messages handled (read with the replies).
        self.handled_channel = handled_channel_of(new_channel_name(self.inbox))
        self.sockets: dict[str, Socket] = {}
        self._pinger = Pinger(ping_interval, self.sockets)
        self._outbox: Outbox | None = None
        self._stopping = threading.Event()
        self._closing: set[asyncio.Task[None]] = set()
        #: Whether sockets wait for reports and for room in full channels (until a shutdown's grace ends).
        self._patient = True
        #: Shares its outage with the inbox reader's back-off (same logger): one log line per outage.
        self._outage = Backoff.reporting_only(logger)
        schedule = KeepaliveSchedule.for_backend(backend, keepalive)
        self._keepalives = KeepaliveSender(schedule, self._emit_keepalives, self._log_failed_send)

    async def serve(self, host: str, port: int, stop: asyncio.Event, ready: Callable[[], None] | None = None) -> None:
        """Serve until ``stop`` is set; then close the sockets with 1001, in batches, and emit their disconnects."""
        loop = asyncio.get_running_loop()
        self._outbox = outbox = Outbox(self.backend, loop)
        reader = threading.Thread(target=self._read_inbox, args=(loop,), name="channels-ws-inbox", daemon=True)
        reader.start()
        share_connection_attributes()  # before the first socket: 1.3 KiB a socket less (sockets.py)
        async with serve(
            self._handle,
            host,
            port,
            process_request=self._check_origin,
            max_size=defaults.MAX_MESSAGE_SIZE,  # bigger frames are closed with 1009
            max_queue=defaults.WS_MAX_QUEUE,  # frames read ahead; the rest waits in the kernel
            write_limit=defaults.WS_WRITE_LIMIT,  # above it, replies wait in the socket's send buffer (fanout.py)
            # Off by default: each compressed socket holds zlib buffers (docs/reference/performance.rst).
            compression="deflate" if self.compression else None,
            ping_interval=None,  # not a keepalive task per socket: one pinger for all finds dead peers (pinger.py)
        ) as server:
            keepalive = asyncio.gather(self._keepalives.run(), self._pinger.run(), announce_server(self))
            if ready is not None:
                ready()
            await stop.wait()
            keepalive.cancel()
            keepalive.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved: no warning
            server.close(close_connections=False)  # stop accepting; the drain closes the open sockets
            await drain(server, self.drain)
            # Running workers report the last messages within moments; dead ones must not hold the shutdown.
            loop.call_later(SHUTDOWN_ORDER_GRACE, self._stop_waiting_for_workers)
            await server.wait_closed()  # handlers have emitted their disconnects
        self._stopping.set()
        await loop.run_in_executor(None, reader.join)
        await loop.run_in_executor(None, outbox.close)

    # The handshake.

    def _check_origin(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse pages of other origins (cross-site WebSocket hijacking) with 403; see :mod:`channels_core.origins`."""
        refusal = self.origins.refusal(request.headers)
        if refusal is None:
            return None
        logger.warning("refused a WebSocket to %s: %s", request.path, refusal)
        return connection.respond(HTTPStatus.FORBIDDEN, "Origin not allowed\n")

    # One socket's life.

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        path, _, query_string = connection.request.path.partition("?")
        socket = Socket(
            connection,
            new_channel_name(self.inbox),
            path,
            SendBuffer(self.send_buffer, self.send_buffer_bytes),
            ReceiveRate(self.receive_rate, self.receive_burst),
        )
        self.sockets[socket.send_channel] = socket
        self._pinger.add(socket)
        connected = False
        try:
            await self._emit_connect(socket, query_string)
            connected = True
            # Only now: a socket whose connect is still being handled has not joined its groups. At once
            # if released by a recovery: its connect's report, or its connect, may have been lost.
            self._keepalives.add(socket.send_channel, at_once=socket.released_by_recovery)
            while True:  # recv() rather than `async for`: no async generator kept per socket
                frame = await connection.recv()
                if wait := socket.receive_rate.delay():
                    await asyncio.sleep(wait)  # over its rate: read it later, so the client slows down
                socket.order += 1
                message = receive_message(socket.send_channel, path, socket.order, frame)
                await self._emit_in_order(socket, WEBSOCKET_RECEIVE, message)
        except ConnectionClosed:
            pass
        except (ChannelFull, BackendUnavailable) as error:
            self._log_failed_send(f"closing {socket.send_channel}", error)
            socket.closed_with = TRY_AGAIN_LATER if connected else INTERNAL_ERROR
            await connection.close(socket.closed_with, "server busy")
        except MessageTooLarge as error:
            # A frame under the frame limit can still make a message over the message limit
            # (JSON escapes a '"' as two characters, base64 grows bytes by a third).
            logger.info("closing %s: %s", socket.send_channel, error)
            socket.closed_with = MESSAGE_TOO_BIG
            await connection.close(MESSAGE_TOO_BIG, "message too big")
        finally:
            self.sockets.pop(socket.send_channel, None)
            keepalive_out = self._keepalives.closed(socket.send_channel)
            if socket.writer is not None:
                socket.writer.cancel()
            if connected:
                await self._disconnected(socket, keepalive_out)

    async def _emit_connect(self, socket: Socket, query_string: str) -> None:
        """Emit the socket's connect; its headers are then kept nowhere (a method of its own, so its copy goes too)."""
        connection = socket.connection
        assert connection.request is not None
        headers = connection.request.headers.raw_items()
        connect = connect_message(
            socket.send_channel, socket.path, query_string, headers, connection.remote_address, connection.local_address
        )
        # The handshake's response and request headers (KiBs a socket, more with cookies) are read by websockets
        # during the handshake only. The request stays, emptied: websockets expects one once the handshake is over.
        connection.response = None
        connection.request.headers.clear()
        await self._emit_in_order(socket, WEBSOCKET_CONNECT, connect)

    async def _disconnected(self, socket: Socket, keepalive_out: bool) -> None:
        if keepalive_out and self._patient:
            # The disconnect comes last, after a keepalive still out too: handled later, that
            # keepalive would put the closed socket back into its groups.
            await self._keepalives.wait_for_report(socket.send_channel)
        socket.order += 1
        message = disconnect_message(socket.send_channel, socket.path, close_code(socket), socket.order)
        try:
            # The last of the socket's messages: nobody waits for it to be handled, but lost to a full
            # channel or a short outage, the socket's state would leak. So it waits for room as long
            # as its channel keeps messages, at least GROUP_EXPIRY (a burst of a thousand takes a while).
            patience = max(self.backend.group_expiry, self.backend.expiry_for(WEBSOCKET_DISCONNECT))
            await self._emit_waiting_for_room(WEBSOCKET_DISCONNECT, message, patience, outage=True)
        except ChannelsError as error:
            self._log_failed_send(f"could not emit the disconnect of {socket.send_channel}", error)

    async def _emit(self, channel: str, message: Message) -> None:
        assert self._outbox is not None, "serve() starts the outbox"
        await self._outbox.send(channel, message)

    async def _emit_in_order(self, socket: Socket, channel: str, message: Message) -> None:
        """Emit one of the socket's ordered messages and wait until a worker has handled it (or gave up on it)."""
        # Armed before the emit: the report can come back before the send's own outcome does.
        loop = asyncio.get_running_loop()
        socket.handled = handled = loop.create_future()
        try:
            patience = self.backend.expiry_for(channel) if ROOM_WAIT is None else ROOM_WAIT
            await self._emit_waiting_for_room(channel, message, patience)
            if not self._patient:
                return
            timeout = self.backend.expiry_for(channel) if self.order_timeout is None else self.order_timeout
            # A plain timer rather than asyncio.wait_for, which costs several times more per message.
            timer = loop.call_later(timeout, settle_once, handled, False)
            reported = await handled
            timer.cancel()
            if not reported:
                logger.warning(
                    "%s message %d of %s not reported handled within %g s (expired, or its worker died); "
                    "going on with the socket's next message", channel, socket.order, socket.send_channel, timeout
                )  # fmt: skip
        finally:
            socket.handled = None

    async def _emit_waiting_for_room(
        self, channel: str, message: Message, patience: float, outage: bool = False
    ) -> None:
        """Emit, waiting up to ``patience`` s for room in a full channel (:meth:`Outbox.send_when_room`)."""
        assert self._outbox is not None, "serve() starts the outbox"
        await self._outbox.send_when_room(channel, message, patience, outage, patient=lambda: self._patient)

    def _log_failed_send(self, what: str, error: BaseException) -> None:
        """Log a send that failed: an outage once for the whole server (not once per socket), the rest as it comes."""
        if isinstance(error, BackendUnavailable):
            self._outage.failed(error)  # logs the outage's start; the inbox reader logs its end
            logger.info("%s: %s", what, error)
        else:
            logger.warning("%s: %s", what, error)

    def _stop_waiting_for_workers(self) -> None:
        self._patient = False
        for socket in self.sockets.values():
            if socket.handled is not None:
                settle_once(socket.handled, True)  # not lost: the shutdown stops waiting, quietly
        self._keepalives.stop_waiting()

    # Replies: inbox → sockets, at once or through their send buffers (fanout.py).

    def _read_inbox(self, loop: asyncio.AbstractEventLoop) -> None:
        """One thread reads the replies for every socket of this server."""
        backoff = Backoff(logger, wait=self._stopping.wait)
        was_down = False
        while not self._stopping.is_set():
            try:
                batch = self.backend.receive_inbox_entries(self.inbox, timeout=defaults.RECEIVE_TIMEOUT)
            except BackendUnavailable as error:
                was_down = True
                backoff.failed(error)
                continue
            except Exception as error:  # a bug: without this thread no socket hears anything again
                logger.exception("reading inbox %s failed; reading on", self.inbox)
                backoff.failed(error)
                continue
            backoff.succeeded()
            if was_down:  # the groups were in the backend: they may be gone (a Redis restart)
                was_down = False
                loop.call_soon_threadsafe(self._restore_memberships)
            if batch:
                loop.call_soon_threadsafe(self._route, batch)

    def _route(self, batch: list[InboxEntry]) -> None:
        for channels, message in batch:
            if len(channels) == 1 and channels[0] == self.handled_channel:
                apply_reports(message, self.sockets, self._keepalives.handled)
                continue
            reply = reply_of(message)  # once for all its sockets: a broadcast is encoded once
            for channel in channels:
                socket = self.sockets.get(channel)
                if socket is not None and not deliver(socket, reply):  # None: it closed meanwhile
                    del self.sockets[channel]
                    closing = close_slow(socket)
                    self._closing.add(closing)  # keep a reference until it is done
                    closing.add_done_callback(self._closing.discard)

    # Keepalives: paced by the workers' reports (keepalive_sender.py), never dropped.

    async def _emit_keepalives(self, names: Sequence[str]) -> list[BaseException | None]:
        """Emit the keepalives of the named sockets still open; an outcome for each name."""
        sends = []
        for name in names:
            socket = self.sockets.get(name)
            sends.append(
                self._emit(WEBSOCKET_KEEPALIVE, keepalive_message(name, socket.path)) if socket else nothing_to_emit()
            )
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        return [outcome if isinstance(outcome, BaseException) else None for outcome in outcomes]

    def _restore_memberships(self) -> None:
        """The backend is back after an outage: re-announce every socket at once, since groups may have been lost.

        A report the outage lost (Redis keeps nothing on disk) would hold its
        socket until the order timeout, so the server stops waiting for the
        reports due: a socket whose connect was awaited gets its keepalive at
        once, in case its connect was lost too.
        """
        count = self._keepalives.restore_all()
        released, connecting = release_waits(self.sockets.values())
        if count or released:
            logger.warning(
                "backend back: re-announcing %d socket(s) to restore their group memberships; "
                "no longer waiting for %d report(s) the outage may have lost",
                count + connecting,
                released,
            )
