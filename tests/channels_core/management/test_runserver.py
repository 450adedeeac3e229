"""``python manage.py runserver`` alone serves pages and WebSockets on the in-memory backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from channels_core.testing import Runserver
from tests.helpers import TEST_PROJECT

pytestmark = pytest.mark.slow


@pytest.fixture
def runserver(tmp_path: Path) -> Iterator[Runserver]:
    """As a newcomer runs it: with Django's autoreload."""
    with Runserver(TEST_PROJECT, tmp_path, autoreload=True) as server:
        yield server.start()


def test_runserver_alone_serves_pages_static_files_and_websockets(runserver: Runserver) -> None:
    assert runserver.process is not None
    assert f"WebSockets on ws://127.0.0.1:{runserver.ws_port}/" in runserver.process.output()
    page = requests.get(runserver.url("/"), timeout=10)
    assert page.status_code == 200 and "Event-driven Django" in page.text
    script = requests.get(runserver.url("/static/channels_core/socket.js"), timeout=10)
    assert script.status_code == 200 and "ChannelsSocket" in script.text
    # runserver's own pages: the socket's host, on runserver's HTTP port.
    origin = f"http://127.0.0.1:{runserver.http_port}"
    with connect(runserver.ws_url("/echo/"), origin=origin, open_timeout=10) as socket:
        socket.send("through the in-memory backend")
        assert socket.recv(timeout=10) == "through the in-memory backend"
