from __future__ import annotations

import pytest

from channels_core.backends import BaseBackend
from liveblog.models import Liveblog


@pytest.fixture
def keynote(db) -> Liveblog:
    return Liveblog.objects.create(slug="keynote", title="Keynote, live", description="As it happens.")


@pytest.fixture
def memory_backend(memory_backend_with_site_history: BaseBackend) -> BaseBackend:
    """The blogs' histories kept as the site keeps them (config/settings.py's GROUP_HISTORY)."""
    return memory_backend_with_site_history
