from __future__ import annotations

from collections.abc import Iterator

import pytest

from channels_core.backends import BaseBackend, backends, get_backend
from liveblog.models import Liveblog


@pytest.fixture
def memory_backend(settings) -> Iterator[BaseBackend]:
    """A fresh in-memory backend as the default, as under runserver."""
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": "channels_core.backends.memory.InMemoryBackend"}}
    backends.reset()
    yield get_backend()
    backends.reset()


@pytest.fixture
def keynote(db) -> Liveblog:
    return Liveblog.objects.create(slug="keynote", title="Keynote, live", description="As it happens.")
