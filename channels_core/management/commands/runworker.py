"""``python manage.py runworker``: run consumers for messages from the channel backend."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_core import defaults
from channels_core.management.metrics_options import add_metrics_arguments, serve_metrics
from channels_core.management.shared_backend import require_shared_backend
from channels_core.protocol import REQUEST_CHANNEL
from channels_core.registry import registry_from_apps
from channels_core.worker import Worker

logger = logging.getLogger("channels_core.worker")


class StopNow(BaseException):
    """A second signal: stop at once. Not an Exception, so no consumer's ``except Exception`` swallows it."""


class Command(BaseCommand):
    help = (
        "Listen on every channel that has a consumer and run the consumer for each message. "
        "Stop with SIGTERM or Ctrl-C (warm: finishes the messages in hand); a second signal stops at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--threads", type=int, default=1, help="messages handled at once (default 1)")
        parser.add_argument(
            "--batch",
            type=int,
            default=1,
            metavar="N",
            help="messages each thread takes at once; their replies to WebSocket clients are stored together "
            "(default 1: one at a time; see 'Batching workers' in the design docs before raising it)",
        )
        parser.add_argument(
            "--only-channels",
            nargs="+",
            default=[],
            metavar="GLOB",
            help="listen only on channels matching these names or globs, e.g. 'thumbnailer.*'",
        )
        parser.add_argument(
            "--exclude-channels",
            nargs="+",
            default=[],
            metavar="GLOB",
            help="do not listen on channels matching these names or globs",
        )
        parser.add_argument("--alias", default=defaults.DEFAULT_ALIAS, help="CHANNEL_BACKENDS entry to use")
        add_metrics_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        for option in ("threads", "batch"):
            if options[option] < 1:
                raise CommandError(f"--{option} must be at least 1, not {options[option]}")
        backend = require_shared_backend(
            "runworker",
            options["alias"],
            lost="a separate worker would never see them",
            instead="`python manage.py runserver`, which runs workers in its own process",
        )
        registry = registry_from_apps()
        channels = registry.select(options["only_channels"], options["exclude_channels"])
        if not channels:
            raise CommandError(
                "no channels to listen on: "
                + (
                    "no installed app has consumers"
                    if not registry.channels
                    else f"the filters leave none of {', '.join(registry.channels)}"
                )
            )
        if options["batch"] > 1 and REQUEST_CHANNEL in channels:
            logger.warning(
                "--batch %d with %s: HTTP requests in one batch wait for each other; "
                "run them on a worker without --batch (add --exclude-channels %s)",
                options["batch"],
                REQUEST_CHANNEL,
                REQUEST_CHANNEL,
            )
        worker = Worker(backend, registry, channels, threads=options["threads"], batch=options["batch"])
        if address := serve_metrics(options):
            self.stdout.write(f"Metrics on {address}")
        self._install_signal_handlers(worker)
        batches = f", batches of {options['batch']}" if options["batch"] > 1 else ""
        self.stdout.write(
            f"Worker listening on {', '.join(channels)} ({backend!r}, {options['threads']} thread(s){batches})"
        )
        try:
            worker.run()
        except StopNow as stop_now:
            # Cold: the threads still in a consumer are abandoned (they die with the process),
            # but this thread's clean-up ran on the way here, and the logs are flushed at exit.
            logger.warning("Worker stopped at once (%s twice); the messages in hand are lost", stop_now)
            raise SystemExit(1) from None
        finally:
            backend.close()
        self.stdout.write("Worker stopped.")

    def _install_signal_handlers(self, worker: Worker) -> None:
        def stop(signum: int, frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            if worker.stopping.is_set():
                logger.warning("%s again: stopping now, abandoning messages in hand", name)
                raise StopNow(name)  # unwinds the main thread through its finally blocks
            logger.info("%s: stopping after the messages in hand (send it again to stop at once)", name)
            worker.stop()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
