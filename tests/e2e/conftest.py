"""Real Chromium driving the real servers: browsers, sites, and helpers that wait on page state.

Two sites, each started once per module the way the README starts them:

* ``runserver_site``: ``python manage.py runserver`` alone (HTTP, WebSockets and
  worker threads in one process, in-memory backend): the ``channels_runserver``
  fixture of :mod:`channels_core.testing`, with a staff user;
* ``redis_stack``: gunicorn, ``runworker`` and two ``runwsserver`` processes on
  one Redis (:class:`~tests.channels_core.interfaces.stack.Stack`).

Pages are always loaded from ``127.0.0.1``, the address both sites listen on.
Under ``runserver`` a page's socket goes to ``ws://<page host>:<ws port>/``; on
the Redis stack the page learns its WebSocket server from ``CHANNELS_WS_URL``,
a setting of the process that renders the page: the worker, not gunicorn.

Every wait has a deadline and polls a condition; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from channels_core.testing import Runserver, wait_until
from tests.channels_core.interfaces.stack import ADMIN_PASSWORD, Stack, create_admin

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"  # given explicitly: Selenium Manager cannot download here
CHROMIUM_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
)
#: Seconds any page state may take to appear: a deadline for a wait, never a measurement.
#: Long enough for a socket's reconnection backoff, which tops out at 15 s.
PAGE_TIMEOUT = 40.0

BrowserFactory = Callable[[], WebDriver]


# Sites.


class Site(Protocol):
    """What the tests need of a running site, whichever processes make it up."""

    def url(self, path: str) -> str: ...

    def run_manage(self, *args: str) -> str: ...


def start_worker_for(stack: Stack, ws_name: str, name: str = "worker") -> None:
    """Start a worker whose pages point their sockets at the WebSocket server ``ws_name``."""
    stack.start_worker(name, env={"CHANNELS_WS_URL": stack.ws_url("/", ws_name)})


@pytest.fixture(scope="module")
def runserver_site(channels_runserver: Runserver) -> Runserver:
    """The plugin's ``runserver`` for the module, with the staff user."""
    create_admin(channels_runserver)
    return channels_runserver


@pytest.fixture(scope="module")
def redis_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """gunicorn, one worker, and two WebSocket servers; pages point at ``ws-1``."""
    with Stack(tmp_path_factory.mktemp("redis-stack")) as stack:
        stack.collect_static()
        stack.start_ws("ws-1")
        stack.start_ws("ws-2")
        start_worker_for(stack, "ws-1")
        stack.start_gunicorn()
        yield stack


@pytest.fixture(scope="module", params=["runserver", "redis"])
def site(request: pytest.FixtureRequest) -> Site:
    """Each stack in turn: ``runserver`` alone, then the separate processes on Redis."""
    fixture = {"runserver": "runserver_site", "redis": "redis_stack"}[request.param]
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


def create_liveblog(site: Site, slug: str) -> str:
    """Create a live blog with ``slug`` in the site's database; return its title (what the admin lists)."""
    title = f"Live blog {slug}"
    site.run_manage(
        "shell",
        "-v0",
        "-c",
        f"from liveblog.models import Liveblog; Liveblog.objects.create(slug={slug!r}, title={title!r})",
    )
    return title


def create_posts(site: Site, slug: str, *bodies: str) -> list[int]:
    """Save posts in a ``manage.py shell`` of the site, in order; return their ids.

    The signal handlers run in that shell, so on the Redis stack readers are
    told through the group as if the posts came from the admin.
    """
    code = (
        "from liveblog.models import Liveblog, Post\n"
        f"liveblog = Liveblog.objects.get(slug={slug!r})\n"
        f"for body in {list(bodies)!r}:\n"
        "    print('post', Post.objects.create(liveblog=liveblog, body=body).pk)\n"
    )
    output = site.run_manage("shell", "-v0", "-c", code)
    return [int(line.split()[1]) for line in output.splitlines() if line.startswith("post ")]


# Browsers.


