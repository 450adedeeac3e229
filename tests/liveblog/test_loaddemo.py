"""loaddemo's content, and the way into the admin a newcomer is shown: by the command and on the home page."""

from __future__ import annotations

import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from chat.models import Room
from liveblog.management.commands.loaddemo import python_command
from liveblog.models import Liveblog


def loaddemo() -> str:
    out = StringIO()
    call_command("loaddemo", stdout=out)
    return out.getvalue()


def test_loaddemo_creates_the_demo_content_once(db, memory_backend) -> None:
    assert loaddemo().splitlines()[0] == "Demo content created: /liveblog/keynote/"
    assert loaddemo().splitlines()[0] == "Demo content already there: /liveblog/keynote/"
    assert Liveblog.objects.get(slug="keynote").posts.count() == 4
    assert set(Room.objects.values_list("slug", flat=True)) == {"lobby", "staff"}


def test_with_no_account_loaddemo_says_how_to_make_one_and_makes_none(db, memory_backend) -> None:
    output = loaddemo()
    assert "Posts are written in the admin, /admin/, and nobody can sign in to it yet." in output
    assert f"    {python_command()} manage.py createsuperuser\n" in output
    assert not get_user_model().objects.exists(), "no account with a password everyone knows"


def test_with_a_staff_account_loaddemo_points_to_the_admin(db, memory_backend) -> None:
    get_user_model().objects.create_superuser("editor", "editor@example.com", "a password of their own")
    output = loaddemo()
    assert "Write posts in the admin, /admin/, signed in with your staff account." in output
    assert "createsuperuser" not in output


def test_the_command_shown_is_the_python_that_ran(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    venv_python = tmp_path / ".venv" / "bin" / "python"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "executable", str(venv_python))
    assert python_command() == ".venv/bin/python"
    monkeypatch.setattr(sys, "executable", "/nowhere/bin/python3")
    assert python_command() == "/nowhere/bin/python3", "not on PATH: the full path"


def test_the_home_page_tells_a_visitor_how_to_get_into_the_admin(client, db) -> None:
    content = client.get("/").content.decode()
    assert '<a href="/admin/">admin</a>' in content
    assert "<code>.venv/bin/python manage.py createsuperuser</code>" in content
    assert "<code>docker compose exec web python manage.py createsuperuser</code>" in content


def test_the_home_page_sends_staff_straight_to_the_post_form(client, db) -> None:
    client.force_login(get_user_model().objects.create_superuser("editor", "editor@example.com", "theirs"))
    content = client.get("/").content.decode()
    assert "Signed in as editor:" in content
    assert '<a href="/admin/liveblog/post/add/">write a post in the admin</a>' in content
    assert "createsuperuser" not in content
