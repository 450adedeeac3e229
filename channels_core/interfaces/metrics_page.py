"""The WSGI adapter's ``/metrics`` page: the metrics of its processes, for Prometheus only.

The adapter answers ``/metrics`` itself, before any request goes to a worker
(a worker's view would show the worker's metrics, not the adapter's). The
page is readable only with ``Authorization: Bearer <CHANNELS_METRICS_TOKEN>``,
the header Prometheus sends with ``authorization: {credentials: ...}`` in
its scrape config. Any other request for it, and every request while no token
is set, gets a plain 404, as if there were no such page: an anonymous visitor
of the public site learns nothing. ``docs/howto/monitor.rst`` says why a token
rather than a staff login, and what the proxy in front adds.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from .. import conf
from ..metrics.exposition import CONTENT_TYPE, render

__all__ = ["is_metrics_request", "metrics_page"]

StartResponse = Callable[..., Any]


def is_metrics_request(environ: dict[str, Any]) -> bool:
    """Whether the request is for ``/metrics``, which the adapter answers itself."""
    return bool(environ.get("PATH_INFO") == conf.metrics_path())


def metrics_page(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """The metrics for a request bearing the token; 404 for any other."""
    if not _authorized(environ.get("HTTP_AUTHORIZATION", "")):
        body = b"Not Found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"), _length(body)])
        return [body]
    body = render()
    start_response("200 OK", [("Content-Type", CONTENT_TYPE), _length(body), ("Cache-Control", "no-store")])
    return [body]


def _authorized(header: str) -> bool:
    token = conf.metrics_token()
    # Compared in constant time, so the answer's timing does not give the token away byte by byte.
    return bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


def _length(body: bytes) -> tuple[str, str]:
    return ("Content-Length", str(len(body)))