@pytest.fixture
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserFactory]:
    """Start headless Chromium sessions on demand, each with a fresh profile; all quit at teardown."""
    drivers: list[WebDriver] = []

    def start() -> WebDriver:
        options = Options()
        options.binary_location = CHROMIUM
        for argument in CHROMIUM_ARGUMENTS:
            options.add_argument(argument)
        options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
        # The network log shows the WebSocket frames a page receives (see ReaderPage.frames).
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


def socket_state(driver: WebDriver) -> str:
    """The browser client's state, as it publishes it on ``<body data-socket-state>``."""
    return str(driver.execute_script("return document.body && document.body.dataset.socketState"))


def wait_for_socket_state(
    driver: WebDriver, accept: Callable[[str], bool], what: str, timeout: float = PAGE_TIMEOUT
) -> str:
    def reached() -> str | None:
        state = socket_state(driver)
        return state if accept(state) else None

    result: str = wait_until(reached, timeout, what=f"the page's socket to be {what}")
    return result


def wait_for_socket_open(driver: WebDriver, timeout: float = PAGE_TIMEOUT) -> None:
    wait_for_socket_state(driver, lambda state: state == "open", "open", timeout)


def wait_for_socket_not_open(driver: WebDriver, timeout: float = PAGE_TIMEOUT) -> str:
    return wait_for_socket_state(driver, lambda state: state != "open", "no longer open", timeout)


class ReaderPage:
    """A reader's live blog page in one browser: its posts, its socket and the frames it received."""

    def __init__(self, driver: WebDriver, url: str) -> None:
        self.driver = driver
        self.url = url
        self._frames: list[Any] = []
        self._marker = secrets.token_hex(8)

    def open(self) -> ReaderPage:
        """Load the page and wait until its socket is open."""
        self.driver.get(self.url)
        # Gone after a reload: tells "updated in place" from "the page was loaded again".
        self.driver.execute_script("window.__e2eMarker = arguments[0]", self._marker)
        wait_for_socket_open(self.driver)
        return self

    def reload(self) -> None:
        self.driver.refresh()
        self.driver.execute_script("window.__e2eMarker = arguments[0]", self._marker)
        wait_for_socket_open(self.driver)

    def not_reloaded(self) -> bool:
        """True while this is still the page :meth:`open` loaded, never reloaded."""
        return bool(self.driver.execute_script("return window.__e2eMarker") == self._marker)

    @property
    def stream_url(self) -> str:
        return str(self.driver.find_element(By.ID, "posts").get_attribute("data-stream-url"))

    def post_ids(self) -> list[int]:
        """The ids of the posts on the page, top to bottom."""
        script = "return Array.from(document.querySelectorAll('#posts article.post'), (a) => a.dataset.postId)"
        return [int(post_id) for post_id in self.driver.execute_script(script)]

    def body(self, post_id: int) -> str | None:
        """The text of a post's body as the page shows it, or ``None`` if the post is not on the page."""
        script = "const body = document.querySelector(`#post-${arguments[0]} .body`); return body && body.textContent"
        result = self.driver.execute_script(script, post_id)
        return None if result is None else str(result)

    def elements_in(self, post_id: int, selector: str) -> int:
        """How many elements matching ``selector`` the post's article contains."""
        return len(self.driver.find_elements(By.CSS_SELECTOR, f"#post-{post_id} {selector}"))

    def wait_for_post(self, post_id: int, body: str) -> None:
        wait_until(lambda: self.body(post_id) == body, PAGE_TIMEOUT, what=f"post {post_id} to read {body!r}")

    def wait_for_no_post(self, post_id: int) -> None:
        wait_until(lambda: post_id not in self.post_ids(), PAGE_TIMEOUT, what=f"post {post_id} to leave the page")

    def frames(self) -> list[Any]:
        """Every WebSocket text frame the page has received so far, parsed as JSON, oldest first."""
        for entry in self.driver.get_log("performance"):  # type: ignore[no-untyped-call]
            event = json.loads(entry["message"])["message"]
            if event["method"] == "Network.webSocketFrameReceived":
                response = event["params"]["response"]
                if response["opcode"] == 1:
                    try:
                        self._frames.append(json.loads(response["payloadData"]))
                    except ValueError:  # not JSON: kept as the text it was
                        self._frames.append(response["payloadData"])
        return list(self._frames)

    def wait_for_frame(self, wanted: dict[str, Any], what: str) -> None:
        """Wait until the page has received a frame whose items include ``wanted``'s."""

        def received() -> bool:
            return any(isinstance(f, dict) and wanted.items() <= f.items() for f in self.frames())

        wait_until(received, PAGE_TIMEOUT, what=f"the page to receive {what}")

    def wait_until_joined(self) -> None:
        """Wait until the server has added this page's socket to the blog's readers (it says "joined")."""
        self.wait_for_frame({"type": "joined"}, '"joined"')

    def wait_for_pushed(self, action: str, post_id: int) -> None:
        """Wait until a ``post.<action>`` message about ``post_id`` has reached the page through its socket."""

        def pushed() -> bool:
            return any(frame["post"]["id"] == post_id for frame in self._of_type(f"post.{action}"))

        try:
            wait_until(pushed, PAGE_TIMEOUT, what=f"post.{action} of post {post_id} pushed to the page")
        except AssertionError as error:
            raise AssertionError(f"{error}; its post.{action} frames: {self._of_type(f'post.{action}')}") from None

    def _of_type(self, message_type: str) -> list[dict[str, Any]]:
        return [f for f in self.frames() if isinstance(f, dict) and f.get("type") == message_type]


