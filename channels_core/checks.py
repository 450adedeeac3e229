"""System checks: settings that would quietly break group membership or the truth of an HTTP 503."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Warning, register

from .backends import BackendHandler
from .backends.config import expiries_of, group_expiry_of
from .conf import http_timeout, keepalive_interval
from .protocol import START_CHANNEL_PREFIX

__all__ = ["check_keepalive_within_group_expiry", "check_start_tickets_outlive_the_http_timeout"]


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
def check_start_tickets_outlive_the_http_timeout(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when a request no worker started could be answered 504 (outcome unknown) instead of 503.

    The WSGI adapter answers 503 only when it takes the request's start ticket
    back (nothing started; safe to retry). A ticket that expired first is gone
    as if a worker had taken it, so the adapter must answer 504.
    """
    timeout = http_timeout()
    ticket_channel = f"{START_CHANNEL_PREFIX}.x"
    problems: list[CheckMessage] = []
    for alias, config in BackendHandler.configured().items():
        expiry = expiries_of(config).look_up(ticket_channel)
        if expiry <= timeout:
            problems.append(
                Warning(
                    f"Start tickets ({START_CHANNEL_PREFIX}.*) expire after {expiry:g} s in "
                    f"CHANNEL_BACKENDS[{alias!r}], not after CHANNELS_HTTP_TIMEOUT ({timeout:g} s): if HTTP comes "
                    "through the WSGI adapter, a request no worker started could be answered 504 (outcome "
                    "unknown) instead of 503 (safe to retry).",
                    hint=f'Add "CHANNEL_EXPIRY": {{"{START_CHANNEL_PREFIX}.*": {timeout * 2:g}}} to the backend.',
                    id="channels_core.W002",
                )
            )
    return problems
