"""The chat end to end: people in real Chromium, in rooms served by real servers.

Issue 5's acceptance: two visitors talk live and see each other listed; one
closes the tab and the other sees them go; a later visitor finds the history;
markup is shown as text; over-long messages and floods are refused to the
sender alone; the staff room turns visitors away and lets staff in (all on
both stacks); and a person whose WebSocket server was killed drops out of the
presence list within GROUP_EXPIRY plus one keepalive interval. Also: what is
typed while the socket is down is said once it is back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from channels_core.testing import Runserver, wait_until
from chat.models import MAX_LENGTH
from chat.protocol import RATE_COUNT
from tests.channels_core.interfaces.stack import Stack

from .conftest import (
    PAGE_TIMEOUT,
    BrowserFactory,
    Site,
    log_into_admin,
    socket_state,
    start_worker_for,
    wait_for_socket_not_open,
    wait_for_socket_open,
)

pytestmark = pytest.mark.slow


# Rooms and sockets.


@pytest.fixture(scope="module")
def demo_rooms(site: Site) -> Site:
    """The site, with the demo's rooms: "lobby" for everyone and the staff-only "staff"."""
    site.run_manage("loaddemo")
    return site


def create_room(site: Site, slug: str) -> None:
    """A room of its own for one test, so its history and presence start empty."""
    site.run_manage(
        "shell", "-v0", "-c", f"from chat.models import Room; Room.objects.create(slug={slug!r}, title={slug!r})"
    )


def socket_url(site: Site, path: str) -> str:
    """The address a page of ``site`` opens its socket on: the runserver's ws port, or the stack's ``ws-1``."""
    if isinstance(site, Runserver):
        return f"ws://127.0.0.1:{site.ws_port}{path}"
    assert isinstance(site, Stack)
    return site.ws_url(path, "ws-1")


# One person's room page.


class ChatPage:
    """A room page in one browser: what it shows, what it received, and a person typing into it."""

    def __init__(self, driver: WebDriver, url: str) -> None:
        self.driver = driver
        self.url = url
        self._frames: list[Any] = []

    def enter(self, name: str, nickname_form: bool = True) -> ChatPage:
        """Open the room (as a visitor, choosing ``name`` on the nickname form) and wait to be listed.

        Being listed means the server's "welcome" has arrived, so the socket is
        in the room: what is said from here on reaches this page.
        """
        self.name = name
        self.driver.get(self.url)
        if nickname_form:
            self.driver.find_element(By.ID, "id_nickname").send_keys(name)
            self.driver.find_element(By.CSS_SELECTOR, "#nickname-form [type=submit]").click()
        wait_for_socket_open(self.driver)
        self.wait_for_names_including(name)
        self.driver.execute_script("window.__chatMarker = true")  # gone if the page is ever loaded again
        return self

    def not_reloaded(self) -> bool:
        return self.driver.execute_script("return window.__chatMarker") is True

    @property
    def stream_url(self) -> str:
        return str(self.driver.find_element(By.ID, "messages").get_attribute("data-stream-url"))

    # What the page shows.

    def messages(self) -> list[tuple[str, str]]:
        """(author, text) of every message on the page, top to bottom, as a person reads them."""
        script = """return Array.from(document.querySelectorAll('#messages li[data-message-id]'),
                      (li) => [li.querySelector('.author').textContent, li.querySelector('.text').textContent])"""
        return [(author, text) for author, text in self.driver.execute_script(script)]

    def texts(self) -> list[str]:
        return [text for _, text in self.messages()]

    def notices(self) -> list[str]:
        """The "… joined" and "… left" lines, top to bottom."""
        script = "return Array.from(document.querySelectorAll('#messages li.notice'), (li) => li.textContent)"
        return list(self.driver.execute_script(script))

    def names(self) -> list[str]:
        """The presence list ("Here now")."""
        script = "return Array.from(document.querySelectorAll('#presence li'), (li) => li.textContent)"
        return list(self.driver.execute_script(script))

    def error(self) -> str | None:
        """The text of #chat-error if it is shown, else ``None``."""
        script = "const box = document.getElementById('chat-error'); return box.hidden ? null : box.textContent"
        result = self.driver.execute_script(script)
        return None if result is None else str(result)

    def frames(self) -> list[Any]:
        """Every WebSocket text frame the page has received so far, parsed, oldest first."""
        for entry in self.driver.get_log("performance"):  # type: ignore[no-untyped-call]
            event = json.loads(entry["message"])["message"]
            if event["method"] == "Network.webSocketFrameReceived" and event["params"]["response"]["opcode"] == 1:
                self._frames.append(json.loads(event["params"]["response"]["payloadData"]))
        return list(self._frames)

    def frame_types(self) -> set[str]:
        return {frame.get("type") for frame in self.frames()}

    # Waiting for what the page shows.

    def wait_for_texts_ending(self, *texts: str) -> None:
        """Wait until the last messages on the page are ``texts``, in that order."""
        n = len(texts)
        try:
            wait_until(lambda: self.texts()[-n:] == list(texts), PAGE_TIMEOUT, what=f"{self.name}'s page to end so")
        except AssertionError as error:
            raise AssertionError(f"{error}: wanted {texts!r}, it shows {self.texts()!r}") from None

    def wait_for_names(self, names: list[str]) -> None:
        wait_until(lambda: self.names() == names, PAGE_TIMEOUT, what=f"{self.name}'s presence list to be {names}")

    def wait_for_names_including(self, name: str) -> None:
        wait_until(lambda: name in self.names(), PAGE_TIMEOUT, what=f"{name} in {self.name}'s presence list")

    def wait_for_error(self) -> str:
        result: str = wait_until(self.error, PAGE_TIMEOUT, what=f"an error on {self.name}'s page")
        return result

    # A person typing.

    def say(self, text: str) -> None:
        """Type ``text`` into the message box and press Enter."""
        self.driver.find_element(By.ID, "say-text").send_keys(text, Keys.ENTER)

    def close_tab(self) -> None:
        """Close the room's tab (the browser goes on, in a blank tab of its own)."""
        room_tab = self.driver.current_window_handle
        self.driver.switch_to.new_window("tab")
        blank_tab = self.driver.current_window_handle
        self.driver.switch_to.window(room_tab)
        self.driver.close()
        self.driver.switch_to.window(blank_tab)


