"""``--metrics-port`` and ``--metrics-host``: how ``runworker`` and ``runwsserver`` show their metrics."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from channels_core import conf
from channels_core.metrics.exposition import serve

__all__ = ["add_metrics_arguments", "serve_metrics"]


def add_metrics_arguments(parser: CommandParser) -> None:
    """Add the two options to a command's parser (their defaults: ``CHANNELS_METRICS_PORT`` and ``_HOST``)."""
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve this process's Prometheus metrics on http://HOST:PORT/metrics "
        "(default: CHANNELS_METRICS_PORT; unset: not served)",
    )
    parser.add_argument(
        "--metrics-host",
        default=None,
        metavar="HOST",
        help="address of the metrics server (default: CHANNELS_METRICS_HOST, else 127.0.0.1: this machine only)",
    )


def serve_metrics(options: dict[str, Any]) -> str | None:
    """Start the metrics server the options ask for; the address it serves, or ``None`` if not asked.

    Raises:
        CommandError: the address cannot be bound.
    """
    default_host, default_port = conf.metrics_address()
    port = options["metrics_port"] if options["metrics_port"] is not None else default_port
    host = options["metrics_host"] or default_host
    if port is None:
        return None
    try:
        serve(port, host)
    except OSError as error:
        raise CommandError(f"cannot serve metrics on {host}:{port}: {error}") from error
    return f"http://{host}:{port}/metrics"
