"""Fixtures shared by the whole suite: sites as real processes, private Redis servers, PostgreSQL availability,
a fresh in-memory backend."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import psycopg
import pytest
from django.conf import settings

from channels_core.backends import BaseBackend, backends, get_backend
from channels_core.testing import Project, RedisCluster, RedisServer
from tests.helpers import GUNICORN_CONFIG

# The site as real processes: the fixtures channels_runserver and channels_stack.
pytest_plugins = ["channels_core.testing", "pytester"]  # pytester: for the plugin's own tests

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def postgres_reachable() -> str | None:
    """``None`` if the test PostgreSQL answers, else why not."""
    url = settings.TEST_POSTGRES_URL
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.OperationalError as error:
        return f"PostgreSQL at {url} is not reachable ({str(error).strip()})"
    return None


def require_postgres() -> None:
    """Skip (fail in CI) when PostgreSQL is not there."""
    problem = postgres_reachable()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"{problem}; CI must run the PostgreSQL cases")
    pytest.skip(f"{problem}; start it or set TEST_POSTGRES_URL to run the PostgreSQL cases")


@pytest.fixture(scope="session")
def channels_project(channels_project: Project) -> Project:
    """The project the plugin found (manage.py here, tests.settings), with gunicorn configured as deployed."""
    return dataclasses.replace(channels_project, gunicorn_config=GUNICORN_CONFIG)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One private redis-server for the session."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_shards() -> Iterator[list[RedisServer]]:
    """Three private redis-servers, for the sharded backend."""
    servers = [RedisServer().start() for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A private Redis Cluster for the session: 3 primaries with a replica each.

    Tests that kill or reshard nodes start a cluster of their own, so this one stays whole.
    """
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def memory_backend(settings) -> Iterator[BaseBackend]:
    """A fresh in-memory backend as the default, as under runserver."""
    yield from _fresh_memory_backend(settings, {})


@pytest.fixture
def memory_backend_with_site_history(settings) -> Iterator[BaseBackend]:
    """A fresh in-memory backend as the default, keeping the demos' group histories as the site does."""
    yield from _fresh_memory_backend(settings, {"GROUP_HISTORY": settings.CHANNEL_BACKENDS["default"]["GROUP_HISTORY"]})


def _fresh_memory_backend(settings, config: dict[str, object]) -> Iterator[BaseBackend]:
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": "channels_core.backends.memory.InMemoryBackend", **config}}
    backends.reset()
    yield get_backend()
    backends.reset()
