from __future__ import annotations

from collections.abc import Iterator

import pytest

from channels_core.backends import BaseBackend, backends, get_backend
from chat.models import Room


@pytest.fixture
def backend(settings) -> Iterator[BaseBackend]:
    """A fresh in-memory backend as the default, keeping the rooms' histories as the site does."""
    site_history = settings.CHANNEL_BACKENDS["default"]["GROUP_HISTORY"]  # config/settings.py's
    settings.CHANNEL_BACKENDS = {
        "default": {"BACKEND": "channels_core.backends.memory.InMemoryBackend", "GROUP_HISTORY": site_history}
    }
    backends.reset()
    yield get_backend()
    backends.reset()


@pytest.fixture
def lobby(db) -> Room:
    return Room.objects.create(slug="lobby", title="Lobby")
