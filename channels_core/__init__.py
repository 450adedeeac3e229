"""The channels core: named channels, groups, consumers and workers for Django.

The public surface::

    from channels_core import Channel, Group
    from channels_core.decorators import consumer
"""

from __future__ import annotations

from .channel import Channel, Group

__all__ = ["Channel", "Group"]
