"""Commands that would silently do nothing on the in-memory backend say so and exit non-zero (issue 16).

``runworker``, ``runwsserver`` and ``resubmit_thumbnails`` run as processes of
their own refuse a backend that keeps messages inside one process, with one
explanation (``require_shared_backend``). ``loaddemo``, which ``make run``
runs on the in-memory backend before ``runserver`` starts, only creates rows:
it keeps working there.
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from channels_core.backends import get_backend
from channels_core.backends.memory import InMemoryBackend
from channels_core.management.shared_backend import require_shared_backend
from tests.helpers import TEST_PROJECT

#: The advice every refusal ends with.
SHARED_BACKENDS = (
    "CHANNEL_BACKENDS to the Redis backend (set REDIS_URL) or the database backend (set CHANNELS_BACKEND=database)"
)


class SharedMemory(InMemoryBackend):
    """Stands for a backend other processes share."""

    cross_process = True


def manage(tmp_path: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``manage.py ARGS`` as a process of its own, on a database in ``tmp_path``; failures returned, not raised."""
    site = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "MEDIA_ROOT": str(tmp_path / "media")}
    return subprocess.run(
        TEST_PROJECT.manage(*args),
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], **TEST_PROJECT.process_env({**site, **(env or {})})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_one_process_backend_is_refused_with_what_to_do(memory_backend) -> None:
    with pytest.raises(CommandError) as caught:
        require_shared_backend("mycommand", lost="nobody would hear it")
    assert str(caught.value) == (
        "mycommand cannot use InMemoryBackend (CHANNEL_BACKENDS['default']): it keeps messages inside one "
        f"process, so nobody would hear it. Switch {SHARED_BACKENDS}, for the site and this command alike."
    )


def test_a_process_of_the_site_is_told_about_runserver_too(memory_backend) -> None:
    with pytest.raises(CommandError, match=r"Use `runserver`, or switch CHANNEL_BACKENDS to the Redis backend"):
        require_shared_backend("runworker", lost="a separate worker would never see them", instead="`runserver`")


def test_a_shared_backend_is_returned(settings) -> None:
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": f"{__name__}.SharedMemory"}}
    assert require_shared_backend("mycommand", lost="nobody would hear it") is get_backend()


def test_resubmit_thumbnails_on_its_own_refuses_the_in_memory_backend(tmp_path: Path) -> None:
    result = manage(tmp_path, "resubmit_thumbnails")
    assert result.returncode == 1
    assert result.stdout == "", "no report of work that was not done"
    assert result.stderr.startswith(
        "CommandError: resubmit_thumbnails cannot use InMemoryBackend (CHANNEL_BACKENDS['default']): "
        "it keeps messages inside one process, so no worker would ever see the images it resubmits, "
        "not even runserver's."
    )
    assert SHARED_BACKENDS in result.stderr


def test_runwsserver_refuses_the_in_memory_backend(tmp_path: Path) -> None:
    result = manage(tmp_path, "runwsserver", "--port", "1")
    assert result.returncode == 1
    assert result.stderr.startswith("CommandError: runwsserver cannot use InMemoryBackend")
    assert "Use `python manage.py runserver`, which runs everything in one process" in result.stderr


@pytest.mark.django_db
def test_resubmit_thumbnails_called_inside_a_process_runs_on_its_backend(memory_backend) -> None:
    """Called with call_command, it shares the caller's backend (and workers): a test, or runserver's process."""
    out = io.StringIO()
    call_command("resubmit_thumbnails", stdout=out)
    assert out.getvalue() == "Resubmitted 0 pending image(s).\n"


@pytest.mark.slow
def test_loaddemo_runs_on_the_in_memory_backend_and_resubmit_on_the_database_one(tmp_path: Path) -> None:
    """``make run``'s loaddemo keeps working on the in-memory backend; on a shared one the retry runs."""
    migrated = manage(tmp_path, "migrate", "--no-input", "-v0")
    assert migrated.returncode == 0, migrated.stderr
    demo = manage(tmp_path, "loaddemo")
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.startswith("Demo content created: /liveblog/keynote/")
    retry = manage(tmp_path, "resubmit_thumbnails", env={"CHANNELS_BACKEND": "database"})
    assert (retry.returncode, retry.stdout) == (0, "Resubmitted 0 pending image(s).\n"), retry.stderr