def stored_texts(site: Site, slug: str) -> list[str]:
    """The texts the room's history holds (what any later visitor is shown)."""
    response = requests.get(site.url(f"/chat/{slug}/messages.json"), timeout=30)
    response.raise_for_status()
    return [message["text"] for message in response.json()["messages"]]


# 1, 2 and 3: talking, leaving, and history, on both stacks.


def test_two_visitors_talk_live_and_a_third_finds_the_history(demo_rooms: Site, browser: BrowserFactory) -> None:
    url = demo_rooms.url("/chat/lobby/")
    ada = ChatPage(browser(), url).enter("ada")
    bob = ChatPage(browser(), url).enter("bob")
    for page in (ada, bob):
        page.wait_for_names(["ada", "bob"])
    assert "bob joined" in ada.notices()

    # Each line is typed once the line before shows on its writer's page, as people talk.
    said = [
        ("ada", "Hello bob."),
        ("ada", "Are you there?"),
        ("bob", "Hi ada, I am here."),
        ("ada", "Good."),
    ]
    pages = {"ada": ada, "bob": bob}
    for author, text in said:
        pages[author].say(text)
        pages[author].wait_for_texts_ending(text)
    for page in (ada, bob):
        page.wait_for_texts_ending(*(text for _, text in said))
    assert ada.messages() == bob.messages() == said
    assert ada.not_reloaded() and bob.not_reloaded(), "all of it arrived live"

    carol = ChatPage(browser(), url).enter("carol")
    assert carol.messages() == said, "the history, oldest first"
    carol.wait_for_names(["ada", "bob", "carol"])
    ada.wait_for_names(["ada", "bob", "carol"])

    bob.close_tab()
    for page in (ada, carol):
        wait_until(lambda page=page: "bob left" in page.notices(), PAGE_TIMEOUT, what=f"{page.name} to see bob leave")
        page.wait_for_names(["ada", "carol"])
    carol.say("Bye bob.")
    ada.wait_for_texts_ending("Good.", "Bye bob.")


# 4: what people type is data: markup is text, and refused input reaches nobody else.

MARKUP = "<img src=x onerror=alert(1)>"
FLAGGING_MARKUP = '<img src=x onerror="window.__chatPwned = 1">'


