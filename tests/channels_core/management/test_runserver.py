"""``python manage.py runserver`` alone serves pages and WebSockets on the in-memory backend."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from tests.helpers import ROOT, ManagedProcess, free_port, http_get_when_up, manage, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def runserver(tmp_path: Path) -> Iterator[tuple[ManagedProcess, int, int]]:
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    subprocess.run(manage("migrate", "--no-input", "-v0"), cwd=ROOT, env={"PATH": "/usr/bin:/bin", **env}, check=True)
    http_port, ws_port = free_port(), free_port()
    server = ManagedProcess(
        manage("runserver", f"127.0.0.1:{http_port}", "--ws-port", str(ws_port)), env, tmp_path / "runserver.log"
    )
    try:
        server.wait_for_output("Starting development server", timeout=60)
        yield server, http_port, ws_port
    finally:
        server.stop()


def test_runserver_alone_serves_pages_static_files_and_websockets(runserver: tuple[ManagedProcess, int, int]) -> None:
    server, http_port, ws_port = runserver
    assert f"WebSockets on ws://127.0.0.1:{ws_port}/" in server.output()
    page = wait_until(lambda: http_get_when_up(f"http://127.0.0.1:{http_port}/"), what="the home page")
    assert page.status_code == 200 and "Event-driven Django" in page.text
    script = requests.get(f"http://127.0.0.1:{http_port}/static/channels_core/socket.js", timeout=10)
    assert script.status_code == 200 and "ChannelsSocket" in script.text
    with connect(f"ws://127.0.0.1:{ws_port}/echo/", origin=f"http://localhost:{http_port}", open_timeout=10) as socket:
        socket.send("through the in-memory backend")
        assert socket.recv(timeout=10) == "through the in-memory backend"
