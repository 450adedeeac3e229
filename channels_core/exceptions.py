"""Every error the channels core raises, under one root.

The hierarchy::

    ChannelsError
    ├── InvalidChannelName      (also a ValueError)
    ├── InvalidMessage          (also a ValueError)
    │   └── MessageTooLarge
    ├── ChannelFull
    ├── BackendUnavailable      the backend's server cannot be reached
    └── ConsumerConflict        two consumers claim the same messages

Messages say what was wrong and with which value, so a log line is enough to
find the cause.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailable",
    "ChannelFull",
    "ChannelsError",
    "ConsumerConflict",
    "InvalidChannelName",
    "InvalidMessage",
    "MessageTooLarge",
]


class ChannelsError(Exception):
    """Root of every error raised by :mod:`channels_core`."""


class InvalidChannelName(ChannelsError, ValueError):
    """A channel or group name breaks one of the naming rules."""


class InvalidMessage(ChannelsError, ValueError):
    """A message is not a dict, or does not encode as JSON."""


class MessageTooLarge(InvalidMessage):
    """A message encodes to more than the size limit (1 MiB)."""


class ChannelFull(ChannelsError):
    """A channel already holds as many messages as its capacity allows."""


class BackendUnavailable(ChannelsError):
    """The backend's server (Redis, the database) could not be reached, refused to serve
    (loading, out of memory, a read-only replica, a lock timeout), or no connection to it came
    free in time.

    Nothing was received. A send that failed may or may not have been stored (its reply may
    have been lost); it is never retried for you, which keeps delivery at most once.
    """


class ConsumerConflict(ChannelsError):
    """Two consumers could both claim the same message (same channel and path)."""
