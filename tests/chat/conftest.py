from __future__ import annotations

import pytest

from channels_core.backends import BaseBackend
from chat.models import Room


@pytest.fixture
def backend(memory_backend_with_site_history: BaseBackend) -> BaseBackend:
    """The rooms' histories kept as the site keeps them (config/settings.py's GROUP_HISTORY)."""
    return memory_backend_with_site_history


@pytest.fixture
def lobby(db) -> Room:
    return Room.objects.create(slug="lobby", title="Lobby")