def test_markup_is_shown_as_text_and_refused_input_reaches_nobody_else(site: Site, browser: BrowserFactory) -> None:
    create_room(site, "checks")
    url = site.url("/chat/checks/")
    ada = ChatPage(browser(), url).enter("ada")
    bob = ChatPage(browser(), url).enter("bob")

    ada.say(MARKUP)
    ada.say(FLAGGING_MARKUP)
    for page in (ada, bob):
        page.wait_for_texts_ending(MARKUP, FLAGGING_MARKUP)
        assert page.driver.find_elements(By.CSS_SELECTOR, "#messages img") == [], "the markup made no elements"
        # An alert would also fail this call (UnexpectedAlertPresentException).
        assert page.driver.execute_script("return window.__chatPwned") is None, "no onerror ran"
    served = ada.driver.execute_async_script("fetch(location.href).then((r) => r.text()).then(arguments[0])")
    assert "&lt;img src=x onerror=alert(1)&gt;" in served and "<img src=x" not in served, "the history is escaped"

    # The input's maxlength stops a person at 2,000 characters...
    box = ada.driver.find_element(By.ID, "say-text")
    ada.driver.execute_script("arguments[0].value = 'x'.repeat(arguments[1])", box, MAX_LENGTH)
    box.send_keys("y")
    assert box.get_attribute("value") == "x" * MAX_LENGTH, "the browser refused the 2,001st character"
    # ...but not one who removes it (as anyone can, in the developer tools): the
    # page's own form then sends 2,001 characters, and the server must refuse them.
    ada.driver.execute_script("arguments[0].removeAttribute('maxlength')", box)
    too_long = "x" * MAX_LENGTH + "y"
    box.send_keys("y", Keys.ENTER)
    assert f"at most {MAX_LENGTH} characters" in ada.wait_for_error()
    ada.say("After the long one.")  # reaches bob after anything the long one could have sent him
    bob.wait_for_texts_ending(MARKUP, FLAGGING_MARKUP, "After the long one.")
    assert too_long not in stored_texts(site, "checks")
    assert bob.error() is None and "error" not in bob.frame_types(), "the error went to ada alone"

    # More than RATE_COUNT messages at once: the form submitted from one script,
    # so all of them certainly leave within the rate's five seconds.
    flood = [f"flood {n}" for n in range(1, RATE_COUNT + 2)]
    bob.driver.execute_script(
        """const input = document.getElementById('say-text'), form = document.getElementById('say');
           for (const text of arguments[0]) { input.value = text; form.requestSubmit(); }""",
        flood,
    )
    assert "Slow down" in bob.wait_for_error()
    assert [frame["code"] for frame in bob.frames() if frame.get("type") == "error"] == ["flood"]
    ada.say("After the flood.")
    for page in (ada, bob):
        page.wait_for_texts_ending("After the flood.")
    # Which of the six is refused depends on the order the worker's threads took
    # them in (a socket's messages are not ordered across threads); that exactly
    # one is, is not.
    accepted = [text for text in ada.texts() if text in flood]
    assert len(accepted) == RATE_COUNT, f"five of the six reach ada: {accepted}"
    assert ada.texts() == bob.texts() == stored_texts(site, "checks"), "everyone has the same, in history's order"
    assert [frame["code"] for frame in ada.frames() if frame.get("type") == "error"] == ["too-long"], (
        "ada got her own error only, none of bob's"
    )


# What is typed while the socket is down is said once it is back (ChannelsSocket queues it).


def test_a_message_typed_while_offline_is_said_once_the_socket_is_back(
    redis_stack: Stack, browser: BrowserFactory
) -> None:
    create_room(redis_stack, "offline")
    ada = ChatPage(browser(), redis_stack.url("/chat/offline/")).enter("ada")
    ada.say("Before the cut.")
    ada.wait_for_texts_ending("Before the cut.")

    redis_stack.processes["ws-1"].stop()
    wait_for_socket_not_open(ada.driver)
    ada.say("Typed while offline.")
    redis_stack.start_ws("ws-1")  # same port: the page reconnects on its own
    wait_for_socket_open(ada.driver)
    ada.wait_for_texts_ending("Before the cut.", "Typed while offline.")
    assert stored_texts(redis_stack, "offline") == ["Before the cut.", "Typed while offline."]
    assert ada.not_reloaded()


# 5: the staff room.


