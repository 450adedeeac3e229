"""Which browser pages may open a WebSocket: the site's own origin, as Django's CSRF check sees it.

A browser sends the cookies of a host with every socket it opens to that
host, whatever page asked for it; cookies are not even kept apart by port.
So a page of another site, or of another port or scheme of this host, could
open a socket as the signed-in user (cross-site WebSocket hijacking). The
``Origin`` header tells which page asked, and it is accepted exactly when
Django's CSRF check would accept it for a POST:

* the site's own origin: the scheme (``https`` when the handshake came over
  TLS, as ``SECURE_PROXY_SSL_HEADER`` tells behind a proxy) with the
  handshake's ``Host``, which must be one of ``ALLOWED_HOSTS`` (or a page on
  a rebound DNS name would be "same origin");
* an origin in ``CSRF_TRUSTED_ORIGINS`` (``https://*.example.com`` trusts the
  subdomains, as in Django) or in ``CHANNELS_WS_ALLOWED_ORIGINS``;
* under ``runserver``, whose pages and sockets are on two ports of one
  host, the pages of its HTTP port (``page_port``).

A handshake without ``Origin`` comes from a program, not a page, and is
accepted: there is no browser cookie jar to abuse.

Plain functions on plain data, tested without sockets; the WebSocket server
asks :meth:`OriginPolicy.refusal` for each handshake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

__all__ = ["OriginPolicy"]


@dataclass(frozen=True)
class OriginPolicy:
    """The origins a WebSocket server accepts pages from.

    Args:
        allowed_hosts: ``ALLOWED_HOSTS`` rules the handshake's ``Host`` must match.
        trusted_origins: full origins also accepted (``CSRF_TRUSTED_ORIGINS``,
            ``CHANNELS_WS_ALLOWED_ORIGINS``); ``scheme://*.domain`` trusts its subdomains.
        page_port: the port the site's pages are served on, when it is not the
            socket's (``runserver``); ``None`` otherwise.
        secure_proxy_header: ``SECURE_PROXY_SSL_HEADER``: a ``(META name, value)``
            pair that marks a handshake a TLS-terminating proxy received over HTTPS.
    """

    allowed_hosts: list[str]
    trusted_origins: Iterable[str] = ()
    page_port: int | None = None
    secure_proxy_header: tuple[str, str] | None = None
    _exact: frozenset[str] = field(init=False, repr=False)
    _subdomains: frozenset[tuple[str, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        trusted = list(self.trusted_origins)
        object.__setattr__(self, "_exact", frozenset(origin for origin in trusted if "*" not in origin))
        wildcards = [urlsplit(origin) for origin in trusted if "*" in origin]
        subdomains = frozenset((url.scheme, url.netloc[url.netloc.index("*") + 1 :]) for url in wildcards)
        object.__setattr__(self, "_subdomains", subdomains)

    def refusal(self, headers: Mapping[str, str]) -> str | None:
        """Why a handshake with these headers is refused, or ``None`` when it is accepted.

        Args:
            headers: the handshake's headers (a case-insensitive mapping, as the
                ``websockets`` library gives them).
        """
        origin = headers.get("Origin")
        if origin is None:
            return None  # not a browser
        host = headers.get("Host", "")
        domain, _ = split_domain_port(host)
        if not domain or not validate_host(domain, self.allowed_hosts):
            return f"Host {host!r} is not in ALLOWED_HOSTS"
        if origin in self._own_origins(host, domain, self._secure(headers)) or origin in self._exact:
            return None
        url = urlsplit(origin)
        if any(url.scheme == scheme and is_same_domain(url.netloc, suffix) for scheme, suffix in self._subdomains):
            return None
        return f"origin {origin!r} is not this site's ({self._own_origins(host, domain, self._secure(headers))[0]!r})"

    def _own_origins(self, host: str, domain: str, secure: bool) -> list[str]:
        scheme = "https" if secure else "http"
        own = [f"{scheme}://{host}"]
        if self.page_port is not None:
            own.append(f"{scheme}://{domain}:{self.page_port}")
        return own

    def _secure(self, headers: Mapping[str, str]) -> bool:
        if self.secure_proxy_header is None:
            return False  # this server speaks plain ws://; TLS ends at a proxy, which must say so
        meta_name, value = self.secure_proxy_header
        header = meta_name.removeprefix("HTTP_").replace("_", "-")
        return headers.get(header, "").split(",")[0].strip() == value
