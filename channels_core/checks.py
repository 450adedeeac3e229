"""System checks: settings that would quietly break group membership or HTTP timeouts."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Warning, register

from .backends import BackendHandler
from .backends.base import expiries_of, group_expiry_of
from .interfaces.websocket import keepalive_interval
from .interfaces.wsgi import REQUEST_CHANNEL, http_timeout

__all__ = ["check_keepalive_within_group_expiry", "check_requests_expire_before_the_http_timeout"]


@register()
def check_keepalive_within_group_expiry(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when sockets would drop out of groups between two keepalives."""
    keepalive = keepalive_interval()
    problems: list[CheckMessage] = []
    for alias, config in BackendHandler.configured().items():
        group_expiry = group_expiry_of(config)
        if keepalive >= group_expiry:
            problems.append(
                Warning(
                    f"CHANNELS_WS_KEEPALIVE ({keepalive:g} s) is not shorter than GROUP_EXPIRY "
                    f"({group_expiry:g} s) of CHANNEL_BACKENDS[{alias!r}]: open sockets would drop out "
                    "of their groups between two keepalives.",
                    hint="Make the keepalive interval well under the group expiry (e.g. a quarter of it).",
                    id="channels_core.W001",
                )
            )
    return problems


@register()
def check_requests_expire_before_the_http_timeout(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when a request the WSGI adapter answered with 503 could still be run by a worker later."""
    timeout = http_timeout()
    problems: list[CheckMessage] = []
    for alias, config in BackendHandler.configured().items():
        expiry = expiries_of(config).look_up(REQUEST_CHANNEL)
        if expiry >= timeout:
            problems.append(
                Warning(
                    f"Messages on {REQUEST_CHANNEL} expire after {expiry:g} s in CHANNEL_BACKENDS[{alias!r}], "
                    f"not before CHANNELS_HTTP_TIMEOUT ({timeout:g} s): if HTTP comes through the WSGI adapter, "
                    "a worker could still run a request answered with 503 (a POST taking effect after its 503).",
                    hint=f'Add "CHANNEL_EXPIRY": {{"{REQUEST_CHANNEL}": {timeout / 2:g}}} to the backend '
                    "(half the timeout, leaving the other half for the view).",
                    id="channels_core.W002",
                )
            )
    return problems
