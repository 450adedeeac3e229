"""How a process shows its metrics: an HTTP server of its own, or a page an interface server answers.

``runworker`` and ``runwsserver`` each serve their own metrics with
:func:`serve` on ``--metrics-port``. gunicorn runs the WSGI adapter in
several processes; each writes its metrics to files in
``PROMETHEUS_MULTIPROC_DIR`` (``prometheus_client``'s multiprocess mode, set
up by ``config/gunicorn.conf.py``), and :func:`render` sums them, whichever
process answers ``/metrics``.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE", "MULTIPROCESS_DIR_VARIABLE", "render", "serve"]

#: The content type of :func:`render`'s page (Prometheus's text format).
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Where processes that share their metrics write them (``prometheus_client`` reads it at import).
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Serve this process's metrics on ``http://host:port/`` from a thread of their own.

    The default host keeps them on this machine: open them to a network
    only where Prometheus alone can reach them (docs/howto/monitor.rst).

    Raises:
        OSError: the address cannot be bound.
    """
    start_http_server(port, addr=host)


def render() -> bytes:
    """This process's metrics, or the sum of all processes' in ``PROMETHEUS_MULTIPROC_DIR``, in Prometheus's format."""
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
        return generate_latest(registry)
    return generate_latest(REGISTRY)
