"""The worker: listen on every channel that has a consumer, run the consumer for each message.

It reads top to bottom like a request cycle: wait for a message, find its
consumer, run it between Django's connection housekeeping, log what went
wrong, go on. Several threads may run the same loop; each message reaches one
of them. Shutdown is warm (each thread finishes the messages in hand) when
:meth:`Worker.stop` is called.

With ``batch`` above 1, each thread takes up to that many messages at once and
runs their consumers one after another, holding their replies to WebSocket
clients until the batch is done (:mod:`channels_core.held_replies`): one
round trip in, one out, for the whole batch. The price is written in
``docs/topics/design.rst`` ("Batching workers").

After a socket's ``connect``, ``receive`` or ``keepalive``, the worker tells
the WebSocket server that holds the socket that the message was handled (on
:func:`~channels_core.names.handled_channel_of` the socket), whatever the
consumer did. The server emits the socket's next message only then, which
keeps one socket's messages in order across threads and processes
("Per-socket ordering" in ``docs/topics/design.rst``), and paces its
keepalives by these reports, so they never overflow their channel.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence

from django.db import close_old_connections

from . import defaults, metrics
from .backends import BaseBackend
from .backoff import Backoff
from .context import handling_message
from .exceptions import BackendUnavailable, ChannelsError
from .held_replies import holding_replies, send_in_order
from .messages import Message
from .names import handled_channel_of, is_response_channel
from .protocol import WEBSOCKET_CONNECT, WEBSOCKET_KEEPALIVE, WEBSOCKET_RECEIVE
from .registry import Registry

__all__ = ["Worker"]

logger = logging.getLogger("channels_core.worker")

#: Whose handling the worker reports to the socket's server: it waits for these before it sends
#: the socket's next message (or keepalive). A disconnect is the socket's last: nobody waits.
REPORTED_WEBSOCKET_CHANNELS = frozenset({WEBSOCKET_CONNECT, WEBSOCKET_RECEIVE, WEBSOCKET_KEEPALIVE})

#: Distinct (channel, path) pairs remembered for "logged once"; bounded so odd paths cannot grow it forever.
UNMATCHED_LOG_LIMIT = 10_000


def _report_of(channel: str, message: Message) -> tuple[str, Message] | None:
    """Where to report a socket's message handled, and the report; ``None`` if nobody waits for one."""
    send_channel, order = message.get("send_channel"), message.get("order")
    if not (isinstance(send_channel, str) and is_response_channel(send_channel)):
        return None  # not from a WebSocket server
    if channel == WEBSOCKET_KEEPALIVE:
        return handled_channel_of(send_channel), {"socket": send_channel, "keepalive": True}
    if isinstance(order, int):
        return handled_channel_of(send_channel), {"socket": send_channel, "order": order}
    return None


