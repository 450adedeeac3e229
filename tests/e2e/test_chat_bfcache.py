"""The chat and the back/forward cache: a person who leaves by a link leaves the room (issue 16).

Chromium keeps a page left by a link in its back/forward cache, and a page
kept there used to keep its WebSocket open: the person stayed "here now" for
everyone else for as long as the browser kept the page. The browser client
(``socket.js``) now closes its socket on ``pagehide`` and opens a new one on
``pageshow`` when the page comes back from the cache, so the other visitors
see the person leave at once and come back on Back.

Debian's headless Chromium (156), driven by chromedriver, does keep the page
in the cache and restore it on Back, with no extra flag: the test goes through
the ``pageshow`` path. Were the page reloaded instead (a Chromium that keeps no
page with a socket, for one), the person must still leave and come back, and
the test checks that much either way; ``notRestoredReasons`` of
``performance.getEntriesByType("navigation")[0]`` then says why.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from channels_core.testing import Runserver, wait_until

from .conftest import PAGE_TIMEOUT, BrowserFactory, wait_for_socket_open
from .test_chat import ChatPage, create_room

pytestmark = pytest.mark.slow


def keepalive_interval(site: Runserver) -> float:
    """The ``CHANNELS_WS_KEEPALIVE`` the site runs with, read in a process with the server's environment."""
    code = "from django.conf import settings; print(settings.CHANNELS_WS_KEEPALIVE)"
    return float(site.run_manage("shell", "-v0", "-c", code))


def test_a_person_who_follows_a_link_away_leaves_and_comes_back_on_back(
    runserver_site: Runserver, browser: BrowserFactory
) -> None:
    create_room(runserver_site, "bfcache")
    url = runserver_site.url("/chat/bfcache/")
    keepalive = keepalive_interval(runserver_site)
    ada = ChatPage(browser(), url).enter("ada")
    bob = ChatPage(browser(), url).enter("bob")
    for page in (ada, bob):
        page.wait_for_names(["ada", "bob"])

    # Ada follows the header's link to the list of rooms.
    ada.driver.find_element(By.CSS_SELECTOR, "header.site nav a[href='/chat/']").click()
    wait_until(
        lambda: ada.driver.current_url == runserver_site.url("/chat/"), PAGE_TIMEOUT, what="ada on the list of rooms"
    )
    # Her page closed its socket as it was hidden, so she leaves at once. (Open in the cache, the
    # socket's keepalives went on refreshing her: she stayed for as long as the page was kept.)
    wait_until(lambda: "ada left" in bob.notices(), keepalive, what="bob to see ada leave within a keepalive interval")
    bob.wait_for_names(["bob"])
    bob.say("Said while ada was away.")
    bob.wait_for_texts_ending("Said while ada was away.")

    ada.driver.back()
    wait_until(lambda: ada.driver.current_url == url, PAGE_TIMEOUT, what="ada back in the room")
    wait_for_socket_open(ada.driver)
    for page in (ada, bob):
        page.wait_for_names(["ada", "bob"])
    wait_until(lambda: bob.notices().count("ada joined") == 1, PAGE_TIMEOUT, what="bob to see ada come back")
    # Restored or reloaded, her page shows what was said while she was away (fetched on "welcome").
    ada.wait_for_texts_ending("Said while ada was away.")

    if ada.not_reloaded():  # the same page, thawed from the cache: its pageshow opened the new socket
        ada.say("Back again.")
        bob.wait_for_texts_ending("Said while ada was away.", "Back again.")
