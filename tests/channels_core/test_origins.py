"""Which pages may open a socket: the site's own origin, as Django's CSRF check sees it."""

from __future__ import annotations

import pytest
from websockets.datastructures import Headers

from channels_core.origins import OriginPolicy

SITE = OriginPolicy(["example.com", "127.0.0.1"])


def headers(origin: str | None, host: str = "example.com", **more: str) -> Headers:
    handshake = Headers(Host=host, **{name.replace("_", "-"): value for name, value in more.items()})
    if origin is not None:
        handshake["Origin"] = origin
    return handshake


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://example.com", "example.com"),
        ("http://example.com:8080", "example.com:8080"),
        ("http://127.0.0.1:8001", "127.0.0.1:8001"),
        (None, "anything.example"),  # a program, not a page: no cookie jar to abuse
    ],
)
def test_the_sites_own_origin_and_programs_are_accepted(origin: str | None, host: str) -> None:
    assert SITE.refusal(headers(origin, host)) is None


@pytest.mark.parametrize(
    ("origin", "host", "why"),
    [
        ("http://example.com:18999", "example.com", "not this site's ('http://example.com')"),
        ("http://127.0.0.1:18999", "127.0.0.1:8001", "not this site's"),
        ("https://example.com", "example.com", "not this site's"),
        ("http://evil.example", "example.com", "not this site's"),
        ("null", "example.com", "not this site's"),
        # DNS rebinding: the page and the socket share a name this site does not answer to.
        ("http://rebound.example", "rebound.example", "Host 'rebound.example' is not in ALLOWED_HOSTS"),
    ],
)
def test_other_ports_schemes_and_hosts_are_refused(origin: str, host: str, why: str) -> None:
    refusal = SITE.refusal(headers(origin, host))
    assert refusal is not None and why in refusal


def test_trusted_origins_are_accepted_with_their_subdomains() -> None:
    policy = OriginPolicy(["example.com"], trusted_origins=["https://app.example.net", "https://*.example.org"])
    assert policy.refusal(headers("https://app.example.net")) is None
    assert policy.refusal(headers("https://shop.example.org")) is None
    assert policy.refusal(headers("http://shop.example.org")) is not None  # the scheme is part of the origin
    assert policy.refusal(headers("https://example.net")) is not None


def test_behind_a_tls_proxy_the_origin_is_https_only_when_the_proxy_says_so() -> None:
    policy = OriginPolicy(["example.com"], secure_proxy_header=("HTTP_X_FORWARDED_PROTO", "https"))
    assert policy.refusal(headers("https://example.com", X_Forwarded_Proto="https")) is None
    assert policy.refusal(headers("https://example.com")) is not None
    assert policy.refusal(headers("http://example.com", X_Forwarded_Proto="https")) is not None


def test_runserver_trusts_the_pages_of_its_http_port() -> None:
    policy = OriginPolicy(["localhost", "127.0.0.1"], page_port=8000)
    assert policy.refusal(headers("http://localhost:8000", "localhost:8001")) is None
    assert policy.refusal(headers("http://127.0.0.1:8000", "127.0.0.1:8001")) is None
    assert policy.refusal(headers("http://localhost:9000", "localhost:8001")) is not None
