"""The admin's "Channels" page (issue 20): staff see the backend's state, everyone else the login page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from channels_core.backends import BaseBackend, backends

PAGE = "/admin/channels_core/queuedmessage/"
STATE = "/admin/channels_core/queuedmessage/state.json"

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_user("staff", is_staff=True))  # no model permission at all
    return client


def test_staff_see_the_page_and_its_state(staff: Client, memory_backend: BaseBackend) -> None:
    memory_backend.send("admin.test", {"n": 1})
    memory_backend.send("admin.test", {"n": 2})
    memory_backend.group_add("room", "!django.websocket.send.s.a")

    page = staff.get(PAGE)
    assert page.status_code == 200
    assert b'id="channels-inspector"' in page.content and b"channels_core/inspector.js" in page.content
    assert b"keeps messages inside one process" in page.content, "the in-memory backend is said to be one process's"

    state = staff.get(STATE).json()
    assert [(q["queue"], q["depth"]) for q in state["queues"]] == [("admin.test", 2)]
    assert state["groups"] == [{"group": "room", "members": 1}]


def test_the_admin_index_links_to_the_page(staff: Client, memory_backend: BaseBackend) -> None:
    assert f'href="{PAGE}"'.encode() in staff.get("/admin/").content


def test_an_unknown_alias_is_not_found(staff: Client, memory_backend: BaseBackend) -> None:
    assert staff.get(STATE, {"alias": "nope"}).status_code == 404


def test_nothing_can_be_added_or_changed_through_it(staff: Client, memory_backend: BaseBackend) -> None:
    assert staff.get(f"{PAGE}add/").status_code == 404
    admin = Client()
    admin.force_login(User.objects.create_superuser("root"))
    assert admin.get(f"{PAGE}add/").status_code == 404, "not even a superuser"


@pytest.mark.parametrize("url", [PAGE, STATE])
@pytest.mark.parametrize("who", ["anonymous", "not staff"])
def test_anyone_else_gets_the_login_page(url: str, who: str, memory_backend: BaseBackend) -> None:
    client = Client()
    if who == "not staff":
        client.force_login(User.objects.create_user("visitor"))
    response = client.get(url, follow=True)
    assert response.redirect_chain[0][0].startswith(f"/admin/login/?next={url}")
    assert b'id="login-form"' in response.content
    assert b"admin.test" not in response.content


def test_a_backend_that_cannot_be_reached_is_said_so(staff: Client, settings) -> None:
    # A Redis backend on a port nothing listens on (port 1 is reserved and unused).
    settings.CHANNEL_BACKENDS = {
        "default": {"BACKEND": "channels_core.backends.redis.RedisBackend", "HOSTS": ["redis://127.0.0.1:1/0"]}
    }
    backends.reset()
    try:
        response = staff.get(STATE)
    finally:
        backends.reset()
    assert response.status_code == 503
    assert "Redis at redis://127.0.0.1:1/0 is unavailable" in response.json()["error"]
