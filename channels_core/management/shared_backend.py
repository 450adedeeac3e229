"""Management commands that need a channel backend other processes share, and their one refusal.

The in-memory backend keeps messages inside one process. A command that
sends messages for the site's workers, run as a process of its own, would
put them where no worker ever looks: it would print its report and nothing
would happen. Such commands refuse that backend instead, with the one
explanation below (``runworker`` and ``runwsserver`` give it too).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from channels_core import defaults
from channels_core.backends import BaseBackend, get_backend

__all__ = ["SendingCommand", "require_shared_backend"]


def require_shared_backend(
    command: str, alias: str = defaults.DEFAULT_ALIAS, *, lost: str, instead: str | None = None
) -> BaseBackend:
    """The backend under ``alias``, if other processes see its messages.

    Args:
        command: The command's name, for the error.
        alias: The ``CHANNEL_BACKENDS`` entry the command uses.
        lost: What goes wrong on a one-process backend, completing "it keeps
            messages inside one process, so ...".
        instead: Another way to the same end, if there is one (``runserver``
            for the commands it runs inside itself), completing "Use ...".

    Raises:
        CommandError: The backend keeps messages inside one process (``cross_process`` is false).
    """
    backend = get_backend(alias)
    if backend.cross_process:
        return backend
    shared = "CHANNEL_BACKENDS to the Redis backend (set REDIS_URL) or the database backend "
    shared += "(set CHANNELS_BACKEND=database)"
    if instead:  # a process of the site itself
        advice = f"Use {instead}, or switch {shared}."
    else:  # a client of the site's workers
        advice = f"Switch {shared}, for the site and this command alike."
    raise CommandError(
        f"{command} cannot use {type(backend).__name__} (CHANNEL_BACKENDS[{alias!r}]): "
        f"it keeps messages inside one process, so {lost}. {advice}"
    )


class SendingCommand(BaseCommand):
    """A command that sends messages for the site's workers to handle.

    Run as a process of its own (``python manage.py NAME``), it refuses a
    backend that keeps messages inside one process (:func:`require_shared_backend`):
    no worker would see what it sends. Called with :func:`~django.core.management.call_command`
    inside a process whose workers share its backend (a test, a scheduler in
    ``runserver``'s process), it runs on any backend.
    """

    #: The ``CHANNEL_BACKENDS`` entry its messages go through.
    channel_alias: str = defaults.DEFAULT_ALIAS
    #: What its messages are, for the refusal: "no worker would ever see <sends>, not even runserver's".
    sends: str = "the messages it sends"

    _own_process = False

    def run_from_argv(self, argv: list[str]) -> None:
        """Run as ``manage.py``'s command: in a process of its own."""
        self._own_process = True
        super().run_from_argv(argv)

    def execute(self, *args: Any, **options: Any) -> str | None:
        """Refuse a one-process backend when run as a process of its own, then run the command."""
        if self._own_process:
            name = self.__class__.__module__.rsplit(".", 1)[-1]
            lost = f"no worker would ever see {self.sends}, not even runserver's"
            require_shared_backend(name, self.channel_alias, lost=lost)
        result: str | None = super().execute(*args, **options)
        return result
