"""``--metrics-port`` and ``--metrics-host``: how ``runworker`` and ``runwsserver`` show their metrics."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from channels_core.metrics.exposition import serve

__all__ = ["add_metrics_arguments", "serve_metrics"]


def add_metrics_arguments(parser: CommandParser) -> None:
    """Add the two options to a command's parser."""
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve this process's Prometheus metrics on http://HOST:PORT/metrics (default: not served)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address of the metrics server (default 127.0.0.1: this machine only)",
    )


def serve_metrics(options: dict[str, Any]) -> str | None:
    """Start the metrics server the options ask for; the address it serves, or ``None`` if not asked.

    Raises:
        CommandError: the address cannot be bound.
    """
    port, host = options["metrics_port"], options["metrics_host"]
    if port is None:
        return None
    try:
        serve(port, host)
    except OSError as error:
        raise CommandError(f"cannot serve metrics on {host}:{port}: {error}") from error
    return f"http://{host}:{port}/metrics"
