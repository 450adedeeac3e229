"""The backend fixture: every contract test runs once per backend, unchanged.

``make_backend(**config)`` builds the backend under test with extra
``CHANNEL_BACKENDS`` keys (``EXPIRY=1``, ...); every backend it built is
flushed and closed after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from channels_core.backends import BaseBackend, backend_from_config
from tests.conftest import require_postgres

BASE_CONFIG: dict[str, Any] = {
    "EXPIRY": 60,
    "GROUP_EXPIRY": 120,
    "CAPACITY": 100,
    "CHANNEL_CAPACITY": {"bulk.*": 1000, "tiny.one": 1, "glob.*": 2, "!tiny.*": 1, "!django.websocket.send.tiny": 1},
}

_transactional = pytest.mark.django_db(transaction=True)
BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("database-sqlite", id="database-sqlite", marks=_transactional),
    pytest.param(
        "database-postgres",
        id="database-postgres",
        marks=pytest.mark.django_db(transaction=True, databases=["default", "postgres"]),
    ),
    pytest.param("redis", id="redis"),
    pytest.param("redis-sharded", id="redis-sharded"),
    pytest.param("redis-cluster", id="redis-cluster"),
]

MakeBackend = Callable[..., BaseBackend]


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    if kind == "database-postgres":
        require_postgres()
    return kind


@pytest.fixture
def make_backend(request: pytest.FixtureRequest, backend_kind: str) -> Iterator[MakeBackend]:
    built: list[BaseBackend] = []

    def make(**overrides: Any) -> BaseBackend:
        config = {**BASE_CONFIG, **overrides}
        if backend_kind == "memory":
            config["BACKEND"] = "channels_core.backends.memory.InMemoryBackend"
        elif backend_kind.startswith("database"):
            config["BACKEND"] = "channels_core.backends.database.DatabaseBackend"
            config["DATABASE"] = "postgres" if backend_kind.endswith("postgres") else "default"
            config["POLL_INTERVAL"] = 0.02
        elif backend_kind == "redis-cluster":
            config["BACKEND"] = "channels_core.backends.redis_cluster.RedisClusterBackend"
            config["HOSTS"] = request.getfixturevalue("redis_cluster").urls
            config["PREFIX"] = "contract:"
        else:
            servers = (
                request.getfixturevalue("redis_shards")
                if backend_kind == "redis-sharded"
                else [request.getfixturevalue("redis_server")]
            )
            config["BACKEND"] = "channels_core.backends.redis.RedisBackend"
            config["HOSTS"] = [server.url for server in servers]
            config["PREFIX"] = "contract:"
        backend = backend_from_config(config)
        backend.flush()
        built.append(backend)
        return backend

    yield make
    for backend in built:
        backend.flush()
        backend.close()


@pytest.fixture
def backend(make_backend: MakeBackend) -> BaseBackend:
    return make_backend()
