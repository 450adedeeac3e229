"""The plugin's sites as a browser test uses them, with nothing added: the cookbook's example.

``channels_stack`` and ``channels_runserver`` come from ``channels_core.testing``
(named in tests/conftest.py's ``pytest_plugins``); ``browser`` is this
folder's headless Chromium. See docs/howto/test-end-to-end.rst.
"""

from __future__ import annotations

import pytest

from channels_core.testing import Runserver, Stack

from .conftest import BrowserFactory, ReaderPage, create_liveblog, create_posts

pytestmark = pytest.mark.slow


def test_a_post_saved_in_another_process_reaches_the_open_page(channels_stack: Stack, browser: BrowserFactory) -> None:
    create_liveblog(channels_stack, "news")
    reader = ReaderPage(browser(), channels_stack.url("/liveblog/news/")).open()  # waits for its socket
    reader.wait_until_joined()  # the consumer has put the socket in the blog's group

    # A manage.py shell of the stack saves the post; its signal handler tells the group through Redis.
    (post_id,) = create_posts(channels_stack, "news", "Sent through Redis and a worker.")

    reader.wait_for_post(post_id, "Sent through Redis and a worker.")
    assert reader.not_reloaded()


def test_the_page_opens_its_socket_on_runserver_alone(channels_runserver: Runserver, browser: BrowserFactory) -> None:
    create_liveblog(channels_runserver, "hello")
    reader = ReaderPage(browser(), channels_runserver.url("/liveblog/hello/")).open()
    reader.wait_until_joined()
    assert reader.stream_url == channels_runserver.ws_url("/liveblog/hello/stream/")
