"""A socket's connect, recovering what its page missed: positions in, one answer out.

The browser client (``ChannelsSocket`` in ``socket.js``, given ``positions``)
sends on every connection the last position it saw in each group, in the
socket URL's ``since`` parameter, as JSON ``{group: position}``. The connect
consumer hands its query string here with the groups the socket joins::

    @consumer("django.websocket.connect", path=STREAM)
    def join_readers(send_channel, slug, query_string="", **kwargs):
        liveblog = Liveblog.objects.get(slug=slug)
        join_with_recovery(send_channel, [liveblog.group], query_string)

:func:`join_with_recovery` adds the socket to each group with the position the
client sent for it (``Group.add(channel, since=...)``: what was missed is put
on the socket first, in order) and then tells the client the outcome in one
frame, which the browser client hands to the page's ``onReconnect``::

    {"recovery": {"recovered": true,
                  "groups": {"liveblog-keynote": {"recovered": true, "replayed": 3}}}}

``recovered`` is true only if every group was. A group the client sent no
valid position for (a first visit, a position mangled on the way) counts as
not recovered: nothing is replayed and the page fetches its data again. Each
group not recovered comes with its current ``position``, so the client's next
connection starts from there instead of from a history that is gone.

A client that sent no ``since`` at all did not ask: the socket is added
plainly and no frame is sent, as before recovery existed. Keepalives refresh
membership with a plain ``Group.add``: a keepalive must never replay.

The groups must keep a history (``GROUP_HISTORY``); one that does not is a
configuration mistake and raises :exc:`ValueError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from .backends.history import Position, Recovery
from .channel import Channel, Group
from .messages import Message

__all__ = ["RECOVERY_KEY", "SINCE_PARAMETER", "GroupsRecovery", "add_since", "join_with_recovery", "positions_sent"]

logger = logging.getLogger(__name__)

#: The socket URL's query parameter holding the client's positions, as JSON ``{group: position}``.
SINCE_PARAMETER = "since"
#: The key of the one frame that tells the client the outcome.
RECOVERY_KEY = "recovery"


@dataclass(frozen=True, slots=True)
class GroupsRecovery:
    """What a connect recovered, group by group.

    Attributes:
        groups: each group's :class:`~channels_core.backends.history.Recovery`, by name.
        positions: the current position of each group not recovered, by name.
    """

    groups: dict[str, Recovery]
    positions: dict[str, Message] = field(default_factory=dict)

    @property
    def recovered(self) -> bool:
        """True if every group recovered, so the page is up to date and need not fetch anything."""
        return all(recovery.recovered for recovery in self.groups.values())

    def as_message(self) -> Message:
        """The frame that tells the client: ``{"recovery": {"recovered", "groups"}}``."""
        groups: dict[str, Message] = {}
        for name, recovery in self.groups.items():
            groups[name] = {"recovered": recovery.recovered, "replayed": recovery.replayed}
            if name in self.positions:
                groups[name]["position"] = self.positions[name]
        return {RECOVERY_KEY: {"recovered": self.recovered, "groups": groups}}


def positions_sent(query_string: str) -> Mapping[str, object] | None:
    """The positions a client sent in its socket URL, by group, unchecked; ``None`` if it sent none.

    A ``since`` that is not a JSON object gives an empty mapping (the client
    asked, and recovers nothing): it comes from a browser, so it is logged at
    debug level, never raised.
    """
    values = parse_qs(query_string).get(SINCE_PARAMETER)
    if not values:
        return None
    try:
        since = json.loads(values[0])
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the stack
        since = None
    if not isinstance(since, dict):
        logger.debug("%s=%.200r is not a JSON object of positions; recovering nothing", SINCE_PARAMETER, values[0])
        return {}
    return since


def join_with_recovery(channel: str, groups: Iterable[Group], query_string: str) -> GroupsRecovery | None:
    """Add ``channel`` to ``groups``, replaying what it missed since the positions its client sent; tell it how it went.

    Args:
        channel: the socket's ``send_channel``.
        groups: the groups the socket joins; each must keep a history.
        query_string: the connect message's ``query_string``.

    Returns:
        What was recovered, also sent to ``channel`` as the ``recovery``
        frame; ``None`` when the client sent no positions (plain adds, no frame).
    """
    positions = positions_sent(query_string)
    if positions is None:
        for group in groups:
            group.add(channel)
        return None
    outcome = add_since(channel, groups, positions)
    Channel(channel).send(outcome.as_message())
    return outcome


def add_since(channel: str, groups: Iterable[Group], positions: Mapping[str, object]) -> GroupsRecovery:
    """Add ``channel`` to each group from the position in ``positions``; a missing or malformed one recovers nothing."""
    recoveries: dict[str, Recovery] = {}
    current: dict[str, Message] = {}
    for group in groups:
        since = _parse_position(positions.get(group.name), group.name)
        if since is None:
            group.add(channel)
            recovery = Recovery(recovered=False, replayed=0)
        else:
            recovery = group.add(channel, since=since.as_dict())
        recoveries[group.name] = recovery
        if not recovery.recovered:
            # Added first: anything sent after this position reaches the channel live.
            current[group.name] = group.position()
    return GroupsRecovery(recoveries, current)


def _parse_position(value: object, group: str) -> Position | None:
    """``value`` as a position of ``group``, or ``None`` if the client sent none or a malformed one."""
    if value is None:
        return None
    try:
        return Position.parse(value, group)
    except ValueError as error:
        logger.debug("malformed position for group %s, recovering nothing: %s", group, error)
        return None
