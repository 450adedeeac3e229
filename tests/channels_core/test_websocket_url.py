"""Where pages open their WebSockets: ``websocket_url``, the context processor and the template tag."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.template import Context, Template, engines
from django.test import RequestFactory

from channels_core.context_processors import websocket, websocket_base_url, websocket_url


@pytest.fixture(autouse=True)
def unconfigured(settings):
    """Every test starts from the defaults: neither setting configured."""
    settings.CHANNELS_WS_URL = ""
    settings.CHANNELS_WS_PORT = None
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "example.com"]


def request_to(host: str, secure: bool = False) -> HttpRequest:
    return RequestFactory().get("/liveblog/x/", HTTP_HOST=host, secure=secure)


class TestAbsoluteUrl:
    def test_used_as_is(self, settings):
        settings.CHANNELS_WS_URL = "wss://example.com/ws/"
        assert (
            websocket_url(request_to("localhost:8000"), "liveblog/x/stream/")
            == "wss://example.com/ws/liveblog/x/stream/"
        )

    def test_missing_trailing_slash_and_leading_slash_of_path(self, settings):
        settings.CHANNELS_WS_URL = "wss://example.com/ws"
        assert websocket_url(request_to("localhost"), "/chat/lobby/") == "wss://example.com/ws/chat/lobby/"

    def test_wins_over_port(self, settings):
        settings.CHANNELS_WS_URL = "ws://sockets.example.com/"
        settings.CHANNELS_WS_PORT = 8001
        assert websocket_url(request_to("localhost:8000"), "chat/") == "ws://sockets.example.com/chat/"


class TestPathPrefix:
    def test_stays_a_path_for_the_browser_to_resolve(self, settings):
        settings.CHANNELS_WS_URL = "/ws/"
        assert websocket_url(request_to("example.com", secure=True), "liveblog/x/stream/") == "/ws/liveblog/x/stream/"

    def test_no_double_slashes(self, settings):
        settings.CHANNELS_WS_URL = "/ws"
        assert websocket_url(request_to("example.com"), "//chat/") == "/ws/chat/"
        assert websocket_url(request_to("example.com")) == "/ws/"


class TestPort:
    @pytest.mark.parametrize(
        ("host", "expected"),
        [
            ("localhost:8000", "ws://localhost:8001/chat/lobby/"),
            ("127.0.0.1:8000", "ws://127.0.0.1:8001/chat/lobby/"),
            ("localhost", "ws://localhost:8001/chat/lobby/"),
            ("[::1]:8000", "ws://[::1]:8001/chat/lobby/"),
        ],
    )
    def test_keeps_the_request_host_name(self, settings, host, expected):
        # The session cookie for localhost is not sent to 127.0.0.1, so the host name must not change.
        settings.CHANNELS_WS_PORT = 8001
        assert websocket_url(request_to(host), "chat/lobby/") == expected

    def test_https_gives_wss(self, settings):
        settings.CHANNELS_WS_PORT = 8001
        assert websocket_url(request_to("localhost:8443", secure=True), "chat/") == "wss://localhost:8001/chat/"


class TestNothingConfigured:
    def test_same_origin_with_port(self):
        assert (
            websocket_url(request_to("localhost:8000"), "liveblog/x/stream/")
            == "ws://localhost:8000/liveblog/x/stream/"
        )

    def test_same_origin_https(self):
        assert websocket_url(request_to("example.com", secure=True), "chat/") == "wss://example.com/chat/"

    def test_base(self):
        assert websocket_base_url(request_to("127.0.0.1:8000")) == "ws://127.0.0.1:8000/"


class TestBadSettings:
    @pytest.mark.parametrize("value", ["ws/", "http://example.com/ws/", "example.com"])
    def test_url_of_the_wrong_form(self, settings, value):
        settings.CHANNELS_WS_URL = value
        with pytest.raises(ImproperlyConfigured, match=f"CHANNELS_WS_URL is {value!r}"):
            websocket_url(request_to("localhost"))

    @pytest.mark.parametrize("value", ["8001", 0, 70000, True])
    def test_port_of_the_wrong_form(self, settings, value):
        settings.CHANNELS_WS_PORT = value
        with pytest.raises(ImproperlyConfigured, match="CHANNELS_WS_PORT is"):
            websocket_url(request_to("localhost"))


class TestContextProcessor:
    def test_adds_the_base_url(self, settings):
        settings.CHANNELS_WS_PORT = 8001
        assert websocket(request_to("localhost:8000")) == {"CHANNELS_WS_BASE_URL": "ws://localhost:8001/"}

    def test_in_a_rendered_template(self, settings):
        settings.CHANNELS_WS_URL = "/ws/"
        settings.TEMPLATES = [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {"context_processors": ["channels_core.context_processors.websocket"]},
            }
        ]
        template = engines["django"].from_string("{{ CHANNELS_WS_BASE_URL }}chat/")
        assert template.render({}, request=request_to("localhost:8000")) == "/ws/chat/"


class TestTemplateTag:
    def render(self, source: str, **context: object) -> str:
        return Template("{% load channels_core %}" + source).render(Context(context))

    def test_port_mode(self, settings):
        settings.CHANNELS_WS_PORT = 8001
        html = self.render('{% websocket_url "liveblog/x/stream/" %}', request=request_to("localhost:8000"))
        assert html == "ws://localhost:8001/liveblog/x/stream/"

    def test_path_built_with_filters(self, settings):
        settings.CHANNELS_WS_URL = "wss://example.com/ws/"
        html = self.render(
            '{% websocket_url "liveblog/"|add:slug|add:"/stream/" %}', request=request_to("localhost"), slug="news"
        )
        assert html == "wss://example.com/ws/liveblog/news/stream/"

    def test_without_a_path(self):
        assert (
            self.render("{% websocket_url %}", request=request_to("example.com", secure=True)) == "wss://example.com/"
        )

    def test_without_a_request(self):
        with pytest.raises(ImproperlyConfigured, match="needs the request"):
            self.render('{% websocket_url "chat/" %}')
