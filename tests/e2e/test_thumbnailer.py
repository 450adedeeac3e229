"""The thumbnailer end to end: uploads in real Chromium, thumbnails made by separate workers on Redis.

Issue 6's acceptance, one test per point: the thumbnail replaces "making
thumbnails…" without a reload; the upload answers while no worker can make
thumbnails; bad input leaves nothing behind; a worker killed mid-work loses
the message, and ``resubmit_thumbnails`` recovers without duplicate files.

Each test gets its own stack (gunicorn, one ``runwsserver``, one SQLite file,
one ``MEDIA_ROOT``, one Redis), so "nothing left behind" is checked outright.
Pages are rendered by a worker that does not listen on ``thumbnailer.*``;
thumbnails are made only by the workers each test starts, and kills.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import PIL.Image
import pytest
import redis
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from channels_core.messages import format_size
from channels_core.testing import ManagedProcess, wait_until
from tests.channels_core.interfaces.stack import Stack

from .conftest import PAGE_TIMEOUT, BrowserFactory, ReaderPage, wait_for_socket_open
from .held_thumbnails import HOLDING_KEY, release_key

pytestmark = pytest.mark.slow

#: Small limits, so over-limit files and decompression bombs are small too.
MAX_UPLOAD = 50_000
MAX_PIXELS = 1_000_000
#: The Redis list behind the ``thumbnailer.create`` channel (the backend's default prefix).
QUEUE_KEY = "channels:q:thumbnailer.create"
PENDING_TEXT = "making thumbnails…"


class ThumbnailerStack(Stack):
    """A stack whose processes share one ``MEDIA_ROOT`` served by the site, with small upload limits."""

    def __init__(self, tmp: Path) -> None:
        self.media = tmp / "media"
        super().__init__(
            tmp,
            SERVE_MEDIA="1",
            MEDIA_ROOT=str(self.media),
            THUMBNAILER_MAX_UPLOAD=str(MAX_UPLOAD),
            THUMBNAILER_MAX_PIXELS=str(MAX_PIXELS),
        )
        self.client: redis.Redis = self.redis.client()

    def start_page_worker(self) -> ManagedProcess:
        """The worker that renders pages (and serves sockets and media), but never makes thumbnails."""
        env = {"CHANNELS_WS_URL": self.ws_url("/")}
        return self.start_worker("pages", threads=4, env=env, args=["--exclude-channels", "thumbnailer.*"])

    def start_thumbnail_worker(self, name: str, held: bool = False) -> ManagedProcess:
        """A worker for ``thumbnailer.*`` only, one message at a time; ``held``: it waits for the test mid-work."""
        env = {"DJANGO_SETTINGS_MODULE": "tests.e2e.held_thumbnails"} if held else None
        return self.start_worker(name, threads=1, env=env, args=["--only-channels", "thumbnailer.*"])

    def queued(self) -> int:
        """Messages waiting on ``thumbnailer.create``, counted in Redis without receiving any."""
        return int(self.client.llen(QUEUE_KEY))

    def images(self) -> list[list[object]]:
        """``[id, status, small, large]`` of every Image row in the stack's database."""
        code = (
            "import json; from thumbnailer.models import Image\n"
            "print(json.dumps([[i.pk, i.status, i.small.name, i.large.name] for i in Image.objects.order_by('pk')]))"
        )
        return list(json.loads(self.run_manage("shell", "-v0", "-c", code)))

    def media_files(self, under: str = "") -> list[str]:
        """Every file under ``MEDIA_ROOT/under``, relative to ``MEDIA_ROOT``, sorted."""
        root = self.media / under
        return sorted(str(p.relative_to(self.media)) for p in root.rglob("*") if p.is_file()) if root.exists() else []

    def wait_for_held(self, path: str) -> None:
        """Wait until a held worker holds ``path``: it has taken the message and is mid-work."""
        popped = self.client.blpop([HOLDING_KEY], timeout=PAGE_TIMEOUT)
        assert popped is not None, f"no worker started making {path} in {PAGE_TIMEOUT} s"
        assert popped[1] == path.encode()

    def release(self, path: str) -> None:
        self.client.rpush(release_key(path), "go")

    def stop(self) -> None:
        self.client.close()
        super().stop()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[ThumbnailerStack]:
    """gunicorn, a WebSocket server and the page worker; no worker makes thumbnails until a test starts one."""
    (tmp_path / "stack").mkdir()
    stack = ThumbnailerStack(tmp_path / "stack")
    try:
        stack.collect_static()
        stack.start_ws()
        stack.start_page_worker()
        stack.start_gunicorn()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    """Where the test writes the files the browser uploads."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


def write_image(path: Path, image: PIL.Image.Image, image_format: str) -> Path:
    image.save(path, image_format)
    return path


def photo(folder: Path, name: str = "holiday photo.jpg") -> Path:
    """A small valid JPEG, well within the limits."""
    return write_image(folder / name, PIL.Image.new("RGB", (640, 480), (200, 80, 40)), "JPEG")


class ImagePage(ReaderPage):
    """The image's page the upload redirected to, watched in place (never loaded again by the test)."""

    @classmethod
    def after_upload(cls, driver: WebDriver, stack: Stack, file: Path) -> tuple[ImagePage, int]:
        """Upload ``file`` through the gallery's form; return the page it redirects to, and the image's id."""
        submit(driver, stack, file)
        found = wait_until(
            lambda: re.fullmatch(re.escape(stack.url("/thumbnailer/")) + r"(\d+)/", driver.current_url),
            PAGE_TIMEOUT,
            what="the upload to redirect to the image's page",
        )
        page = cls(driver, driver.current_url)
        # Gone after a reload: tells "updated in place" from "loaded again" (as ReaderPage.open does).
        driver.execute_script("window.__e2eMarker = arguments[0]", page._marker)
        return page, int(found.group(1))

    def status(self) -> str:
        return str(self.driver.execute_script("return document.querySelector('#gallery .image').dataset.status"))

    def placeholder(self) -> str | None:
        """The text shown instead of the thumbnail, or ``None`` once the thumbnail is there."""
        found = self.driver.find_elements(By.CSS_SELECTOR, "#gallery .image .pending")
        return found[0].text if found else None

    def assert_pending(self) -> None:
        assert (self.status(), self.placeholder()) == ("pending", PENDING_TEXT)
        assert not self.driver.find_elements(By.CSS_SELECTOR, "#gallery img")

    def wait_for_thumbnail(self) -> str:
        """Wait until the large thumbnail has replaced the placeholder and has really loaded; return its URL."""
        script = (
            "const img = document.querySelector('#gallery .image img');"
            "return img && img.complete && img.naturalWidth > 0 ? img.src : null"
        )
        src: str = wait_until(lambda: self.driver.execute_script(script), PAGE_TIMEOUT, what="the thumbnail to load")
        assert self.status() == "done" and self.placeholder() is None
        return src


