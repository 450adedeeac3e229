"""The upload form's errors look like the site's other errors, and are tied to the file input.

Django renders a field's errors as ``<ul class="errorlist">`` (the tutorial's
part 4 shows that line), so ``static/site.css`` styles ``.errorlist`` as it
styles ``.error``, the class of the chat's and the live blog's error lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.html import Element, parse_html

from tests.helpers import ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def elements(root: Element) -> Iterator[Element]:
    """Every element under ``root``, ``root`` first."""
    yield root
    for child in root.children:
        if isinstance(child, Element):
            yield from elements(child)


def attribute(element: Element, name: str) -> str:
    return dict(element.attributes).get(name) or ""


def text(element: Element) -> str:
    return " ".join(" ".join(t if isinstance(t, str) else text(t) for t in element.children).split())


def upload_form(content: bytes) -> dict[str, Element]:
    """The upload form's elements that have an id, by id (the form itself is ``"upload-form"``)."""
    (form,) = (e for e in elements(parse_html(content.decode())) if attribute(e, "id") == "upload-form")
    return {attribute(e, "id"): e for e in elements(form) if attribute(e, "id")}


def declarations(selector: str) -> dict[str, str]:
    """What static/site.css declares for exactly ``selector`` (alone or in a list), later rules winning."""
    found: dict[str, str] = {}
    css = re.sub(r"/\*.*?\*/", "", (ROOT / "static" / "site.css").read_text(), flags=re.DOTALL)
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        if selector in (s.strip() for s in selectors.split(",")):
            for declaration in filter(str.strip, body.split(";")):
                name, value = declaration.split(":", 1)
                found[name.strip()] = value.strip()
    return found


def test_not_an_image_is_shown_in_the_sites_error_style(client: Client) -> None:
    response = client.post("/thumbnailer/", {"image": SimpleUploadedFile("notes.jpg", b"just some text")})
    by_id = upload_form(response.content)
    (errors,) = (e for e in elements(by_id["upload-form"]) if "errorlist" in attribute(e, "class").split())
    assert text(errors) == "That file is not an image."
    style = declarations(".errorlist")
    assert style["color"] == declarations(".error")["color"] == "var(--off)", "the colour of the site's errors"
    assert style["list-style"] == "none" and style["padding"] == "0", "no bullet"
    described_by = attribute(by_id["id_image"], "aria-describedby").split()
    assert attribute(errors, "id") in described_by, "a screen reader reads the error with the input"
    assert set(described_by) <= by_id.keys(), "every id the input names is on the page (the help text too)"


def test_no_error_before_an_upload(client: Client) -> None:
    by_id = upload_form(client.get("/thumbnailer/").content)
    assert not [e for e in elements(by_id["upload-form"]) if "errorlist" in attribute(e, "class").split()]
    assert set(attribute(by_id["id_image"], "aria-describedby").split()) <= by_id.keys()
