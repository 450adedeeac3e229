"""The thumbnailer on both stacks, and a 15 MiB JPEG through the whole path (browser, adapter, Redis, worker)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import PIL.Image
import pytest

from channels_core.testing import Runserver
from tests.channels_core.interfaces.stack import Stack
from tests.helpers import TEST_PROJECT

from .conftest import BrowserFactory
from .test_thumbnailer import ImagePage

pytestmark = pytest.mark.slow

FIFTEEN_MIB = 15 * 1024 * 1024


def big_jpeg(path: Path) -> Path:
    """A JPEG of at least 15 MiB: noise at full quality does not compress."""
    width = 2400
    while True:
        height = width * 3 // 4
        PIL.Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(path, "JPEG", quality=100)
        if path.stat().st_size >= FIFTEEN_MIB:
            return path
        width += 200


@pytest.fixture
def redis_site(tmp_path: Path) -> Iterator[Stack]:
    """gunicorn, runwsserver and one worker for everything, sharing the media folder the site serves."""
    (tmp_path / "stack").mkdir()
    stack = Stack(tmp_path / "stack", SERVE_MEDIA="1", MEDIA_ROOT=str(tmp_path / "media"))
    try:
        stack.collect_static()
        stack.start_ws()
        stack.start_worker(env={"CHANNELS_WS_URL": stack.ws_url("/")})
        stack.start_gunicorn()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def runserver_site(tmp_path: Path) -> Iterator[Runserver]:
    with Runserver(TEST_PROJECT, tmp_path) as site:
        yield site.start()


def test_a_fifteen_mebibyte_jpeg_goes_through_the_whole_path(
    redis_site: Stack, browser: BrowserFactory, tmp_path: Path
) -> None:
    photo = big_jpeg(tmp_path / "big photo.jpg")
    page, _ = ImagePage.after_upload(browser(), redis_site, photo)
    assert page.wait_for_thumbnail().endswith("-large.webp")
    assert page.not_reloaded()


def test_the_thumbnailer_works_on_runserver_alone(
    runserver_site: Runserver, browser: BrowserFactory, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.jpg"
    PIL.Image.new("RGB", (1200, 900), (30, 120, 200)).save(photo, "JPEG")
    page, _ = ImagePage.after_upload(browser(), runserver_site, photo)  # type: ignore[arg-type]
    assert page.wait_for_thumbnail().endswith("-large.webp")
    assert page.not_reloaded()
    # The upload and its thumbnails went to the site's own MEDIA_ROOT, not the project's media/ (issue 16).
    media = runserver_site.tmp / "media"
    folders = {path.relative_to(media).parts[0] for path in media.rglob("*") if path.is_file()}
    assert folders == {"originals", "thumbnails"}