# The admin, through its own pages and forms.


def log_into_admin(driver: WebDriver, site: Site) -> None:
    """Log in as the staff user through the admin's login form."""
    driver.get(site.url("/admin/login/?next=/admin/"))
    driver.find_element(By.ID, "id_username").send_keys("admin")
    driver.find_element(By.ID, "id_password").send_keys(ADMIN_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    wait_until(lambda: driver.find_elements(By.ID, "user-tools"), PAGE_TIMEOUT, what="the admin index after login")


class AdminSession:
    """A staff user writing, editing and deleting posts in the admin, in a browser of their own."""

    def __init__(self, driver: WebDriver, site: Site) -> None:
        self.driver = driver
        self.site = site
        log_into_admin(driver, site)

    def add_post(self, liveblog_title: str, body: str) -> int:
        """Write a post with the add form; return its id (from the link in the admin's message)."""
        self.driver.get(self.site.url("/admin/liveblog/post/add/"))
        Select(self.driver.find_element(By.ID, "id_liveblog")).select_by_visible_text(liveblog_title)
        self.driver.find_element(By.ID, "id_body").send_keys(body)
        self.driver.find_element(By.NAME, "_save").click()
        message = self._wait_for_success("the post to be added")
        link = message.find_element(By.TAG_NAME, "a").get_attribute("href") or ""
        found = re.search(r"/admin/liveblog/post/(\d+)/change/", link)
        assert found, f"the admin's message links to the new post: {link!r}"
        return int(found.group(1))

    def edit_post(self, post_id: int, body: str) -> None:
        self.driver.get(self.site.url(f"/admin/liveblog/post/{post_id}/change/"))
        field = self.driver.find_element(By.ID, "id_body")
        field.clear()
        field.send_keys(body)
        self.driver.find_element(By.NAME, "_save").click()
        self._wait_for_success(f"post {post_id} to be changed")

    def delete_post(self, post_id: int) -> None:
        self.driver.get(self.site.url(f"/admin/liveblog/post/{post_id}/delete/"))
        self.driver.find_element(By.CSS_SELECTOR, "#content form [type=submit]").click()  # "Yes, I'm sure"
        self._wait_for_success(f"post {post_id} to be deleted")

    def _wait_for_success(self, what: str) -> Any:
        def success() -> Any:
            errors = self.driver.find_elements(By.CSS_SELECTOR, ".errornote, .errorlist")
            if errors:
                raise AssertionError(f"the admin refused: {errors[0].text}")
            found = self.driver.find_elements(By.CSS_SELECTOR, ".messagelist .success")
            return found[0] if found else None

        return wait_until(success, PAGE_TIMEOUT, what=what)
