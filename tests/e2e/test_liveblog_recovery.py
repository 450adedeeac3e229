"""A reader's page recovers what it missed, in real Chromium on the Redis stack (issue 19, acceptance 2 to 4).

The blog's group keeps a history (``GROUP_HISTORY`` in the site's settings).
The page is rendered with the group's position; its socket sends the latest
position it has on every connection and the server replays what came after,
then says in one ``recovery`` frame whether that was everything. Only when it
was not does the page fetch ``posts.json``, the catch-up view.

The tests count the page's requests for ``posts.json`` with the browser's own
resource timing entries (``performance.getEntriesByType("resource")``): every
``fetch`` the page makes is listed there for as long as the page is not
reloaded, and each test checks that it was not. The last test sees a fetch
counted, so the count is known to see them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from channels_core.testing import wait_until
from tests.channels_core.interfaces.stack import Stack

from .conftest import (
    PAGE_TIMEOUT,
    BrowserFactory,
    ReaderPage,
    create_liveblog,
    create_posts,
    start_worker_for,
    wait_for_socket_not_open,
    wait_for_socket_open,
)

pytestmark = pytest.mark.slow

CATCH_UP_REQUESTS = """
return performance.getEntriesByType("resource").filter((entry) => new URL(entry.name).pathname === arguments[0]).length
"""


def catch_up_requests(reader: ReaderPage, slug: str) -> int:
    """How many times the page has requested the blog's catch-up view since it was loaded."""
    return int(reader.driver.execute_script(CATCH_UP_REQUESTS, f"/liveblog/{slug}/posts.json"))


def recoveries(reader: ReaderPage) -> list[dict[str, Any]]:
    """The server's answers to the page's positions, one per connection that joined, oldest first."""
    return [frame["recovery"] for frame in reader.frames() if isinstance(frame, dict) and "recovery" in frame]


def wait_for_recoveries(reader: ReaderPage, count: int) -> dict[str, Any]:
    """Wait until the page has had ``count`` recovery frames; return the last."""
    wait_until(lambda: len(recoveries(reader)) >= count, PAGE_TIMEOUT, what=f"recovery frame number {count}")
    return recoveries(reader)[-1]


def pushed_ids(reader: ReaderPage) -> list[int]:
    """The ids of the posts the page was told of through its socket, in the order the frames came."""
    return [frame["post"]["id"] for frame in reader.frames() if isinstance(frame, dict) and "post" in frame]


def outcome(recovery: dict[str, Any], slug: str) -> dict[str, Any]:
    """The recovery frame's entry for the blog's group."""
    group: dict[str, Any] = recovery["groups"][f"liveblog-{slug}"]
    return group


# Acceptance 2: a reader whose socket is cut gets exactly what it missed, without the catch-up view.


def test_a_reader_cut_off_gets_the_three_posts_it_missed_in_order_once_without_the_catch_up_view(
    redis_stack: Stack, browser: BrowserFactory
) -> None:
    slug = "recovery-cut"
    create_liveblog(redis_stack, slug)
    earlier = create_posts(redis_stack, slug, "Before the cut.")
    reader = ReaderPage(browser(), redis_stack.url(f"/liveblog/{slug}/")).open()
    first = wait_for_recoveries(reader, 1)
    assert first["recovered"] is True and outcome(first, slug)["replayed"] == 0, "the page was rendered up to date"
    reader.wait_until_joined()

    redis_stack.processes["ws-1"].kill()  # SIGKILL: the socket is cut, nobody says goodbye
    wait_for_socket_not_open(reader.driver)
    missed = create_posts(redis_stack, slug, "Missed, first.", "Missed, second.", "Missed, third.")
    redis_stack.start_ws("ws-1")  # same port: the page reconnects on its own, with its backoff
    wait_for_socket_open(reader.driver)
    second = wait_for_recoveries(reader, 2)

    assert second == {"recovered": True, "groups": {f"liveblog-{slug}": {"recovered": True, "replayed": 3}}}
    wait_until(lambda: set(missed) <= set(reader.post_ids()), PAGE_TIMEOUT, what="the three missed posts on the page")
    assert reader.post_ids() == [*reversed(missed), *earlier], "each once, newest first"
    assert [reader.body(post_id) for post_id in missed] == ["Missed, first.", "Missed, second.", "Missed, third."]
    assert pushed_ids(reader) == missed, "replayed in order, each once"
    assert catch_up_requests(reader, slug) == 0, "the catch-up view was not requested"
    assert reader.not_reloaded()

    later = create_posts(redis_stack, slug, "After the reconnect.")
    reader.wait_for_post(later[0], "After the reconnect.")  # back in the group: pushes reach the page again
    assert reader.post_ids() == [later[0], *reversed(missed), *earlier]


