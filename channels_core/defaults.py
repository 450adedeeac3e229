"""Every default of the channels core, in one place."""

from __future__ import annotations

__all__ = [
    "BACKEND",
    "CAPACITY",
    "DATABASE_POLL_INTERVAL",
    "DEFAULT_ALIAS",
    "EXPIRY",
    "GROUP_EXPIRY",
    "GROUP_HISTORY_EXPIRY",
    "HTTP_TIMEOUT",
    "KEEPALIVE",
    "MAX_MESSAGE_SIZE",
    "MAX_NAME_LENGTH",
    "MAX_REQUEST_BODY",
    "METRICS",
    "METRICS_HOST",
    "METRICS_PATH",
    "RECEIVE_TIMEOUT",
    "REDIS_CONNECT_TIMEOUT",
    "REDIS_POOL_SIZE",
    "REDIS_SOCKET_TIMEOUT",
    "RETRY_AFTER",
    "RETRY_BACKOFF_MAX",
    "RETRY_BACKOFF_MIN",
    "SESSION_AGE",
    "WS_COMPRESSION",
    "WS_DRAIN_BATCH",
    "WS_DRAIN_WINDOW",
    "WS_MAX_QUEUE",
    "WS_PING_INTERVAL",
    "WS_WRITE_LIMIT",
]

#: The alias used when ``Channel(name)`` names no backend.
DEFAULT_ALIAS = "default"
#: The backend used when ``CHANNEL_BACKENDS`` is not set: one process only.
BACKEND = "channels_core.backends.memory.InMemoryBackend"

#: Seconds a message waits for a consumer before it is dropped.
EXPIRY = 60
#: Seconds a group member stays without being added again.
GROUP_EXPIRY = 120
#: Seconds a group's history (``GROUP_HISTORY``) lasts after the group's last send or ``position()``.
GROUP_HISTORY_EXPIRY = 24 * 60 * 60
#: Messages one channel may hold before ``send`` raises ``ChannelFull``.
CAPACITY = 100

#: Largest message, in bytes of compact UTF-8 JSON.
MAX_MESSAGE_SIZE = 1024 * 1024
#: Channel and group names are shorter than this.
MAX_NAME_LENGTH = 200

#: Seconds between ``django.websocket.keepalive`` messages for one socket.
KEEPALIVE = 30
#: Seconds a channel session lives after its last save or refresh (``CHANNELS_SESSION_AGE``).
SESSION_AGE = 3600
#: The ``Retry-After`` of the WSGI adapter's 503 answers, in seconds (``CHANNELS_RETRY_AFTER``).
RETRY_AFTER = 5
#: Bytes of request body the WSGI adapter accepts before it answers 413 (``CHANNELS_MAX_REQUEST_BODY``).
MAX_REQUEST_BODY = 64 * 1024 * 1024
#: Whether processes count their metrics for Prometheus (``CHANNELS_METRICS``).
METRICS = True
#: Where the WSGI adapter answers with its metrics, given the token (``CHANNELS_METRICS_TOKEN``).
METRICS_PATH = "/metrics"
#: The address ``runworker`` and ``runwsserver`` serve their metrics on (``CHANNELS_METRICS_HOST``): this machine only.
METRICS_HOST = "127.0.0.1"
#: Replies that may wait for one WebSocket client before its socket is closed (``CHANNELS_WS_SEND_BUFFER``).
WS_SEND_BUFFER = 256
#: Bytes of replies that may wait for one WebSocket client (``CHANNELS_WS_SEND_BUFFER_BYTES``).
WS_SEND_BUFFER_BYTES = 4 * 1024 * 1024
#: Frames a second one WebSocket client may send in the long run (``CHANNELS_WS_RECEIVE_RATE``; 0: no limit).
WS_RECEIVE_RATE = 100.0
#: Frames one WebSocket client may send at once, beyond its rate (``CHANNELS_WS_RECEIVE_BURST``).
WS_RECEIVE_BURST = 200
#: Whether WebSocket clients may negotiate permessage-deflate (``CHANNELS_WS_COMPRESSION``): off, since
#: each compressed socket holds its own zlib buffers (figures in docs/reference/performance.rst).
WS_COMPRESSION = False
#: Seconds over which a stopping WebSocket server closes its sockets in batches (``CHANNELS_WS_DRAIN_WINDOW``).
WS_DRAIN_WINDOW = 5.0
#: Most sockets a stopping WebSocket server closes at one moment (``CHANNELS_WS_DRAIN_BATCH``).
WS_DRAIN_BATCH = 500
#: Seconds the WSGI adapter waits for a worker's answer before it answers 503 (``CHANNELS_HTTP_TIMEOUT``).
HTTP_TIMEOUT = 20.0

#: Longest single wait of a worker for a message; it checks for shutdown between waits.
RECEIVE_TIMEOUT = 1.0
#: Back-off bounds, in seconds, while a backend is unavailable.
RETRY_BACKOFF_MIN = 0.1
RETRY_BACKOFF_MAX = 5.0

#: Seconds between the WebSocket server's pings; a peer silent for as long again is dead.
WS_PING_INTERVAL = 20.0
#: Frames a WebSocket server reads ahead of its socket's messages; the rest waits in the kernel. With
#: frames up to MAX_MESSAGE_SIZE, this bounds what one flooding client holds in the server.
WS_MAX_QUEUE = 4
#: Bytes a WebSocket connection's write buffer holds before replies wait in its send buffer instead
#: (the client is not reading fast enough); under it, a reply is written at once.
WS_WRITE_LIMIT = 32 * 1024

# Backend keys of one CHANNEL_BACKENDS entry.

#: Seconds a Redis command may wait for its reply (``SOCKET_TIMEOUT``); blocking pops are sliced below it.
REDIS_SOCKET_TIMEOUT = 5.0
#: Seconds to open a connection to Redis (``CONNECT_TIMEOUT``).
REDIS_CONNECT_TIMEOUT = 2.0
#: Most connections one process holds to one Redis server (``POOL_SIZE``). Each thread holds at most
#: one per server at a time, and only a receive holds one for long (a blocking pop). The busiest
#: processes: ``runworker --threads 8`` (8 threads), a gunicorn process as config/gunicorn.conf.py
#: deploys it (32 request threads, one of them reading the inbox), ``runwsserver`` (its inbox reader,
#: its outbox). Even all of them in one process, as ``runserver`` nearly is, need 43; 64 leaves room.
REDIS_POOL_SIZE = 64
#: The database backend's longest pause, in seconds, between two looks while a receive waits (``POLL_INTERVAL``).
DATABASE_POLL_INTERVAL = 0.1
