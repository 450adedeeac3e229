"""The pytest plugin ``channels_core.testing``: found projects, waits, processes, and both sites in a user's project.

The last test is the plugin's acceptance: a project of its own (not this
one), whose conftest.py only names the plugin, gets a working ``runserver``
and a working stack of separate processes, in a pytest run of its own.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from channels_core.testing import ManagedProcess, Project, free_port, http_status, wait_until
from tests.helpers import ROOT, TEST_PROJECT

# Finding the project.


def test_the_fixture_finds_this_project(channels_project: Project) -> None:
    """manage.py at the rootdir, pytest-django's settings, gunicorn serving settings.WSGI_APPLICATION."""
    assert channels_project == TEST_PROJECT  # tests/conftest.py adds only the gunicorn configuration


def test_manage_py_is_found_in_a_folder_above(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "config.settings")
    project = Project.discover(ROOT / "tests" / "e2e")
    assert (project.directory, project.settings_module) == (ROOT, "config.settings")
    assert project.wsgi_application == "config.wsgi:application"
    assert project.manage("check") == [sys.executable, str(ROOT / "manage.py"), "check"]


def test_no_manage_py_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="override the channels_project fixture"):
        Project.discover(tmp_path)


def test_no_settings_module_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SETTINGS_MODULE is not set"):
        Project.discover(ROOT)


# Waits and processes.


def test_wait_until_returns_what_the_condition_returned() -> None:
    calls = iter([None, 0, "ready"])
    assert wait_until(lambda: next(calls), timeout=5) == "ready"


def test_wait_until_fails_after_its_deadline_naming_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"timed out after 0\.2 s waiting for the moon"):
        wait_until(lambda: False, timeout=0.2, what="the moon")
    assert time.monotonic() - started < 5


def test_http_status_is_none_while_nothing_listens() -> None:
    assert http_status(f"http://127.0.0.1:{free_port()}/") is None


def test_a_process_that_exits_before_it_is_ready_fails_the_wait_with_its_output(tmp_path: Path) -> None:
    process = ManagedProcess([sys.executable, "-c", "print('no such luck')"], {}, tmp_path / "quitter.log")
    try:
        with pytest.raises(AssertionError, match=r"(?s)process exited \(0\) before printing 'ready'.*no such luck"):
            process.wait_for_output("ready")
    finally:
        assert process.stop() == 0


# A user's project, in a pytest run of its own.

USER_PROJECT = {
    "manage.py": """
        import os
        import sys

        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
            from django.core.management import execute_from_command_line

            execute_from_command_line(sys.argv)
    """,
    # The settings read what the plugin's fixtures set: DATABASE_URL, REDIS_URL, STATIC_ROOT, CHANNELS_WS_URL.
    "mysite/settings.py": """
        import os
        from pathlib import Path

        import dj_database_url

        BASE_DIR = Path(__file__).resolve().parent.parent
        SECRET_KEY = "only-for-this-test"
        DEBUG = True
        ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
        INSTALLED_APPS = ["channels_core", "django.contrib.staticfiles", "echo"]
        ROOT_URLCONF = "mysite.urls"
        WSGI_APPLICATION = "mysite.wsgi.application"
        DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL", "sqlite:///db.sqlite3"))}
        STATIC_URL = "static/"
        STATIC_ROOT = os.environ.get("STATIC_ROOT", str(BASE_DIR / "static"))
        if os.environ.get("REDIS_URL"):
            CHANNEL_BACKENDS = {
                "default": {"BACKEND": "channels_core.backends.redis.RedisBackend", "HOSTS": [os.environ["REDIS_URL"]]}
            }
        CHANNELS_WS_URL = os.environ.get("CHANNELS_WS_URL", "")
    """,
    "mysite/__init__.py": "",
    "mysite/urls.py": """
        from django.http import HttpResponse
        from django.urls import path

        urlpatterns = [path("", lambda request: HttpResponse("hello from mysite"))]
    """,
    "mysite/wsgi.py": """
        import os

        import django

        from channels_core.interfaces.wsgi import WsgiAdapter

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        django.setup(set_prefix=False)
        application = WsgiAdapter()
    """,
    "echo/__init__.py": "",
    "echo/consumers.py": """
        from channels_core import Channel
        from channels_core.decorators import consumer


        @consumer("django.websocket.connect", path=r"^/echo/$")
        def connect(**kwargs):
            pass


        @consumer("django.websocket.receive", path=r"^/echo/$")
        def echo(send_channel, text, **kwargs):
            Channel(send_channel).send(text=text)
    """,
    "conftest.py": """
        pytest_plugins = ["channels_core.testing"]
    """,
    "test_site.py": """
        import urllib.request

        from websockets.sync.client import connect


        def page_and_echo(url, ws_url):
            with urllib.request.urlopen(url, timeout=20) as response:
                assert response.read() == b"hello from mysite"
            with connect(ws_url, open_timeout=10) as socket:
                socket.send("through channels")
                assert socket.recv(timeout=10) == "through channels"


        def test_runserver(channels_runserver):
            page_and_echo(channels_runserver.url("/"), channels_runserver.ws_url("/echo/"))


        def test_stack(channels_stack):
            assert sorted(channels_stack.processes) == ["gunicorn", "worker-1", "ws"]
            page_and_echo(channels_stack.url("/"), channels_stack.ws_url("/echo/"))
    """,
}


@pytest.mark.slow
def test_a_projects_conftest_naming_the_plugin_gets_both_sites(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, text in USER_PROJECT.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "mysite.settings")  # as pytest-django would set it
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", timeout=180)
    result.assert_outcomes(passed=2)
