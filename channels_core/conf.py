"""Every ``CHANNELS_*`` setting, read in one place, with its default from :mod:`channels_core.defaults`.

Settings are read when they are needed (not at import), so tests that
override them, and processes that set them late (``runserver`` sets
``CHANNELS_WS_PORT``), see the value in force. ``CHANNEL_BACKENDS`` is read
by :mod:`channels_core.backends`, which builds the backends from it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import defaults

__all__ = [
    "http_timeout",
    "keepalive_interval",
    "max_request_body",
    "metrics_address",
    "metrics_enabled",
    "metrics_path",
    "metrics_token",
    "order_timeout",
    "retry_after",
    "session_age",
    "ws_allowed_origins",
    "ws_compression",
    "ws_drain",
    "ws_receive_burst",
    "ws_receive_rate",
    "ws_send_buffer",
    "ws_send_buffer_bytes",
]


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# HTTP: the WSGI adapter.


def http_timeout() -> float:
    """Seconds a request waits for a worker's answer before its 503 or 504 (``CHANNELS_HTTP_TIMEOUT``)."""
    return float(_setting("CHANNELS_HTTP_TIMEOUT", defaults.HTTP_TIMEOUT))


def retry_after() -> int:
    """The ``Retry-After`` of the adapter's 503 answers, in seconds (``CHANNELS_RETRY_AFTER``)."""
    return int(_setting("CHANNELS_RETRY_AFTER", defaults.RETRY_AFTER))


def max_request_body() -> int:
    """Bytes of request body the adapter accepts before it answers 413 (``CHANNELS_MAX_REQUEST_BODY``)."""
    return int(_setting("CHANNELS_MAX_REQUEST_BODY", defaults.MAX_REQUEST_BODY))


# Metrics.


def metrics_enabled() -> bool:
    """Whether processes count their metrics (``CHANNELS_METRICS``, default on)."""
    return bool(_setting("CHANNELS_METRICS", defaults.METRICS))


def metrics_path() -> str:
    """The path where the WSGI adapter answers with its metrics (``CHANNELS_METRICS_PATH``, default ``/metrics``)."""
    return str(_setting("CHANNELS_METRICS_PATH", defaults.METRICS_PATH))


def metrics_address() -> tuple[str, int | None]:
    """Where ``runworker`` and ``runwsserver`` serve their metrics by default: ``CHANNELS_METRICS_HOST``
    (``127.0.0.1``) and ``CHANNELS_METRICS_PORT`` (``None``: not served); ``--metrics-*`` override them."""
    port = _setting("CHANNELS_METRICS_PORT", None)
    return str(_setting("CHANNELS_METRICS_HOST", defaults.METRICS_HOST)), None if port in (None, "") else int(port)


def metrics_token() -> str:
    """The bearer token that opens the WSGI adapter's ``/metrics`` (``CHANNELS_METRICS_TOKEN``; empty: closed)."""
    return str(_setting("CHANNELS_METRICS_TOKEN", "") or "")


# WebSockets: the WebSocket server.


def keepalive_interval() -> float:
    """Seconds between two keepalives of a socket (``CHANNELS_WS_KEEPALIVE``)."""
    return float(_setting("CHANNELS_WS_KEEPALIVE", defaults.KEEPALIVE))


def order_timeout() -> float | None:
    """Seconds a socket's next message waits for the previous one to be handled (``CHANNELS_WS_ORDER_TIMEOUT``).

    ``None`` (the default) waits as long as the previous message's channel
    keeps messages (its expiry): by then it has either been handled or will
    never be delivered.
    """
    value = _setting("CHANNELS_WS_ORDER_TIMEOUT", None)
    return None if value is None else float(value)


def ws_send_buffer() -> int:
    """Replies that may wait for one client (``CHANNELS_WS_SEND_BUFFER``)."""
    return int(_setting("CHANNELS_WS_SEND_BUFFER", defaults.WS_SEND_BUFFER))


def ws_send_buffer_bytes() -> int:
    """Bytes of replies that may wait for one client (``CHANNELS_WS_SEND_BUFFER_BYTES``)."""
    return int(_setting("CHANNELS_WS_SEND_BUFFER_BYTES", defaults.WS_SEND_BUFFER_BYTES))


def ws_receive_rate() -> float:
    """Frames a second one socket may send in the long run, 0 for no limit (``CHANNELS_WS_RECEIVE_RATE``)."""
    return float(_setting("CHANNELS_WS_RECEIVE_RATE", defaults.WS_RECEIVE_RATE))


def ws_receive_burst() -> int:
    """Frames one socket may send at once before its rate applies (``CHANNELS_WS_RECEIVE_BURST``)."""
    return int(_setting("CHANNELS_WS_RECEIVE_BURST", defaults.WS_RECEIVE_BURST))


def ws_compression() -> bool:
    """Whether WebSocket clients may negotiate permessage-deflate (``CHANNELS_WS_COMPRESSION``)."""
    return bool(_setting("CHANNELS_WS_COMPRESSION", defaults.WS_COMPRESSION))


def ws_drain() -> tuple[float, int]:
    """How a stopping WebSocket server closes its sockets: the window in seconds
    (``CHANNELS_WS_DRAIN_WINDOW``) and the most sockets closed at once (``CHANNELS_WS_DRAIN_BATCH``).

    Raises:
        ImproperlyConfigured: a negative window, or a batch under 1.
    """
    window = float(_setting("CHANNELS_WS_DRAIN_WINDOW", defaults.WS_DRAIN_WINDOW))
    batch = int(_setting("CHANNELS_WS_DRAIN_BATCH", defaults.WS_DRAIN_BATCH))
    if window < 0 or batch < 1:
        raise ImproperlyConfigured(
            f"CHANNELS_WS_DRAIN_WINDOW must be 0 or more seconds and CHANNELS_WS_DRAIN_BATCH at least 1, "
            f"not {window:g} and {batch}"
        )
    return window, batch


def ws_allowed_origins() -> list[str]:
    """Origins whose pages may open sockets besides the site's own (``CHANNELS_WS_ALLOWED_ORIGINS``)."""
    return list(_setting("CHANNELS_WS_ALLOWED_ORIGINS", []))


# Sessions on sockets.


def session_age() -> float:
    """Seconds a channel session lives after it was last written (``CHANNELS_SESSION_AGE``).

    Raises:
        ImproperlyConfigured: the setting is not a positive number of seconds.
    """
    age = float(_setting("CHANNELS_SESSION_AGE", defaults.SESSION_AGE))
    if not age > 0:
        raise ImproperlyConfigured(f"CHANNELS_SESSION_AGE must be a positive number of seconds, not {age:g}")
    return age
