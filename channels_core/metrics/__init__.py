"""What the channels core counts, for Prometheus: messages sent, received and dropped, waits, sockets, outages.

Every layer counts through the functions here, which know the metrics
(:mod:`~channels_core.metrics.definitions`), bound their channel labels
(:mod:`~channels_core.metrics.labels`) and write the drop log
(:mod:`~channels_core.metrics.drop_log`)::

    from channels_core import metrics

    metrics.received(["chat.receive"])
    metrics.dropped(metrics.EXPIRED, "chat.receive", count=3)

``CHANNELS_METRICS = False`` turns the counting off (for the benchmark that
prices it); drops are still logged. How each process exposes its metrics is
:mod:`~channels_core.metrics.exposition`; ``docs/howto/monitor.rst`` says
how to scrape them.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.core.signals import setting_changed
from prometheus_client import Histogram

from .. import conf
from ..exceptions import ChannelFull
from . import definitions
from .drop_log import DropLog
from .labels import BoundedLabels

__all__ = [
    "CONSUMER_ERROR",
    "DEADLINE",
    "EXPIRED",
    "FULL",
    "NO_CONSUMER",
    "REASONS",
    "backend_outage",
    "backend_recovery",
    "channel_full",
    "consumer_ran",
    "dropped",
    "enabled",
    "group_sent",
    "http_response",
    "received",
    "sends",
    "waited",
    "watch_open_sockets",
]

# Why a message was dropped: the values of the ``reason`` label.
#: Older than its channel's expiry when a backend looked at it.
EXPIRED = "expired"
#: A group member's queue was full, so the member missed the message.
FULL = "full"
#: No consumer matched the message.
NO_CONSUMER = "no_consumer"
#: An HTTP request that its worker did not start: its deadline passed, or its interface server answered without it.
DEADLINE = "deadline"
#: Its consumer raised.
CONSUMER_ERROR = "consumer_error"
REASONS = (EXPIRED, FULL, NO_CONSUMER, DEADLINE, CONSUMER_ERROR)

#: Channel names as labels, at most 100 of them as they are; group names likewise, as ``group:<name>``.
channel_label = BoundedLabels()
_group_label = BoundedLabels()
_drop_log = DropLog(logging.getLogger("channels_core.drops"))


class _Switch:
    """Whether to count (``CHANNELS_METRICS``), read once and again when a test overrides the setting."""

    def __init__(self) -> None:
        self.on: bool | None = None

    def __call__(self) -> bool:
        if self.on is None:
            self.on = conf.metrics_enabled()
        return self.on

    def reset(self, *, setting: str, **kwargs: Any) -> None:
        if setting == "CHANNELS_METRICS":
            self.on = None


enabled = _Switch()
setting_changed.connect(enabled.reset)


class _Children:
    """The children of a labelled metric, by label value, kept so that a hot path skips ``labels()``."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self._children: dict[str, Any] = {}

    def __getitem__(self, label: str) -> Any:
        child = self._children.get(label)
        if child is None:
            child = self._children[label] = self.metric.labels(label)
        return child


_sent = _Children(definitions.MESSAGES_SENT)
_received = _Children(definitions.MESSAGES_RECEIVED)
_full = _Children(definitions.CHANNEL_FULL)
_waits = _Children(definitions.MESSAGE_WAIT_SECONDS)
_consumers = _Children(definitions.CONSUMER_SECONDS)
_statuses = _Children(definitions.HTTP_REQUESTS)


def sends(channels: Sequence[str], outcomes: Sequence[BaseException | None]) -> None:
    """Count the outcomes of sends to ``channels``: ``None`` is a message stored, :exc:`ChannelFull` a refusal."""
    if not enabled():
        return
    stored: Tally[str] = Tally()
    for channel, outcome in zip(channels, outcomes, strict=True):
        if outcome is None:
            stored[channel_label(channel)] += 1
        elif isinstance(outcome, ChannelFull):
            _full[channel_label(channel)].inc()
    for label, count in stored.items():
        _sent[label].inc(count)


def channel_full(channel: str) -> None:
    """Count a send to ``channel`` refused with :exc:`ChannelFull`."""
    if enabled():
        _full[channel_label(channel)].inc()


def received(channels: Iterable[str]) -> None:
    """Count one message received on each of ``channels``."""
    if not enabled():
        return
    for label, count in Tally(channel_label(channel) for channel in channels).items():
        _received[label].inc(count)


def waited(queue: str, seconds: Iterable[float]) -> None:
    """Record how long each message taken from ``queue`` waited there."""
    if not enabled():
        return
    histogram: Histogram = _waits[channel_label(queue)]
    for wait in seconds:
        histogram.observe(max(0.0, wait))


def consumer_ran(channel: str, seconds: float) -> None:
    """Record how long a consumer ran for a message of ``channel``."""
    if enabled():
        _consumers[channel_label(channel)].observe(seconds)


def dropped(reason: str, channel: str, count: int = 1, detail: str = "", log: bool = True) -> None:
    """Count ``count`` messages of ``channel`` dropped for ``reason``, and log it (rate-limited).

    Args:
        detail: what happened, in words, for the log line.
        log: ``False`` where the caller logs the drop already, in a line of its own
            (a consumer's traceback, say).
    """
    _dropped(reason, channel_label(channel), channel, count, detail, log)


def group_sent(group: str, delivered: int, skipped: int) -> None:
    """Count a group send: its copies stored, and those skipped for full members (dropped, reason full).

    The drops are labelled ``group:<group>``: which members were skipped is not known here.
    """
    if enabled():
        definitions.GROUP_SENDS.inc()
        definitions.GROUP_DELIVERIES.inc(delivered)
    if skipped:
        label = f"group:{_group_label(group)}"
        detail = f"skipped member(s) whose channel was full, delivered to {delivered}"
        _dropped(FULL, label, f"group:{group}", skipped, detail, log=True)


def _dropped(reason: str, label: str, channel: str, count: int, detail: str, log: bool) -> None:
    if count <= 0:
        return
    if enabled():
        definitions.MESSAGES_DROPPED.labels(reason, label).inc(count)
    if log:
        _drop_log.dropped(reason, channel, count, detail)


def http_response(status: int) -> None:
    """Count an HTTP request the WSGI adapter answered with ``status``."""
    if enabled():
        _statuses[str(status)].inc()


def backend_outage(component: str) -> None:
    """Count the start of a backend outage seen by ``component`` (a logger's name)."""
    if enabled():
        definitions.BACKEND_OUTAGES.labels(component.removeprefix("channels_core.")).inc()


def backend_recovery(component: str) -> None:
    """Count the end of a backend outage seen by ``component`` (a logger's name)."""
    if enabled():
        definitions.BACKEND_RECOVERIES.labels(component.removeprefix("channels_core.")).inc()


def watch_open_sockets(count: Callable[[], int]) -> None:
    """Make ``channels_open_sockets`` read ``count()`` whenever it is scraped (one WebSocket server a process)."""
    definitions.OPEN_SOCKETS.set_function(count)
