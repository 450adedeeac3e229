"""The production-shaped stack as real processes: redis-server, gunicorn, runwsserver, runworker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from channels_core.backends import BaseBackend, backend_from_config
from tests.helpers import ROOT, ManagedProcess, RedisServer, free_port, manage

ADMIN_PASSWORD = "correct horse battery staple"


class Stack:
    """Processes started the way the README starts them, sharing one Redis and one SQLite file."""

    def __init__(self, tmp: Path, **settings: str) -> None:
        self.tmp = tmp
        self.redis = RedisServer().start()
        self.records = tmp / "records.txt"
        self.records.touch()
        self.env = {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONUNBUFFERED": "1",
            "REDIS_URL": self.redis.url,
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "DEBUG": "0",
            "SECRET_KEY": "test-secret-key-for-the-stack",
            "SECURE_COOKIES": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CHANNELS_HTTP_TIMEOUT": "5",
            "TEST_RECORD_PATH": str(self.records),
            "STATIC_ROOT": str(tmp / "static"),  # filled by collect_static()
            **settings,
        }
        self.processes: dict[str, ManagedProcess] = {}
        self.http_port = 0
        self.ws_ports: dict[str, int] = {}
        self._backend: BaseBackend | None = None
        self._run(manage("migrate", "--no-input", "-v0"))
        self._run(manage("createsuperuser", "--no-input", "--username", "admin", "--email", "admin@example.com"))

    def _run(self, command: list[str]) -> str:
        env = {**self.env, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD}
        result = subprocess.run(
            command, cwd=ROOT, env={"PATH": "/usr/bin:/bin", **env}, timeout=120, capture_output=True
        )
        if result.returncode:
            raise AssertionError(f"{command} exited with {result.returncode}:\n{result.stderr.decode()}")
        return result.stdout.decode()

    def run_manage(self, *args: str) -> str:
        """Run ``python manage.py ARGS`` against the stack's database and Redis; return its output."""
        return self._run(manage(*args))

    def collect_static(self) -> None:
        """Collect static files for gunicorn's WhiteNoise to serve (call before ``start_gunicorn``)."""
        self.run_manage("collectstatic", "--no-input", "-v0")

    def _start(self, name: str, command: list[str], ready_text: str, env: dict[str, str] | None) -> ManagedProcess:
        log = self.tmp / f"{name}.log"
        restarts = 1
        while log.exists():  # a restarted process keeps the log of the one before
            restarts += 1
            log = self.tmp / f"{name}.{restarts}.log"
        process = ManagedProcess(command, {**self.env, **(env or {})}, log)
        self.processes[name] = process
        process.wait_for_output(ready_text, timeout=30)
        return process

    def start_worker(self, name: str = "worker", threads: int = 4, env: dict[str, str] | None = None) -> ManagedProcess:
        """Start ``runworker``; ``env`` adds to (or overrides) the stack's environment for this process only."""
        return self._start(name, manage("runworker", "--threads", str(threads)), "Worker listening on", env)

    def start_ws(self, name: str = "ws", port: int | None = None) -> ManagedProcess:
        """Start ``runwsserver``; started again under the same name, it listens on the same port."""
        self.ws_ports[name] = port or self.ws_ports.get(name) or free_port()
        command = manage("runwsserver", "--port", str(self.ws_ports[name]))
        return self._start(name, command, "WebSocket server listening", None)

    def start_gunicorn(self) -> ManagedProcess:
        self.http_port = free_port()
        command = [
            sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
            "--bind", f"127.0.0.1:{self.http_port}", "--workers", "1", "--threads", "16", "config.wsgi",
        ]  # fmt: skip
        return self._start("gunicorn", command, "Booting worker", None)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def ws_url(self, path: str, name: str = "ws") -> str:
        return f"ws://127.0.0.1:{self.ws_ports[name]}{path}"

    @property
    def backend(self) -> BaseBackend:
        """This test process's own view of the stack's Redis."""
        if self._backend is None:
            config: dict[str, Any] = {"BACKEND": "channels_core.backends.redis.RedisBackend", "HOSTS": [self.redis.url]}
            self._backend = backend_from_config(config)
        return self._backend

    def records_lines(self) -> list[str]:
        return self.records.read_text().splitlines()

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        if self._backend is not None:
            self._backend.close()
        self.redis.stop()
