"""The admin's Channels page in real Chromium (issue 20, acceptance 3), on the Redis stack.

A staff user watches a queue's depth follow the messages the test sends, and
sees the stack's two WebSocket servers alive; an anonymous visitor, and a
visitor logged in without staff status, get the admin's login page instead.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from channels_core.testing import wait_until
from tests.channels_core.interfaces.stack import Stack

from .conftest import PAGE_TIMEOUT, BrowserFactory, log_into_admin

pytestmark = pytest.mark.slow

PAGE = "/admin/channels_core/queuedmessage/"
#: A channel no consumer listens on: what is sent there waits, and the page shows it waiting.
QUEUE = "inspector.e2e"


#: Reads a table in one step of the page's own script: the page redraws its rows every refresh, so
#: reading them element by element through WebDriver could meet a row that the redraw replaced.
READ_TABLE = """
const rows = document.querySelectorAll(`#${arguments[0]} tbody tr[data-key]`);
return Object.fromEntries(Array.from(rows, (row) => [
  row.dataset.key, Array.from(row.querySelectorAll("td")).slice(1).map((td) => td.textContent.trim()),
]));
"""


def cells(driver: WebDriver, table: str) -> dict[str, list[str]]:
    """The rows of one of the page's tables, by the name in their first column: the other columns' text."""
    rows: dict[str, list[str]] = driver.execute_script(READ_TABLE, table)
    return rows


def wait_for_depth(driver: WebDriver, depth: str | None) -> None:
    """Wait until the page shows ``QUEUE`` with ``depth`` messages (``None``: not listed, nothing waits)."""

    def shown() -> bool:
        row = cells(driver, "channels-queues").get(QUEUE)
        return (row[0] if row else None) == depth

    wait_until(shown, PAGE_TIMEOUT, what=f"the page to show {QUEUE} with depth {depth}")


def test_a_staff_user_sees_a_queues_depth_change_as_messages_are_sent(
    redis_stack: Stack, browser: BrowserFactory
) -> None:
    driver = browser()
    log_into_admin(driver, redis_stack)
    driver.find_element(By.LINK_TEXT, "Queued messages").click()  # from the admin's index, as a user goes
    assert driver.current_url == redis_stack.url(PAGE)
    wait_until(
        lambda: driver.find_element(By.ID, "channels-inspector").get_attribute("data-state") == "live",
        PAGE_TIMEOUT,
        what="the page's first refresh",
    )
    wait_for_depth(driver, None)

    for n in range(3):
        redis_stack.backend.send(QUEUE, {"n": n})
    wait_for_depth(driver, "3")
    for n in range(3, 5):
        redis_stack.backend.send(QUEUE, {"n": n})
    wait_for_depth(driver, "5")
    assert cells(driver, "channels-queues")[QUEUE][1] == "100", "its capacity"

    # Both runwsserver processes announce themselves; the page names each by its inbox.
    wait_until(lambda: len(cells(driver, "channels-servers")) == 2, PAGE_TIMEOUT, what="two servers alive")
    assert all(inbox.startswith("!django.websocket.send.") for inbox in cells(driver, "channels-servers"))


def test_an_anonymous_visitor_gets_the_login_page(redis_stack: Stack, browser: BrowserFactory) -> None:
    driver = browser()
    driver.get(redis_stack.url(PAGE))
    wait_until(lambda: driver.find_elements(By.ID, "login-form"), PAGE_TIMEOUT, what="the admin's login page")
    assert driver.current_url.startswith(redis_stack.url(f"/admin/login/?next={PAGE}"))
    assert not driver.find_elements(By.ID, "channels-inspector")


def test_a_visitor_without_staff_status_gets_the_login_page(redis_stack: Stack, browser: BrowserFactory) -> None:
    code = (
        "from importlib import import_module\n"
        "from django.conf import settings\n"
        "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY\n"
        "from django.contrib.auth.models import User\n"
        "user = User.objects.create_user('visitor', password='not-staff')\n"
        "session = import_module(settings.SESSION_ENGINE).SessionStore()\n"
        "session[SESSION_KEY] = str(user.pk)\n"
        "session[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
        "session[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
        "session.create()\n"
        "print('cookie', settings.SESSION_COOKIE_NAME, session.session_key)\n"
    )
    output = redis_stack.run_manage("shell", "-v0", "-c", code)
    _, name, value = next(line for line in output.splitlines() if line.startswith("cookie ")).split()
    driver = browser()
    driver.get(redis_stack.url("/"))  # the cookie's site must be open to set it
    driver.add_cookie({"name": name, "value": value, "path": "/"})

    driver.get(redis_stack.url(PAGE))
    wait_until(lambda: driver.find_elements(By.ID, "login-form"), PAGE_TIMEOUT, what="the admin's login page")
    assert "You are authenticated as visitor, but are not authorized" in driver.find_element(By.ID, "content").text
    assert not driver.find_elements(By.ID, "channels-inspector")
