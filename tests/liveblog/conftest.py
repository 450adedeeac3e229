from __future__ import annotations

import pytest

from liveblog.models import Liveblog


@pytest.fixture
def keynote(db) -> Liveblog:
    return Liveblog.objects.create(slug="keynote", title="Keynote, live", description="As it happens.")
