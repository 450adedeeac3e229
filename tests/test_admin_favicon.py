"""The admin's pages name an icon that the site serves (issue 16: the admin had none, so a 404 in the console)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client


class IconLinks(HTMLParser):
    """The ``href`` of every ``<link rel="icon">`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "link" and "icon" in (attributes.get("rel") or "").split() and attributes.get("href"):
            self.hrefs.append(str(attributes["href"]))


def icon_links(html: str) -> list[str]:
    parser = IconLinks()
    parser.feed(html)
    return parser.hrefs


def test_the_admin_login_page_names_an_icon_that_is_served(live_server) -> None:
    page = requests.get(f"{live_server.url}/admin/login/", timeout=30)
    assert page.status_code == 200
    hrefs = icon_links(page.text)
    assert hrefs == ["/static/favicon.svg"]
    icon = requests.get(f"{live_server.url}{hrefs[0]}", timeout=30)
    assert icon.status_code == 200
    assert icon.headers["Content-Type"] == "image/svg+xml" and icon.content.startswith(b"<svg ")


@pytest.mark.django_db
def test_every_admin_page_keeps_the_icon(client: Client) -> None:
    """The pages that add to the head themselves (a change list, an add form) keep it too."""
    client.force_login(User.objects.create_superuser("admin", password="unused"))
    for path in ("/admin/", "/admin/chat/room/", "/admin/chat/room/add/", "/admin/auth/user/add/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert icon_links(response.content.decode()) == ["/static/favicon.svg"], path
