"""``python manage.py runserver``: the whole stack in one process, for development.

Django's development server runs the WSGI adapter (so every page goes
through channels), a WebSocket server runs on a second port, and worker
threads run the consumers: all on the in-memory backend by default, with
Django's autoreload. Nothing else needs to be installed or started.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as StaticFilesRunserver
from django.core.management.base import CommandParser

from channels_core.backends import get_backend
from channels_core.registry import registry_from_apps
from channels_core.worker import Worker

from .runwsserver import websocket_server


class Command(StaticFilesRunserver):
    help = (
        "Run the development server with channels: HTTP through the WSGI adapter, WebSockets on "
        "--ws-port, and worker threads, in one process (in-memory backend unless configured otherwise)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--ws-port", type=int, default=8001, help="port of the WebSocket server (default 8001)")
        parser.add_argument("--worker-threads", type=int, default=4, help="worker threads (default 4)")

    def inner_run(self, *args: Any, **options: Any) -> None:
        # Runs in the autoreloaded child: the channel threads die with it on each reload.
        settings.CHANNELS_WS_PORT = options["ws_port"]  # pages find the socket here (context processor)
        self._start_worker(options["worker_threads"])
        self._start_websocket_server(options["ws_port"])
        super().inner_run(*args, **options)

    def _start_worker(self, threads: int) -> None:
        worker = Worker(get_backend(), registry_from_apps(), threads=threads)
        threading.Thread(target=worker.run, name="channels-worker", daemon=True).start()

    def _start_websocket_server(self, port: int) -> None:
        # Its pages come from the development server's port: the socket trusts those.
        server = websocket_server(page_port=int(self.port))  # type: ignore[attr-defined]  # set by handle()
        ready = threading.Event()
        # WebSockets listen on the development server's address.
        host: str = self.addr.strip("[]")  # type: ignore[attr-defined]  # set by runserver's handle()

        def serve() -> None:
            asyncio.run(server.serve(host, port, asyncio.Event(), ready.set))

        threading.Thread(target=serve, name="channels-websockets", daemon=True).start()
        if not ready.wait(10):
            self.stderr.write(f"The WebSocket server did not start on port {port}.")
            return
        self.stdout.write(f"WebSockets on ws://{host}:{port}/ (worker threads: running)")
