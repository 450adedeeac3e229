"""A Django project's site as real processes: ``runserver`` alone, or Redis, gunicorn, runwsserver and workers.

The environment variables the processes get are listed in the package's
docstring (``channels_core/testing/__init__.py``).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from django.core.exceptions import ImproperlyConfigured

from channels_core.backends import BaseBackend, backend_from_config

from .processes import ManagedProcess, RedisServer, free_port, http_status, wait_until

__all__ = ["Project", "Runserver", "Site", "Stack"]

#: What each command prints once it serves (with ``PYTHONUNBUFFERED=1``).
RUNSERVER_READY = "Starting development server"
WORKER_READY = "Worker listening on"
WS_READY = "WebSocket server listening"
GUNICORN_READY = "Booting worker"


@dataclasses.dataclass(frozen=True)
class Project:
    """A Django project, and how the fixtures run it.

    Make one with :meth:`discover`, and change it with
    :func:`dataclasses.replace`.

    Attributes:
        directory: The folder holding ``manage.py``; processes run there.
        settings_module: ``DJANGO_SETTINGS_MODULE`` of every process.
        wsgi_application: What gunicorn serves, ``module:attribute``.
        gunicorn_config: A gunicorn configuration file, or ``None`` for
            gunicorn's own default (``gunicorn.conf.py`` in ``directory``).
        env: Variables for every process, over the test process's environment.
        workers: How many ``runworker`` processes :meth:`Stack.start_all` starts.
        worker_threads: ``runworker --threads`` unless a start says otherwise.
        python: The interpreter that runs ``manage.py`` and gunicorn (default: this test process's).
    """

    directory: Path
    settings_module: str
    wsgi_application: str
    gunicorn_config: Path | None = None
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    workers: int = 1
    worker_threads: int = 4
    python: str = dataclasses.field(default_factory=lambda: sys.executable)

    @classmethod
    def discover(cls, start: Path) -> Project:
        """The project around ``start``, with the settings of this test process.

        Args:
            start: Where to look for ``manage.py``: this folder, then each one
                above it (pytest's rootdir, for the fixtures).

        Returns:
            A project in the nearest folder holding ``manage.py``, with
            ``DJANGO_SETTINGS_MODULE`` from the environment (where
            pytest-django puts its setting) and gunicorn serving the
            settings' ``WSGI_APPLICATION`` (``config.wsgi.application``
            becomes ``config.wsgi:application``).

        Raises:
            FileNotFoundError: No ``manage.py`` in ``start`` or above it.
            ImproperlyConfigured: ``DJANGO_SETTINGS_MODULE`` is not set, or
                those settings have no ``WSGI_APPLICATION``.
        """
        start = start.resolve()
        directory = next((folder for folder in (start, *start.parents) if (folder / "manage.py").is_file()), None)
        if directory is None:
            raise FileNotFoundError(
                f"no manage.py in {start} or any folder above it; "
                "override the channels_project fixture with the Project of your site"
            )
        settings_module = os.environ.get("DJANGO_SETTINGS_MODULE")
        if not settings_module:
            raise ImproperlyConfigured(
                "DJANGO_SETTINGS_MODULE is not set; set it (or pytest-django's DJANGO_SETTINGS_MODULE ini option) "
                "or override the channels_project fixture"
            )
        return cls(directory, settings_module, _wsgi_application_of(settings_module))

    def manage(self, *args: str) -> list[str]:
        """The command line of ``python manage.py ARGS``."""
        return [self.python, str(self.directory / "manage.py"), *args]

    def process_env(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The variables a process of this project gets: the settings module, unbuffered output, ``env``."""
        return {"DJANGO_SETTINGS_MODULE": self.settings_module, "PYTHONUNBUFFERED": "1", **self.env, **(env or {})}

    def run_manage(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120.0) -> str:
        """Run ``python manage.py ARGS`` to completion and return what it printed.

        Raises:
            AssertionError: It exited with an error (the message carries its stderr).
        """
        result = subprocess.run(
            self.manage(*args),
            cwd=self.directory,
            env={**os.environ, **self.process_env(env)},
            timeout=timeout,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise AssertionError(f"manage.py {' '.join(args)} exited with {result.returncode}:\n{result.stderr}")
        return result.stdout


def _wsgi_application_of(settings_module: str) -> str:
    """The settings' ``WSGI_APPLICATION`` as gunicorn names it (``a.wsgi.application`` -> ``a.wsgi:application``)."""
    dotted = getattr(importlib.import_module(settings_module), "WSGI_APPLICATION", None)
    if not isinstance(dotted, str) or "." not in dotted:
        raise ImproperlyConfigured(f"{settings_module} has no WSGI_APPLICATION of the form 'module.attribute'")
    module, attribute = dotted.rsplit(".", 1)
    return f"{module}:{attribute}"


class Site:
    """What both kinds of site share: a project, and a folder of their own for everything they write.

    The site's database, uploads (``MEDIA_ROOT``), collected static files
    (``STATIC_ROOT``) and logs all live in ``tmp``, so a test run writes
    nothing into the project's own folder: a developer's ``db.sqlite3`` and
    uploads stay as they were.

    Use a site in a ``with`` statement to stop it at the end of the block.

    Args:
        project: The project to run.
        tmp: A folder of its own, for its database, uploads, static files and logs.
        env: Variables for its processes and :meth:`run_manage`, over ``project.env``
            (and over the paths above, to share a media folder, say).
    """

    def __init__(self, project: Project, tmp: Path, env: Mapping[str, str] | None = None) -> None:
        self.project = project
        self.tmp = tmp
        #: The variables its processes get, over ``project.env``.
        self.env: dict[str, str] = {
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "MEDIA_ROOT": str(tmp / "media"),
            "STATIC_ROOT": str(tmp / "static"),
            **(env or {}),
        }

    def url(self, path: str) -> str:
        """The address of ``path`` on the site's HTTP server."""
        raise NotImplementedError

    def run_manage(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run ``python manage.py ARGS`` on this site's database (and backend); return what it printed.

        Args:
            args: The command and its arguments.
            env: Variables for this command only, over the site's.

        Raises:
            AssertionError: The command failed.
        """
        return self.project.run_manage(*args, env={**self.env, **(env or {})})

    def stop(self) -> None:
        """Stop everything the site started."""
        raise NotImplementedError

    def _process(self, command: Sequence[str], log: Path, env: Mapping[str, str] | None) -> ManagedProcess:
        return ManagedProcess(
            command, self.project.process_env({**self.env, **(env or {})}), log, self.project.directory
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Runserver(Site):
    """``python manage.py runserver`` alone: HTTP, WebSockets and worker threads in one process.

    It keeps the in-memory backend (``REDIS_URL`` is empty), so only the server
    itself sees its channels and groups: :meth:`~Site.run_manage` shares its
    database, not its messages.

    Args:
        project: The project to run.
        tmp: A folder of its own, for its database, uploads and log.
        env: Variables for the server and :meth:`~Site.run_manage`, over ``project.env``.
        autoreload: Django's autoreload, off by default: a source file saved
            during the run would restart the server, and empty its memory.
    """

    def __init__(
        self, project: Project, tmp: Path, env: Mapping[str, str] | None = None, autoreload: bool = False
    ) -> None:
        super().__init__(project, tmp, {"REDIS_URL": "", **(env or {})})
        self.http_port, self.ws_port = free_port(), free_port()
        self.autoreload = autoreload
        self.process: ManagedProcess | None = None
        self.run_manage("migrate", "--no-input", "-v0")

    def start(self, timeout: float = 60.0) -> Self:
        """Start the server and wait until it answers HTTP (any status below 500); return it."""
        reload = [] if self.autoreload else ["--noreload"]
        command = self.project.manage(
            "runserver", f"127.0.0.1:{self.http_port}", "--ws-port", str(self.ws_port), *reload
        )
        self.process = self._process(command, self.tmp / "runserver.log", None)
        self.process.wait_for_output(RUNSERVER_READY, timeout)
        wait_until(lambda: (http_status(self.url("/")) or 500) < 500, timeout, what="runserver to answer")
        return self

    def url(self, path: str) -> str:
        """``http://127.0.0.1:<port><path>``."""
        return f"http://127.0.0.1:{self.http_port}{path}"

    def ws_url(self, path: str) -> str:
        """``ws://127.0.0.1:<ws port><path>``."""
        return f"ws://127.0.0.1:{self.ws_port}{path}"

    def stop(self) -> None:
        """Stop the server."""
        if self.process is not None:
            self.process.stop()


class Stack(Site):
    """The production-shaped site: a private Redis, gunicorn, ``runwsserver`` and ``runworker`` processes.

    Creating one starts Redis and migrates the site's SQLite file; start the
    processes with :meth:`start_all`, or one by one. Every process gets a
    log file in ``tmp`` named after it (``worker-1.log``).

    Args:
        project: The project to run.
        tmp: A folder of its own, for its database, uploads, static files and logs.
        env: Variables for every process and :meth:`~Site.run_manage`, over ``project.env``.
        backend_config: The ``CHANNEL_BACKENDS`` entry through which this test process
            reaches the site (:attr:`backend`), for an ``env`` that points the site at
            other servers (``CHANNELS_BACKEND=redis-cluster`` and a ``REDIS_URL`` of its
            nodes, say); default: the Redis backend on the stack's private Redis.
    """

    def __init__(
        self,
        project: Project,
        tmp: Path,
        env: Mapping[str, str] | None = None,
        backend_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.redis = RedisServer()
        self.backend_config = dict(backend_config or {})
        #: The port gunicorn will listen on, chosen now so the WebSocket servers (started first) trust its pages.
        self.http_port = free_port()
        site_env = {
            "REDIS_URL": self.redis.url,
            # Pages and sockets are on two ports here, so two origins: trust the pages' one.
            "CHANNELS_WS_ALLOWED_ORIGINS": f"http://127.0.0.1:{self.http_port}",
            **(env or {}),
        }
        super().__init__(project, tmp, site_env)
        #: The processes started so far, by name (a restart replaces its entry).
        self.processes: dict[str, ManagedProcess] = {}
        self._started: list[ManagedProcess] = []
        self.ws_ports: dict[str, int] = {}
        self._backend: BaseBackend | None = None
        self.redis.start()
        try:
            self.run_manage("migrate", "--no-input", "-v0")
        except BaseException:
            self.redis.stop()
            raise

    def collect_static(self) -> None:
        """Collect static files into ``STATIC_ROOT`` for the WSGI application (call before :meth:`start_gunicorn`)."""
        self.run_manage("collectstatic", "--no-input", "-v0")

    def start_all(self) -> Self:
        """Collect static files; start a WebSocket server (``ws``), ``project.workers`` workers and gunicorn.

        The workers (``worker-1``, ``worker-2``, …) render pages whose sockets
        go to the ``ws`` server: their ``CHANNELS_WS_URL`` is its address.
        """
        self.collect_static()
        self.start_ws()
        for number in range(1, self.project.workers + 1):
            self.start_worker(f"worker-{number}", env={"CHANNELS_WS_URL": self.ws_url("/")})
        self.start_gunicorn()
        return self

    def start_process(
        self, name: str, command: Sequence[str], ready_text: str, env: Mapping[str, str] | None = None
    ) -> ManagedProcess:
        """Start ``command`` as the process ``name`` and wait until it prints ``ready_text``.

        A process started again under the same name keeps the log of the one
        before (``ws.log``, then ``ws.2.log``).
        """
        log = self.tmp / f"{name}.log"
        restarts = 1
        while log.exists():
            restarts += 1
            log = self.tmp / f"{name}.{restarts}.log"
        process = self._process(command, log, env)
        self.processes[name] = process
        self._started.append(process)
        process.wait_for_output(ready_text, timeout=30)
        return process

    def start_worker(
        self,
        name: str = "worker",
        threads: int | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> ManagedProcess:
        """Start ``runworker --threads N ARGS``.

        Args:
            name: The process's name in :attr:`processes` and its log's.
            threads: Worker threads (default ``project.worker_threads``).
            env: Variables for this process only, over the stack's.
            args: More ``runworker`` arguments, e.g. ``["--only-channels", "thumbnailer.*"]``.
        """
        threads = threads or self.project.worker_threads
        command = self.project.manage("runworker", "--threads", str(threads), *args)
        return self.start_process(name, command, WORKER_READY, env)

    def start_ws(
        self,
        name: str = "ws",
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> ManagedProcess:
        """Start ``runwsserver ARGS``; started again under the same name, it listens on the same port.

        Args:
            args: More ``runwsserver`` arguments, e.g. ``["--metrics-port", "9101"]``.
        """
        self.ws_ports[name] = port or self.ws_ports.get(name) or free_port()
        command = self.project.manage("runwsserver", "--port", str(self.ws_ports[name]), *args)
        return self.start_process(name, command, WS_READY, env)

    def start_gunicorn(
        self, threads: int = 16, env: Mapping[str, str] | None = None, workers: int = 1
    ) -> ManagedProcess:
        """Start gunicorn (``workers`` processes of ``threads`` threads) serving the project on :attr:`http_port`."""
        config = ["-c", str(self.project.gunicorn_config)] if self.project.gunicorn_config else []
        command = [
            self.project.python, "-m", "gunicorn", *config, "--bind", f"127.0.0.1:{self.http_port}",
            "--workers", str(workers), "--threads", str(threads), self.project.wsgi_application,
        ]  # fmt: skip
        return self.start_process("gunicorn", command, GUNICORN_READY, env)

    def url(self, path: str) -> str:
        """``http://127.0.0.1:<gunicorn's port><path>``."""
        return f"http://127.0.0.1:{self.http_port}{path}"

    def ws_url(self, path: str, name: str = "ws") -> str:
        """``ws://127.0.0.1:<port of WebSocket server name><path>``."""
        return f"ws://127.0.0.1:{self.ws_ports[name]}{path}"

    @property
    def backend(self) -> BaseBackend:
        """This test process's own backend on the stack's Redis (default prefix), closed by :meth:`stop`."""
        if self._backend is None:
            config = self.backend_config or {
                "BACKEND": "channels_core.backends.redis.RedisBackend",
                "HOSTS": [self.redis.url],
            }
            self._backend = backend_from_config(config)
        return self._backend

    def stop(self) -> None:
        """Stop every process it started (those a test stopped already are left as they are), then Redis."""
        for process in self._started:
            process.stop()
        if self._backend is not None:
            self._backend.close()
        self.redis.stop()
