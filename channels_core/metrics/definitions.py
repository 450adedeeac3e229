"""Every metric of the channels core: its name, its labels and what it counts (``docs/reference/metrics.rst``).

They live in ``prometheus_client``'s default registry, one set per process.
Names follow Prometheus's conventions: counters end in ``_total``, times are
in seconds. Channel labels are bounded (:mod:`channels_core.metrics.labels`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BACKEND_OUTAGES",
    "BACKEND_RECOVERIES",
    "CHANNEL_FULL",
    "CONSUMER_SECONDS",
    "GROUP_DELIVERIES",
    "GROUP_SENDS",
    "HTTP_REQUESTS",
    "MESSAGES_DROPPED",
    "MESSAGES_RECEIVED",
    "MESSAGES_SENT",
    "MESSAGE_WAIT_SECONDS",
    "METRICS",
    "OPEN_SOCKETS",
]

#: Bucket bounds of the time a message waits in its queue: from a busy worker's milliseconds to a minute
#: (the default ``EXPIRY``), past which no message waits.
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Bucket bounds of the time a consumer runs: a view's milliseconds to a thumbnail's seconds.
CONSUMER_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

MESSAGES_SENT = Counter(
    "channels_messages_sent_total",
    "Messages stored on a channel by a send (a group send's copies are channels_group_deliveries_total).",
    ["channel"],
)
MESSAGES_RECEIVED = Counter(
    "channels_messages_received_total",
    "Messages taken from a channel by a worker or an interface server (each copy of a group message counts).",
    ["channel"],
)
MESSAGES_DROPPED = Counter(
    "channels_messages_dropped_total",
    "Messages dropped on purpose, by reason: expired, full, no_consumer, deadline, consumer_error.",
    ["reason", "channel"],
)
CHANNEL_FULL = Counter(
    "channels_channel_full_total",
    "Sends refused because the channel's queue held its capacity (ChannelFull).",
    ["channel"],
)
HTTP_REQUESTS = Counter(
    "channels_http_requests_total",
    "HTTP requests answered by the WSGI adapter, by status (503: never started; 504: started, outcome unknown).",
    ["status"],
)
MESSAGE_WAIT_SECONDS = Histogram(
    "channels_message_wait_seconds",
    "Seconds a message waited in its queue, from its send to its receive.",
    ["channel"],
    buckets=WAIT_BUCKETS,
)
CONSUMER_SECONDS = Histogram(
    "channels_consumer_seconds",
    "Seconds a consumer ran for one message.",
    ["channel"],
    buckets=CONSUMER_BUCKETS,
)
OPEN_SOCKETS = Gauge(
    "channels_open_sockets",
    "WebSockets this WebSocket server holds open.",
    multiprocess_mode="livesum",
)
GROUP_SENDS = Counter("channels_group_sends_total", "Group sends.")
GROUP_DELIVERIES = Counter(
    "channels_group_deliveries_total",
    "Copies of group messages stored for members (the members skipped are dropped with reason full).",
)
BACKEND_OUTAGES = Counter(
    "channels_backend_outages_total",
    "Backend outages this process saw begin, by component (worker, wsgi, websocket).",
    ["component"],
)
BACKEND_RECOVERIES = Counter(
    "channels_backend_recoveries_total",
    "Backend outages this process saw end, by component.",
    ["component"],
)

#: Every metric above, for the reference docs and their test.
METRICS = (
    MESSAGES_SENT,
    MESSAGES_RECEIVED,
    MESSAGES_DROPPED,
    CHANNEL_FULL,
    HTTP_REQUESTS,
    MESSAGE_WAIT_SECONDS,
    CONSUMER_SECONDS,
    OPEN_SOCKETS,
    GROUP_SENDS,
    GROUP_DELIVERIES,
    BACKEND_OUTAGES,
    BACKEND_RECOVERIES,
)