class Worker:
    """Runs consumers for messages from ``backend``.

    Args:
        backend: where messages come from.
        registry: which consumer runs for which message.
        channels: the channels to listen on (default: every channel with a consumer).
        threads: how many messages may be handled at once.
        batch: how many messages a thread takes at once (see the module docstring).

    Raises:
        ValueError: ``threads`` or ``batch`` below 1.
    """

    def __init__(
        self,
        backend: BaseBackend,
        registry: Registry,
        channels: Sequence[str] | None = None,
        threads: int = 1,
        batch: int = 1,
    ) -> None:
        for name, value in (("threads", threads), ("batch", batch)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        self.backend = backend
        self.registry = registry
        self.channels = list(registry.channels if channels is None else channels)
        self.threads = threads
        self.batch = batch
        self.stopping = threading.Event()
        #: Shares its outage with the threads' back-offs (same logger): an outage is logged once.
        self._outage = Backoff.reporting_only(logger)
        self._unmatched_seen: set[tuple[str, str]] = set()
        self._seen_lock = threading.Lock()

    def run(self) -> None:
        """Serve until :meth:`stop` is called; returns when every thread has finished its message."""
        if not self.channels:
            logger.warning("no channels to listen on: no consumers matched")
            self.stopping.wait()
            return
        # runworker and runserver print their own start-up line; this one is for debugging.
        logger.debug(
            "listening on %s with %d thread(s), batches of %d", ", ".join(self.channels), self.threads, self.batch
        )
        helpers = [
            threading.Thread(target=self.serve, name=f"channels-worker-{i}", daemon=True)
            for i in range(1, self.threads)
        ]
        for thread in helpers:
            thread.start()
        self.serve()
        for thread in helpers:
            thread.join()

    def stop(self) -> None:
        """Ask every thread to stop after the messages in hand."""
        self.stopping.set()

    def serve(self) -> None:
        """One thread's loop: stop check, receive, handle; back off while the backend is down."""
        while not self.stopping.is_set():
            try:
                self._serve_until_stopped()
            except Exception:
                # A bug, not an outage (those are BackendUnavailable, handled below): say so
                # loudly, and serve on, since the other messages are not to blame.
                logger.exception("worker thread %s failed; it carries on", threading.current_thread().name)
                self.stopping.wait(defaults.RETRY_BACKOFF_MIN)

    def _serve_until_stopped(self) -> None:
        backoff = Backoff(logger, wait=self.stopping.wait)
        try:
            while not self.stopping.is_set():
                try:
                    received = self.backend.receive_many(self.channels, defaults.RECEIVE_TIMEOUT, limit=self.batch)
                except BackendUnavailable as error:
                    backoff.failed(error)
                    continue
                backoff.succeeded()
                # A batch of one has nothing to hold back.
                with holding_replies(self.backend) if len(received) > 1 else contextlib.nullcontext():
                    reports: list[tuple[str, Message]] = []
                    for channel, message in received:
                        self.handle(channel, message, reports)
                    # After every reply of the batch; one report per server for the whole batch.
                    self._send_reports(reports)
        finally:
            close_old_connections()

    def handle(self, channel: str, message: Message, reports: list[tuple[str, Message]] | None = None) -> None:
        """Run the consumer for one message, like a view for a request; then report a socket's message handled.

        Args:
            reports: where to collect the report, for the caller to send with
                others (one message per server); ``None`` sends it at once.
        """
        with handling_message(channel, self.backend.alias):
            try:
                self._consume(channel, message)
            finally:
                if channel in REPORTED_WEBSOCKET_CHANNELS and (report := _report_of(channel, message)):
                    if reports is None:
                        self._send_reports([report])
                    else:
                        reports.append(report)

    def _consume(self, channel: str, message: Message) -> None:
        found = self.registry.match(channel, message)
        if found is None:
            self._unmatched(channel, message)
            return
        binding, extra = found
        started = time.perf_counter()
        try:
            binding.function(**{**message, **extra})
        except Exception:
            logger.exception("consumer %s failed on channel %r", binding.name, channel)
            metrics.dropped(metrics.CONSUMER_ERROR, channel, log=False)  # logged above, with its traceback
        finally:
            metrics.consumer_ran(channel, time.perf_counter() - started)
            # As after a request: drop database connections that broke or are too old,
            # so the next message starts with a good one.
            close_old_connections()

    def _send_reports(self, reports: list[tuple[str, Message]]) -> None:
        """Tell each server which of its sockets' messages were handled: one message per server."""
        by_server: dict[str, list[Message]] = {}
        for channel, report in reports:
            by_server.setdefault(channel, []).append(report)
        for channel, handled in by_server.items():
            try:
                send_in_order(self.backend, channel, {"handled": handled})
            except BackendUnavailable as error:
                # An outage: the thread's own receive reports it (once), and the server stops waiting
                # for lost reports when it reaches the backend again.
                self._outage.failed(error)
                logger.info("could not report %d message(s) handled to %s: %s", len(handled), channel, error)
            except ChannelsError as error:
                # The server goes on by itself after its wait runs out; the sockets are slowed, not stuck.
                logger.warning("could not report %d message(s) handled to %s: %s", len(handled), channel, error)

    def _unmatched(self, channel: str, message: Message) -> None:
        path = message.get("path")
        key = (channel, path if isinstance(path, str) else repr(path))
        with self._seen_lock:
            first = key not in self._unmatched_seen
            if len(self._unmatched_seen) < UNMATCHED_LOG_LIMIT:
                self._unmatched_seen.add(key)
        if first:
            logger.warning("no consumer for a message on %r with path %r; dropped", channel, path)
        metrics.dropped(metrics.NO_CONSUMER, channel, log=False)  # logged above, once per channel and path
        send_channel = message.get("send_channel")
        if channel == WEBSOCKET_CONNECT and isinstance(send_channel, str):
            try:
                send_in_order(self.backend, send_channel, {"close": True})
            except Exception:
                logger.exception("could not close unclaimed socket %s", send_channel)
