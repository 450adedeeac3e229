"""docker compose without Docker: each service's own command, run here, behind nginx on one port.

No Docker engine runs on this machine, so this test starts what the compose
file starts as local processes: a private redis-server, the PostgreSQL of
this machine (a fresh database), the migrate service's command, gunicorn,
runwsserver and two runworkers with the compose file's environment, and
Debian's nginx with deploy/nginx.conf, changed only to point at local
addresses. Then the live blog's browser scenario runs through nginx's port.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from channels_core.testing import ManagedProcess, RedisServer, free_port, http_ok, wait_until
from tests.channels_core.interfaces.stack import ADMIN_PASSWORD
from tests.conftest import require_postgres
from tests.deploy.compose import compose_config
from tests.e2e.conftest import AdminSession, BrowserFactory, ReaderPage, browser  # noqa: F401
from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def compose_services() -> dict[str, Any]:
    return compose_config()["services"]


def local(command: list[str], port: int | None = None) -> list[str]:
    """A service's command as a local process: this interpreter, and local addresses instead of the container's."""
    program = {"gunicorn": [sys.executable, "-m", "gunicorn"], "python": [sys.executable]}.get(command[0], command[:1])
    local_values = {"--bind": f"127.0.0.1:{port}", "--port": str(port), "--host": "127.0.0.1"}
    args = list(command[1:])
    for index, option in enumerate(args[:-1]):
        if option in local_values and port is not None:
            args[index + 1] = local_values[option]
    return [*program, *args]


class ComposeHere:
    """The compose services as local processes, with nginx as the one origin."""

    def __init__(self, tmp: Path, database_url: str) -> None:
        self.tmp = tmp
        self.services = compose_services()
        self.redis = RedisServer().start()
        self.processes: list[ManagedProcess] = []
        environment = dict(self.services["web"]["environment"])
        self.port, web_port, ws_port = free_port(), free_port(), free_port()
        self.env = {
            **environment,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",  # as the Dockerfile sets it (not the tests' settings)
            "REDIS_URL": self.redis.url,
            "DATABASE_URL": database_url,
            "MEDIA_ROOT": str(tmp / "media"),
            "STATIC_ROOT": str(tmp / "static"),
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "CSRF_TRUSTED_ORIGINS": f"http://localhost:{self.port}",
            "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
        }
        self.run(["python", "manage.py", "collectstatic", "--no-input", "-v0"])  # the Dockerfile's build step
        self.run(self.services["migrate"]["command"])
        self.run(
            [
                "python",
                "manage.py",
                "createsuperuser",
                "--no-input",
                "--username",
                "admin",
                "--email",
                "admin@example.com",
            ]
        )
        self.start("web", local(self.services["web"]["command"], web_port), "Booting worker")
        self.start("ws", local(self.services["ws"]["command"], ws_port), "WebSocket server listening")
        for replica in range(self.services["worker"]["deploy"]["replicas"]):
            self.start(f"worker-{replica}", local(self.services["worker"]["command"]), "Worker listening on")
        self.start_nginx(web_port, ws_port)

    def run(self, command: list[str]) -> str:
        result = subprocess.run(
            # The virtualenv first on PATH, as the image's Python is in the container (`sh -c "python ..."`).
            local(command), cwd=ROOT, env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", **self.env},
            capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, f"{command}: {result.stderr}"
        return result.stdout

    def run_manage(self, *args: str) -> str:
        return self.run(["python", "manage.py", *args])

    def start(self, name: str, command: list[str], ready: str) -> None:
        process = ManagedProcess(command, self.env, self.tmp / f"{name}.log", cwd=ROOT)
        self.processes.append(process)
        process.wait_for_output(ready, timeout=60)

    def start_nginx(self, web_port: int, ws_port: int) -> None:
        """deploy/nginx.conf with local addresses: the upstreams, the port, the media folder."""
        config = (ROOT / "deploy" / "nginx.conf").read_text()
        config = config.replace("server web:8000;", f"server 127.0.0.1:{web_port};")
        config = config.replace("server ws:8001;", f"server 127.0.0.1:{ws_port};")
        config = config.replace("listen 8000;", f"listen 127.0.0.1:{self.port};")
        config = config.replace("alias /srv/media/;", f"alias {self.tmp / 'media'}/;")
        path = self.tmp / "nginx.conf"
        path.write_text(config)
        command = ["/usr/sbin/nginx", "-c", str(path), "-p", str(self.tmp),
                   "-g", f"daemon off; pid {self.tmp / 'nginx.pid'}; error_log stderr;"]  # fmt: skip
        self.processes.append(ManagedProcess(command, {}, self.tmp / "nginx.log"))
        wait_until(lambda: http_ok(self.url("/static/site.css")), timeout=20, what="nginx to serve")

    def url(self, path: str) -> str:
        return f"http://localhost:{self.port}{path}"

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.redis.stop()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    require_postgres()
    from django.conf import settings

    name = f"edd_parity_{os.getpid()}"
    with psycopg.connect(settings.TEST_POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield re.sub(r"/[^/]*$", f"/{name}", settings.TEST_POSTGRES_URL)
    with psycopg.connect(settings.TEST_POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def here(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[ComposeHere]:
    site = ComposeHere(tmp_path_factory.mktemp("compose"), database_url)
    try:
        yield site
    finally:
        site.stop()


def test_the_live_blog_works_through_nginx_on_one_port(here: ComposeHere, browser: BrowserFactory) -> None:  # noqa: F811
    reader = ReaderPage(browser(), here.url("/liveblog/keynote/")).open()  # loaddemo's blog
    assert reader.stream_url == "/ws/liveblog/keynote/stream/", "sockets go through nginx, same origin"
    reader.wait_until_joined()
    admin = AdminSession(browser(), here)
    post_id = admin.add_post("Keynote, live", "Through nginx, on one port.")
    reader.wait_for_pushed("created", post_id)
    reader.wait_for_post(post_id, "Through nginx, on one port.")
    admin.edit_post(post_id, "Through nginx, edited.")
    reader.wait_for_post(post_id, "Through nginx, edited.")
    admin.delete_post(post_id)
    reader.wait_for_no_post(post_id)
    assert reader.not_reloaded()
