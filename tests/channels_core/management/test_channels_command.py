"""``manage.py channels`` as a user runs it (issue 20, acceptance 2): a process of its own, beside a real stack.

Two ``runwsserver`` processes on Redis announce themselves; the command, run
as a subprocess, lists them and what the test put in the backend, and stops
listing a server once it has stopped. On the in-memory backend it refuses,
saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels_core.testing import wait_until
from tests.channels_core.interfaces.stack import Stack
from tests.helpers import TEST_PROJECT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("channels-command")) as stack:
        stack.start_ws("ws-1")
        stack.start_ws("ws-2")
        yield stack


def channels_json(stack: Stack, *args: str) -> Any:
    return json.loads(stack.run_manage("channels", "--json", *args))


def test_the_command_shows_the_stacks_servers_and_what_was_sent(stack: Stack) -> None:
    for n in range(4):
        stack.backend.send("command.test", {"n": n})
    stack.backend.group_add("command-room", "!django.websocket.send.elsewhere.x")

    def both_servers_listed() -> Any:
        state = channels_json(stack)
        return state if len(state["servers"]) == 2 else None

    state = wait_until(both_servers_listed, 30, what="both WebSocket servers to be listed")
    assert state["backend"] == "RedisBackend"
    assert [(q["queue"], q["depth"]) for q in state["queues"]] == [("command.test", 4)]
    assert state["groups"] == [{"group": "command-room", "members": 1}]
    inboxes = [server["inbox"] for server in state["servers"]]
    assert all(inbox.startswith("!django.websocket.send.") for inbox in inboxes) and len(set(inboxes)) == 2

    text = stack.run_manage("channels")
    assert "Servers alive (2)" in text and "command.test" in text
    assert channels_json(stack, "--group", "command-room")["members"] == ["!django.websocket.send.elsewhere.x"]

    stack.processes["ws-2"].stop()
    left = channels_json(stack)["servers"]
    assert len(left) == 1 and left[0]["inbox"] in inboxes, "a server that stops leaves the list at once"


def test_on_the_in_memory_backend_it_refuses_and_says_why(tmp_path: Path) -> None:
    result = subprocess.run(
        TEST_PROJECT.manage("channels"),
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], **TEST_PROJECT.process_env({"REDIS_URL": "", "CHANNELS_BACKEND": "memory"})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "channels cannot use InMemoryBackend" in result.stderr
    assert "this command would only see its own, empty one" in result.stderr
    assert "the admin's Channels page of runserver" in result.stderr