def submit(driver: WebDriver, stack: Stack, file: Path) -> None:
    """Choose ``file`` in the gallery's file input and press Upload."""
    driver.get(stack.url("/thumbnailer/"))
    driver.find_element(By.ID, "id_image").send_keys(str(file))
    driver.find_element(By.CSS_SELECTOR, "#upload-form [type=submit]").click()


# 1: the page shows "pending", then the thumbnail, without a reload.


def test_the_thumbnail_replaces_pending_without_a_reload(
    stack: ThumbnailerStack, browser: BrowserFactory, uploads: Path
) -> None:
    stack.start_thumbnail_worker("thumbnails", held=True)  # so the page is sure to render before the thumbnail
    page, image_id = ImagePage.after_upload(browser(), stack, photo(uploads))
    page.assert_pending()
    assert page.driver.find_element(By.TAG_NAME, "h1").text == "holiday photo.jpg"
    wait_for_socket_open(page.driver)
    page.wait_until_joined()

    large = f"thumbnails/{image_id}-large.webp"
    stack.wait_for_held(large)  # the worker is making it: the small thumbnail exists, the image is still pending
    page.assert_pending()
    stack.release(large)

    assert page.wait_for_thumbnail() == stack.url(f"/media/{large}")
    assert page.not_reloaded(), "the thumbnail came in without a reload"
    assert stack.images() == [[image_id, "done", f"thumbnails/{image_id}-small.webp", large]]


# 2: the upload answers while no worker can make thumbnails; the message waits for one.


def test_the_upload_answers_before_any_worker_makes_the_thumbnail(
    stack: ThumbnailerStack, browser: BrowserFactory, uploads: Path
) -> None:
    page, image_id = ImagePage.after_upload(browser(), stack, photo(uploads))
    page.assert_pending()
    wait_for_socket_open(page.driver)
    page.wait_until_joined()  # the page has asked for the image's state: still pending

    assert stack.queued() == 1, "the message waits in thumbnailer.create for a worker"
    assert stack.images() == [[image_id, "pending", "", ""]]
    assert stack.media_files("thumbnails") == []
    page.assert_pending()

    stack.start_thumbnail_worker("thumbnails")
    assert page.wait_for_thumbnail() == stack.url(f"/media/thumbnails/{image_id}-large.webp")
    assert page.not_reloaded(), "the thumbnail came in without a reload"
    assert stack.queued() == 0