# Acceptance 3: a post published between the page's rendering and its socket joining.


def test_a_post_published_after_the_page_rendered_but_before_its_socket_joined_appears(
    redis_stack: Stack, browser: BrowserFactory
) -> None:
    slug = "recovery-gap"
    create_liveblog(redis_stack, slug)
    earlier = create_posts(redis_stack, slug, "Rendered with the page.")
    redis_stack.processes["ws-1"].stop()  # the page's socket cannot join yet
    reader = ReaderPage(browser(), redis_stack.url(f"/liveblog/{slug}/"))
    reader.driver.get(reader.url)
    reader.driver.execute_script("window.__loadedOnce = true")  # gone if the page is loaded again
    assert reader.post_ids() == earlier, "rendered by the server"
    gap = create_posts(redis_stack, slug, "Published before the socket joined.")
    redis_stack.start_ws("ws-1")

    reader.wait_for_post(gap[0], "Published before the socket joined.")
    recovery = wait_for_recoveries(reader, 1)
    assert recovery == {"recovered": True, "groups": {f"liveblog-{slug}": {"recovered": True, "replayed": 1}}}
    assert reader.post_ids() == [gap[0], *earlier]
    assert catch_up_requests(reader, slug) == 0
    assert reader.driver.execute_script("return window.__loadedOnce") is True, "no reload"


# Acceptance 4: Redis restarted while the reader is offline: the history is gone, the page fetches.


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own (gunicorn, a worker, ``ws-1``): this test restarts its Redis."""
    with Stack(tmp_path) as stack:
        stack.collect_static()
        stack.start_ws("ws-1")
        start_worker_for(stack, "ws-1")
        stack.start_gunicorn()
        yield stack


def test_after_a_redis_restart_the_reader_is_told_not_recovered_and_fetches_every_post_once(
    own_stack: Stack, browser: BrowserFactory
) -> None:
    slug = "recovery-lost"
    create_liveblog(own_stack, slug)
    before = create_posts(own_stack, slug, "Before the outage.")
    reader = ReaderPage(browser(), own_stack.url(f"/liveblog/{slug}/")).open()
    assert outcome(wait_for_recoveries(reader, 1), slug) == {"recovered": True, "replayed": 0}

    own_stack.processes["ws-1"].stop()
    wait_for_socket_not_open(reader.driver)
    lost = create_posts(own_stack, slug, "Sent into the history Redis loses.")
    own_stack.redis.stop()
    own_stack.redis.start()  # empty: every history and its epoch are gone
    after = create_posts(own_stack, slug, "Sent into the new history.")
    # The catch-up view answers once the worker has found Redis again.
    catch_up_url = own_stack.url(f"/liveblog/{slug}/posts.json")
    wait_until(lambda: requests.get(catch_up_url, timeout=10).ok, PAGE_TIMEOUT, what="the site to answer again")
    own_stack.start_ws("ws-1")

    recovery = wait_for_recoveries(reader, 2)
    assert recovery["recovered"] is False
    group = outcome(recovery, slug)
    assert (group["recovered"], group["replayed"]) == (False, 0)
    assert group["position"]["offset"] == 1, "the new history's position: the one post sent into it"
    expected = [after[0], lost[0], before[0]]
    wait_until(lambda: reader.post_ids() == expected, PAGE_TIMEOUT, what="every post on the page, once")
    assert catch_up_requests(reader, slug) == 1, "the page fetched the catch-up view, once"
    assert reader.not_reloaded()

    later = create_posts(own_stack, slug, "After the recovery.")
    reader.wait_for_post(later[0], "After the recovery.")
    assert reader.post_ids() == [later[0], *expected]