def test_the_staff_room_refuses_visitors_and_lets_staff_in(demo_rooms: Site, browser: BrowserFactory) -> None:
    visitor = ChatPage(browser(), demo_rooms.url("/chat/lobby/")).enter("visitor")
    visitor.driver.get(demo_rooms.url("/chat/staff/"))
    refusal = visitor.driver.find_element(By.ID, "chat-refused").text
    assert "staff only" in refusal and "Sign in as a staff user" in refusal
    assert visitor.driver.find_elements(By.ID, "messages") == [], "no room, no history"
    assert socket_state(visitor.driver) == "none", "the page opens no socket"

    # A socket opened by hand is refused too: with no cookie, and with a visitor's session that has a nickname.
    session_cookie = visitor.driver.get_cookie("sessionid")
    assert session_cookie is not None
    for headers in ({}, {"Cookie": f"sessionid={session_cookie['value']}"}):
        with connect(socket_url(demo_rooms, "/chat/staff/stream/"), additional_headers=headers) as socket:
            refused = json.loads(socket.recv(timeout=PAGE_TIMEOUT))
            assert refused["type"] == "error" and refused["code"] == "4003", refused
            with pytest.raises(ConnectionClosed):
                socket.recv(timeout=PAGE_TIMEOUT)
            assert socket.close_code == 4003

    staff_driver = browser()
    log_into_admin(staff_driver, demo_rooms)
    staff = ChatPage(staff_driver, demo_rooms.url("/chat/staff/")).enter("admin", nickname_form=False)
    staff.wait_for_names(["admin"])
    staff.say("Staff only, in here.")
    staff.wait_for_texts_ending("Staff only, in here.")
    history = requests.get(demo_rooms.url("/chat/staff/messages.json"), timeout=30)
    assert history.status_code == 403 and "Staff only, in here." not in history.text, "visitors cannot read it"


# 2, killed: a person whose WebSocket server died leaves the presence list in bounded time.

GROUP_EXPIRY = 6.0
KEEPALIVE = 1.0
#: For the keepalive that sweeps the dead to go through Redis and a worker, and the notice back to the page.
DELIVERY_MARGIN = 10.0


@pytest.fixture
def expiry_stack(tmp_path: Path) -> Iterator[Stack]:
    """gunicorn, a worker and two WebSocket servers, with a short group expiry and keepalives well inside it.

    The worker starts out rendering pages whose sockets go to ``ws-doomed``.
    """
    stack = Stack(tmp_path, CHANNELS_GROUP_EXPIRY=str(GROUP_EXPIRY), CHANNELS_WS_KEEPALIVE=str(KEEPALIVE))
    try:
        stack.collect_static()
        stack.start_ws("ws-doomed")
        stack.start_ws("ws-live")
        start_worker_for(stack, "ws-doomed", name="worker-doomed")
        stack.start_gunicorn()
        stack.run_manage("loaddemo")
        yield stack
    finally:
        stack.stop()


def test_a_person_whose_websocket_server_was_killed_leaves_within_the_expiry_and_a_keepalive(
    expiry_stack: Stack, browser: BrowserFactory
) -> None:
    url = expiry_stack.url("/chat/lobby/")
    doomed = ChatPage(browser(), url).enter("doomed")
    assert doomed.stream_url == expiry_stack.ws_url("/chat/lobby/stream/", "ws-doomed")
    # Pages rendered from now on point at ws-live (the socket address is the worker's CHANNELS_WS_URL).
    expiry_stack.processes["worker-doomed"].stop()
    start_worker_for(expiry_stack, "ws-live")
    observer = ChatPage(browser(), url).enter("observer")
    assert observer.stream_url == expiry_stack.ws_url("/chat/lobby/stream/", "ws-live")
    observer.wait_for_names(["doomed", "observer"])

    expiry_stack.processes["ws-doomed"].kill()  # SIGKILL: no disconnect reaches any consumer
    wait_until(
        lambda: "doomed left" in observer.notices(),
        GROUP_EXPIRY + KEEPALIVE + DELIVERY_MARGIN,
        what="the observer to see the dead server's person leave",
    )
    observer.wait_for_names(["observer"])
    # More than GROUP_EXPIRY after the observer joined, it is still present: its keepalives refresh it.
    names = expiry_stack.run_manage(
        "shell", "-v0", "-c", "from chat.models import Room; print(Room.objects.get(slug='lobby').presence.names())"
    )
    assert names.strip() == "['observer']"
