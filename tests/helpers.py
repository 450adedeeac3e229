"""This project as its tests run it (the processes themselves come from :mod:`channels_core.testing`)."""

from __future__ import annotations

from pathlib import Path

from channels_core.testing import Project

ROOT = Path(__file__).resolve().parent.parent

GUNICORN_CONFIG = ROOT / "config" / "gunicorn.conf.py"

#: The site under the tests' settings, with gunicorn configured as deployed: what the
#: ``channels_project`` fixture finds too (tests/conftest.py; checked in tests/channels_core/test_testing.py).
TEST_PROJECT = Project(
    directory=ROOT,
    settings_module="tests.settings",
    wsgi_application="config.wsgi:application",
    gunicorn_config=GUNICORN_CONFIG,
)
