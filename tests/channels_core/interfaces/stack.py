"""The production-shaped stack as the tests run it: the library's Stack with DEBUG off and a staff user."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from channels_core import testing
from tests.helpers import TEST_PROJECT

ADMIN_PASSWORD = "correct horse battery staple"


def create_admin(site: testing.Stack | testing.Runserver) -> None:
    """Create the staff user ``admin`` (password :data:`ADMIN_PASSWORD`) in the site's database."""
    site.run_manage(
        "createsuperuser", "--no-input", "--username", "admin", "--email", "admin@example.com",
        env={"DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
    )  # fmt: skip


class Stack(testing.Stack):
    """Redis, SQLite, the staff user, and a record file the test consumers append to; no process started yet.

    ``env`` adds to (or overrides) the environment of every process: settings
    such as ``CHANNELS_GROUP_EXPIRY="5"``. ``backend_config`` is how this test
    process reaches the site, when ``env`` points it at other servers.
    """

    def __init__(self, tmp: Path, backend_config: Mapping[str, Any] | None = None, **env: str) -> None:
        self.records = tmp / "records.txt"
        self.records.touch()
        production = {
            "DEBUG": "0",
            "SECRET_KEY": "test-secret-key-for-the-stack",
            "SECURE_COOKIES": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CHANNELS_HTTP_TIMEOUT": "5",
            "TEST_RECORD_PATH": str(self.records),
        }
        super().__init__(TEST_PROJECT, tmp, {**production, **env}, backend_config)
        try:
            create_admin(self)
        except BaseException:
            self.stop()
            raise

    def records_lines(self) -> list[str]:
        return self.records.read_text().splitlines()
