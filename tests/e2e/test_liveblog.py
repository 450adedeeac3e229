"""The live blog end to end: readers in real Chromium, a staff user writing in the admin, real servers.

Issue 4's acceptance, one test per point: the admin scenario on both stacks,
two readers on two WebSocket servers, catching up after a reconnect, markup
shown as text, and group members of a dead server expiring.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from websockets.sync.client import connect

from channels_core.testing import Runserver, wait_past, wait_until
from tests.channels_core.interfaces.stack import Stack

from .conftest import (
    PAGE_TIMEOUT,
    AdminSession,
    BrowserFactory,
    ReaderPage,
    Site,
    create_liveblog,
    create_posts,
    start_worker_for,
    wait_for_socket_not_open,
    wait_for_socket_open,
)

pytestmark = pytest.mark.slow


# 1 and 2: write, edit and delete in the admin; the reader's page follows, on both stacks.


def test_a_post_written_edited_and_deleted_in_the_admin_follows_on_the_readers_page(
    site: Site, browser: BrowserFactory
) -> None:
    title = create_liveblog(site, "scenario")
    earlier = create_posts(site, "scenario", "Doors are open.")
    reader = ReaderPage(browser(), site.url("/liveblog/scenario/")).open()
    reader.wait_until_joined()  # from here on, changes reach the page through the group
    assert reader.post_ids() == earlier
    admin = AdminSession(browser(), site)

    post_id = admin.add_post(title, "The keynote starts.")
    reader.wait_for_pushed("created", post_id)
    reader.wait_for_post(post_id, "The keynote starts.")
    assert reader.post_ids() == [post_id, *earlier], "the new post goes on top"

    admin.edit_post(post_id, "The keynote starts, ten minutes late.")
    reader.wait_for_pushed("updated", post_id)
    reader.wait_for_post(post_id, "The keynote starts, ten minutes late.")
    assert reader.post_ids() == [post_id, *earlier], "the edited post stays where it was"

    admin.delete_post(post_id)
    reader.wait_for_pushed("deleted", post_id)
    reader.wait_for_no_post(post_id)
    assert reader.post_ids() == earlier
    assert reader.not_reloaded(), "all of it happened without a reload"


# 3: readers on two runwsserver processes.


@contextlib.contextmanager
def pages_pointing_at(stack: Stack, ws_name: str) -> Iterator[None]:
    """Serve pages whose sockets go to ``ws_name`` instead of ``ws-1``, for the duration.

    The socket address comes from ``CHANNELS_WS_URL``, read by the process that
    renders pages: the worker. So the worker is swapped for one started with
    the other address, and swapped back after. While it is stopped, messages
    wait in their channels (the stack's worker has no other job).
    """
    stack.processes["worker"].stop()
    start_worker_for(stack, ws_name, name=f"worker-{ws_name}")
    try:
        yield
    finally:
        stack.processes[f"worker-{ws_name}"].stop()
        start_worker_for(stack, "ws-1")


def test_two_readers_on_two_websocket_servers_both_receive_the_post(
    redis_stack: Stack, browser: BrowserFactory
) -> None:
    title = create_liveblog(redis_stack, "two-servers")
    first = ReaderPage(browser(), redis_stack.url("/liveblog/two-servers/")).open()
    with pages_pointing_at(redis_stack, "ws-2"):
        second = ReaderPage(browser(), redis_stack.url("/liveblog/two-servers/")).open()
    assert first.stream_url == redis_stack.ws_url("/liveblog/two-servers/stream/", "ws-1")
    assert second.stream_url == redis_stack.ws_url("/liveblog/two-servers/stream/", "ws-2")
    first.wait_until_joined()
    second.wait_until_joined()
    assert len(redis_stack.backend.group_channels("liveblog-two-servers")) == 2

    post_id = AdminSession(browser(), redis_stack).add_post(title, "Seen from both servers.")
    for reader in (first, second):
        reader.wait_for_pushed("created", post_id)
        reader.wait_for_post(post_id, "Seen from both servers.")
        assert reader.post_ids() == [post_id]


# 4: a reader cut off while posts are saved catches up when its socket comes back.


def test_a_reader_cut_off_while_two_posts_are_saved_has_both_after_reconnecting(
    redis_stack: Stack, browser: BrowserFactory
) -> None:
    create_liveblog(redis_stack, "reconnect")
    earlier = create_posts(redis_stack, "reconnect", "Before the cut.")
    reader = ReaderPage(browser(), redis_stack.url("/liveblog/reconnect/")).open()
    assert reader.stream_url.startswith(redis_stack.ws_url("/", "ws-1"))
    reader.wait_until_joined()

    redis_stack.processes["ws-1"].stop()
    wait_for_socket_not_open(reader.driver)
    missed = create_posts(redis_stack, "reconnect", "Missed while offline, first.", "Missed while offline, second.")
    redis_stack.start_ws("ws-1")  # same port: the page reconnects on its own, with its backoff
    wait_for_socket_open(reader.driver)
    wait_until(lambda: set(missed) <= set(reader.post_ids()), PAGE_TIMEOUT, what="both missed posts on the page")

    ids = reader.post_ids()
    assert len(ids) == len(set(ids)), f"no post twice: {ids}"
    assert ids == [missed[1], missed[0], *earlier], "newest first"
    assert reader.body(missed[0]) == "Missed while offline, first."
    assert reader.body(missed[1]) == "Missed while offline, second."
    assert reader.not_reloaded(), "the page caught up by itself"

    later = create_posts(redis_stack, "reconnect", "After the reconnect.")
    reader.wait_for_pushed("created", later[0])  # back in the group: pushes reach the page again
    reader.wait_for_post(later[0], "After the reconnect.")
    assert reader.post_ids() == [later[0], missed[1], missed[0], *earlier]


# 5: what a writer types is shown as text, never run.

MARKUP = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def assert_shown_as_text(reader: ReaderPage, post_id: int) -> None:
    assert reader.body(post_id) == MARKUP
    assert reader.driver.find_element(By.CSS_SELECTOR, f"#post-{post_id} .body").text == MARKUP
    assert reader.elements_in(post_id, "script, img") == 0, "the markup made no elements"
    assert reader.driver.execute_script("return window.__pwned") is None, "no script ran"


def test_markup_in_a_post_shows_as_text_and_runs_nothing(runserver_site: Runserver, browser: BrowserFactory) -> None:
    title = create_liveblog(runserver_site, "markup")
    reader = ReaderPage(browser(), runserver_site.url("/liveblog/markup/")).open()
    reader.wait_until_joined()

    post_id = AdminSession(browser(), runserver_site).add_post(title, MARKUP)
    reader.wait_for_pushed("created", post_id)
    reader.wait_for_post(post_id, MARKUP)
    assert_shown_as_text(reader, post_id)  # put in by the page's script

    page = requests.get(runserver_site.url("/liveblog/markup/"), timeout=30).text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page, "the server escapes the body"
    assert "<script>window.__pwned" not in page and "<img src=x" not in page
    reader.reload()
    assert_shown_as_text(reader, post_id)  # rendered by the server


# 6: a dead server's readers drop out of the group after GROUP_EXPIRY.

GROUP_EXPIRY = 5.0


@pytest.fixture
def expiry_stack(tmp_path: Path) -> Iterator[Stack]:
    """A worker and two WebSocket servers, with a short group expiry and keepalives well inside it."""
    stack = Stack(tmp_path, CHANNELS_GROUP_EXPIRY=str(GROUP_EXPIRY), CHANNELS_WS_KEEPALIVE="1")
    try:
        stack.start_worker()
        stack.start_ws("ws-doomed")
        stack.start_ws("ws-live")
        yield stack
    finally:
        stack.stop()


@contextlib.contextmanager
def reader_socket(stack: Stack, ws_name: str, group: str) -> Iterator[str]:
    """A reader's socket on ``ws_name``, open for the block; yields its member name once it has joined ``group``."""
    before = set(stack.backend.group_channels(group))
    with connect(stack.ws_url("/liveblog/expiry/stream/", ws_name), open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=PAGE_TIMEOUT)) == {"type": "joined"}
        (member,) = set(stack.backend.group_channels(group)) - before
        yield member


def test_a_reader_of_a_dead_websocket_server_drops_out_of_the_group_after_its_expiry(expiry_stack: Stack) -> None:
    create_liveblog(expiry_stack, "expiry")
    group = "liveblog-expiry"
    with (
        reader_socket(expiry_stack, "ws-doomed", group) as doomed,
        reader_socket(expiry_stack, "ws-live", group) as live,
    ):
        expiry_stack.processes["ws-doomed"].kill()  # SIGKILL: no disconnect reaches any consumer

        wait_until(
            lambda: doomed not in expiry_stack.backend.group_channels(group),
            timeout=GROUP_EXPIRY + 15,
            what="the dead server's reader to expire from the group",
        )
        assert live in expiry_stack.backend.group_channels(group)
        wait_past(GROUP_EXPIRY)  # longer than a membership lasts without a refresh
        assert expiry_stack.backend.group_channels(group) == [live], "keepalives keep the live reader in"