# 3: bad input gets a form error a person can read, and leaves no file, row or message.


def bad_uploads(folder: Path) -> list[tuple[Path, str]]:
    """Each bad file, with the form error it must get."""
    text = folder / "photo.jpg"
    text.write_text("Dear diary, today I renamed a text file.\n")
    bmp = write_image(folder / "drawing.bmp", PIL.Image.new("RGB", (100, 100), (10, 120, 200)), "BMP")
    truncated = folder / "cut short.jpg"
    truncated.write_bytes(photo(folder, "whole.jpg").read_bytes()[:2000])
    noise = random.Random(6).randbytes(400 * 300 * 3)
    big = write_image(folder / "big.jpg", PIL.Image.frombytes("RGB", (400, 300), noise), "JPEG")
    assert big.stat().st_size > MAX_UPLOAD
    bomb = write_image(folder / "bomb.png", PIL.Image.new("L", (3000, 3000)), "PNG")
    assert bomb.stat().st_size < MAX_UPLOAD, "refused for its pixels, not its size"
    return [
        (text, "That file is not an image."),
        (bmp, "BMP images are not accepted; send JPEG, PNG, GIF or WebP."),
        (truncated, "That image is damaged or cut short; it cannot be read."),
        (big, f"That file is {format_size(big.stat().st_size)}; the limit is 48.8 KiB."),
        (bomb, "That image has 9,000,000 pixels; the limit is 1,000,000."),
    ]


def form_error(driver: WebDriver, stack: Stack) -> str | None:
    """The form's error after an upload, or ``None`` if the upload was accepted (redirected to its image)."""

    def answered() -> list[WebElement] | bool:
        return driver.find_elements(By.CSS_SELECTOR, "#upload-form .errorlist") or (
            driver.current_url != stack.url("/thumbnailer/")
        )

    found = wait_until(answered, PAGE_TIMEOUT, what="the upload's answer")
    return None if found is True else str(found[0].text)


def test_each_bad_upload_gets_a_readable_error_and_leaves_nothing_behind(
    stack: ThumbnailerStack, browser: BrowserFactory, uploads: Path
) -> None:
    driver = browser()
    for file, error in bad_uploads(uploads):
        submit(driver, stack, file)
        shown = form_error(driver, stack)
        assert shown is not None, f"{file.name} was accepted"
        assert error in shown, f"{file.name}: {shown!r}"

    assert stack.media_files() == []
    assert stack.images() == []
    assert stack.queued() == 0

    # The control: the same checks do see what a good upload leaves.
    _, image_id = ImagePage.after_upload(driver, stack, photo(uploads))
    assert stack.media_files() != [] and stack.images() == [[image_id, "pending", "", ""]] and stack.queued() == 1


# 4: a worker killed mid-work loses the message; resubmitting recovers, and twice makes no duplicates.


def test_a_worker_killed_mid_work_leaves_it_pending_until_resubmitted(
    stack: ThumbnailerStack, browser: BrowserFactory, uploads: Path
) -> None:
    held = stack.start_thumbnail_worker("thumbnails-killed", held=True)
    page, image_id = ImagePage.after_upload(browser(), stack, photo(uploads))
    wait_for_socket_open(page.driver)
    small, large = f"thumbnails/{image_id}-small.webp", f"thumbnails/{image_id}-large.webp"

    stack.wait_for_held(large)
    assert stack.queued() == 0, "the worker has taken the message"
    assert stack.media_files("thumbnails") == [small], "and is halfway through"
    held.kill()  # SIGKILL, mid-work: the message it held is gone

    assert stack.images() == [[image_id, "pending", "", ""]]
    assert stack.queued() == 0
    page.assert_pending()

    # Twice, before any worker runs: the second message reaches the consumer as a duplicate.
    for _ in range(2):
        assert stack.run_manage("resubmit_thumbnails", "--older-than", "0").strip() == "Resubmitted 1 pending image(s)."
    assert stack.queued() == 2
    stack.start_thumbnail_worker("thumbnails")
    assert page.wait_for_thumbnail() == stack.url(f"/media/{large}")
    wait_until(lambda: stack.queued() == 0, PAGE_TIMEOUT, what="the worker to take the duplicate")

    assert stack.run_manage("resubmit_thumbnails", "--older-than", "0").strip() == "Resubmitted 0 pending image(s)."
    assert stack.images() == [[image_id, "done", small, large]]
    assert stack.media_files("thumbnails") == sorted([small, large]), "one of each size: replaced, not added"
    assert page.not_reloaded(), "the page followed it all in place"
