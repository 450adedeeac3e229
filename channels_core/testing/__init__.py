"""pytest fixtures that start a site as real processes, for browser and end-to-end tests.

Enable them in the ``conftest.py`` at the top of your tests::

    pytest_plugins = ["channels_core.testing"]

Two sites, each started once per test module and stopped after it:

``channels_runserver``
    ``python manage.py runserver`` alone (a :class:`Runserver`): HTTP,
    WebSockets and worker threads in one process, on the in-memory backend.
``channels_stack``
    The production shape (a :class:`Stack`): a private ``redis-server`` on a
    free port, gunicorn, ``runwsserver`` and ``runworker`` processes.

Both run the project of the session-scoped ``channels_project`` fixture, a
:class:`Project` found from pytest's rootdir (see :meth:`Project.discover`).
Override that fixture to change the project's folder, settings, WSGI
application, gunicorn configuration, environment or number of workers::

    @pytest.fixture(scope="session")
    def channels_project(channels_project):
        return dataclasses.replace(channels_project, workers=2)

For another arrangement of processes, write a fixture of your own with the
classes (``Stack(project, tmp).start_ws("ws-2")``, and so on). Every wait
polls a condition until a deadline (:func:`wait_until`); nothing sleeps for a
fixed time.

The sites tell the project's settings where things are through environment
variables; settings that read them (as this project's ``config/settings.py``
does) need nothing else. Everything a site writes goes into its own
temporary folder (``<tmp>``), so tests leave the developer's database and
uploads as they were; a site's ``env`` argument overrides any of these:

``DATABASE_URL``
    ``sqlite:///<tmp>/db.sqlite3``: one file, migrated first, that every
    process of a site and :meth:`Site.run_manage` share.
``REDIS_URL``
    The stack's private Redis, for ``CHANNEL_BACKENDS``; empty under
    :class:`Runserver`, which keeps the in-memory backend.
``MEDIA_ROOT``
    ``<tmp>/media``: where the site keeps uploads (and, here, the
    thumbnails made of them), never the project's own ``media/``.
``STATIC_ROOT``
    ``<tmp>/static``: where :meth:`Stack.collect_static` collects, for the
    WSGI application to serve (this project's serves them with WhiteNoise).
``CHANNELS_WS_URL``
    Given to the workers :meth:`Stack.start_all` starts: the address of the
    WebSocket server their pages connect to.
``CHANNELS_WS_ALLOWED_ORIGINS``
    ``http://127.0.0.1:<gunicorn's port>`` under :class:`Stack`: its pages
    and its sockets are on two ports, so two origins, and the WebSocket
    servers accept only pages of their own origin and of these.
``DJANGO_SETTINGS_MODULE``, ``PYTHONUNBUFFERED=1``
    The project's settings, and output as it happens: a start waits for the
    process's "ready" line.

This package imports pytest: import it from tests only. pytest leaves its
assertions as they are (PYTEST_DONT_REWRITE), so a conftest.py may import from
it before naming it in ``pytest_plugins``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .postgres import PostgresServer
from .processes import ManagedProcess, RedisServer, free_port, http_ok, http_status, wait_past, wait_until
from .redis_cluster import RedisCluster
from .redis_sentinel import RedisSentinels
from .stacks import Project, Runserver, Site, Stack

# In the reference's order: the fixtures, the sites, then the pieces they are made of.
__all__ = [  # noqa: RUF022
    "channels_project",
    "channels_runserver",
    "channels_stack",
    "Project",
    "Site",
    "Runserver",
    "Stack",
    "RedisServer",
    "RedisCluster",
    "RedisSentinels",
    "PostgresServer",
    "ManagedProcess",
    "wait_until",
    "wait_past",
    "free_port",
    "http_status",
    "http_ok",
]


@pytest.fixture(scope="session")
def channels_project(pytestconfig: pytest.Config) -> Project:
    """Fixture, once per session: the :class:`Project` the site fixtures run.

    :meth:`Project.discover` from pytest's rootdir; override it to change the project.
    """
    return Project.discover(pytestconfig.rootpath)


@pytest.fixture(scope="module")
def channels_runserver(channels_project: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runserver]:
    """Fixture, once per test module: a :class:`Runserver` on a fresh database, started."""
    with Runserver(channels_project, tmp_path_factory.mktemp("channels-runserver")) as server:
        yield server.start()


@pytest.fixture(scope="module")
def channels_stack(channels_project: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Fixture, once per test module: a :class:`Stack` on a fresh database, with every process started.

    One ``runwsserver``, ``channels_project.workers`` workers and gunicorn; see :meth:`Stack.start_all`.
    """
    with Stack(channels_project, tmp_path_factory.mktemp("channels-stack")) as stack:
        yield stack.start_all()
