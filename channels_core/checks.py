"""System checks: settings that would quietly break group membership."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

from . import defaults
from .backends import BackendHandler

__all__ = ["check_keepalive_within_group_expiry"]


@register()
def check_keepalive_within_group_expiry(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when sockets would drop out of groups between two keepalives."""
    keepalive = float(getattr(settings, "CHANNELS_WS_KEEPALIVE", defaults.KEEPALIVE))
    problems: list[CheckMessage] = []
    for alias, config in BackendHandler.configured().items():
        group_expiry = float(config.get("GROUP_EXPIRY", defaults.GROUP_EXPIRY))
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
