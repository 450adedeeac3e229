"""``python manage.py runwsserver``: the WebSocket interface server."""

from __future__ import annotations

import asyncio
import resource
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from channels_core import conf, defaults
from channels_core.backends import get_backend
from channels_core.interfaces.drain import DrainPlan
from channels_core.interfaces.websocket import WebSocketServer
from channels_core.management.metrics_options import add_metrics_arguments, serve_metrics
from channels_core.management.shared_backend import require_shared_backend
from channels_core.metrics import watch_open_sockets
from channels_core.origins import OriginPolicy


def allowed_hosts() -> list[str]:
    """``ALLOWED_HOSTS``, with Django's development defaults when it is empty under DEBUG."""
    if settings.ALLOWED_HOSTS or not settings.DEBUG:
        return list(settings.ALLOWED_HOSTS)
    return [".localhost", "127.0.0.1", "[::1]"]


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit, and return it.

    Every socket is a file descriptor, and the usual soft limit (1,024) would
    refuse connections past about a thousand sockets; a server is meant to hold
    many thousands (docs/howto/scale.rst). The hard limit is the system's to set.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):  # an unlimited hard limit may still be above the kernel's own (nr_open)
        return soft
    return hard


def websocket_server(alias: str = defaults.DEFAULT_ALIAS, page_port: int | None = None) -> WebSocketServer:
    """A server configured from the settings (shared with ``runserver``, whose pages are on ``page_port``)."""
    origins = OriginPolicy(
        allowed_hosts(),
        trusted_origins=[*settings.CSRF_TRUSTED_ORIGINS, *conf.ws_allowed_origins()],
        page_port=page_port,
        secure_proxy_header=settings.SECURE_PROXY_SSL_HEADER,
    )
    return WebSocketServer(
        get_backend(alias),
        origins=origins,
        keepalive=conf.keepalive_interval(),
        send_buffer=conf.ws_send_buffer(),
        send_buffer_bytes=conf.ws_send_buffer_bytes(),
        receive_rate=conf.ws_receive_rate(),
        receive_burst=conf.ws_receive_burst(),
        order_timeout=conf.order_timeout(),
        drain=DrainPlan(*conf.ws_drain()),
        compression=conf.ws_compression(),
    )


class Command(BaseCommand):
    help = (
        "Serve WebSockets: each socket's events become django.websocket.* messages for the workers, "
        "and what arrives on its response channel is sent to it. "
        "SIGTERM closes the sockets with 1001, in batches over CHANNELS_WS_DRAIN_WINDOW seconds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8001, help="port to listen on (default 8001)")
        parser.add_argument("--alias", default=defaults.DEFAULT_ALIAS, help="CHANNEL_BACKENDS entry to use")
        add_metrics_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        require_shared_backend(
            "runwsserver",
            options["alias"],
            lost="no worker would see this server's sockets",
            instead="`python manage.py runserver`, which runs everything in one process",
        )
        server = websocket_server(options["alias"])
        watch_open_sockets(lambda: len(server.sockets))
        if address := serve_metrics(options):
            self.stdout.write(f"Metrics on {address}")
        raise_open_files_limit()
        asyncio.run(self._serve(server, options["host"], options["port"]))
        self.stdout.write("WebSocket server stopped.")

    async def _serve(self, server: WebSocketServer, host: str, port: int) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

        def ready() -> None:
            self.stdout.write(f"WebSocket server listening on ws://{host}:{port}/ (inbox {server.inbox})")
            self.stdout.flush()

        await server.serve(host, port, stop, ready)
