"""``python manage.py channels``: what is inside the channel backend now.

Queues with their depth and the age of their oldest message, groups with
their live members, presence sets with their people, and the WebSocket
servers alive; ``--group NAME`` lists one group's members and the people of
its presence set; ``--json`` prints the same as JSON for scripts. What it
reads is :mod:`channels_core.inspection`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_core import defaults
from channels_core.exceptions import ChannelsError
from channels_core.inspection import GroupDetail, Snapshot, inspect_backend, inspect_group
from channels_core.management.shared_backend import require_shared_backend

__all__ = ["Command", "format_age", "table"]


class Command(BaseCommand):
    help = (
        "Show what is inside the channel backend now: queues (depth, age of the oldest message), groups "
        "(live members), presence sets (people) and the WebSocket servers alive."
    )

    #: Whether it runs as a process of its own (``manage.py channels``), not inside the site's process.
    _own_process = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--alias", default=defaults.DEFAULT_ALIAS, help="CHANNEL_BACKENDS entry to read")
        parser.add_argument("--group", metavar="NAME", help="list this group's members and its presence set's people")
        parser.add_argument("--json", action="store_true", help="print JSON instead of tables")

    def run_from_argv(self, argv: list[str]) -> None:
        self._own_process = True
        super().run_from_argv(argv)

    def handle(self, *args: Any, **options: Any) -> None:
        alias: str = options["alias"]
        if self._own_process:  # an in-memory backend here would be this process's own, empty one
            require_shared_backend(
                "channels",
                alias,
                lost="this command would only see its own, empty one",
                instead="the admin's Channels page of runserver, which runs in the site's process",
            )
        try:
            if options["group"] is not None:
                detail = inspect_group(options["group"], alias)
                output = _json(detail.as_dict()) if options["json"] else group_text(detail)
            else:
                snapshot = inspect_backend(alias)
                output = _json(snapshot.as_dict()) if options["json"] else snapshot_text(snapshot)
        except (ChannelsError, TypeError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(output)


def snapshot_text(snapshot: Snapshot) -> str:
    """The snapshot as the command prints it: a heading and a table per kind of thing."""
    sections = [f"Channel backend {snapshot.alias!r} ({snapshot.backend})"]
    queue_rows = [
        [q.queue, str(q.depth), str(q.capacity), format_age(q.oldest_age), format_age(q.expiry)]
        for q in snapshot.queues
    ]
    sections.append(_section("Queues", ["QUEUE", "DEPTH", "CAPACITY", "OLDEST", "EXPIRY"], queue_rows))
    group_rows = [[g.group, str(g.members)] for g in snapshot.groups]
    sections.append(_section("Groups", ["GROUP", "MEMBERS"], group_rows))
    presence_rows = [[p.presence, str(len(p.people)), str(p.sockets), ", ".join(p.people)] for p in snapshot.presence]
    sections.append(_section("Presence", ["PRESENCE", "PEOPLE", "SOCKETS", "NAMES"], presence_rows))
    server_rows = [[s.inbox, str(s.memberships), str(s.waiting)] for s in snapshot.servers]
    sections.append(_section("Servers alive", ["INBOX", "IN GROUPS", "WAITING"], server_rows))
    return "\n\n".join(sections)


def group_text(detail: GroupDetail) -> str:
    """One group as the command prints it: its members, then its presence set's people."""
    lines = [f"Group {detail.group!r} on {detail.alias!r}: {len(detail.members)} live member(s)"]
    lines += [f"  {member}" for member in detail.members]
    people = ", ".join(detail.presence) if detail.presence else "nobody"
    lines.append(f"Presence {detail.group!r}: {len(detail.presence)} person(s): {people}")
    return "\n".join(lines)


def _section(title: str, header: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return f"{title} (0)\n  none"
    return f"{title} ({len(rows)})\n" + table(header, rows)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    """Columns aligned under ``header``: the first left-aligned (names), the others right-aligned (numbers).

    The last column is left-aligned too when it is text (a list of names).
    """
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    text_last = bool(rows) and not all(row[-1].replace(".", "").isdigit() for row in rows)

    def line(row: Sequence[str]) -> str:
        cells = []
        for i, cell in enumerate(row):
            left = i == 0 or (i == len(row) - 1 and text_last)
            cells.append(cell.ljust(widths[i]) if left else cell.rjust(widths[i]))
        return indent + "  ".join(cells).rstrip()

    return "\n".join(line(row) for row in [header, *rows])


def format_age(seconds: float | None) -> str:
    """Seconds as a person reads them: ``-`` (none), ``850ms``, ``4.2s``, ``12m05s``, ``3h20m``."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True)
