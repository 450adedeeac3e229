"""The WebSocket server's keepalives, sent as their schedule says: the asyncio side of keepalives.py.

:class:`~channels_core.interfaces.keepalives.KeepaliveSchedule` decides, with
no I/O, which socket's keepalive is due and how many may be out; this loop
emits them, hears the workers' reports, re-announces every socket after an
outage, and lets a closing socket's disconnect wait for its keepalive still
out. The server gives it a way to emit keepalives for sockets by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Sequence

from .keepalives import KeepaliveSchedule

__all__ = ["KeepaliveSender"]

logger = logging.getLogger("channels_core.websocket")

#: Emits the keepalives of the named sockets; an outcome for each (``None``: stored).
EmitKeepalives = Callable[[Sequence[str]], Awaitable[Sequence[BaseException | None]]]
#: Logs a keepalive that could not be emitted (the server's one way of logging failed sends).
LogFailure = Callable[[str, BaseException], None]

#: Seconds before a keepalive that could not be emitted is tried again.
KEEPALIVE_RETRY = 1.0


class KeepaliveSender:
    """Sends one server's keepalives (see the module docstring).

    Args:
        schedule: the sockets' due times and the window.
        emit: how the server emits keepalives for sockets by name.
        log_failure: how the server logs a send that failed.
    """

    def __init__(self, schedule: KeepaliveSchedule, emit: EmitKeepalives, log_failure: LogFailure) -> None:
        self.schedule = schedule
        self._emit = emit
        self._log_failure = log_failure
        self._changed = asyncio.Event()
        #: Sockets re-announced after the last outage whose keepalive has been handled since.
        self._restored = 0
        #: Closed sockets whose disconnect waits for their keepalive's report.
        self._reports: dict[str, asyncio.Future[None]] = {}
        self._late_logged = -math.inf

    def add(self, name: str, at_once: bool = False) -> None:
        """A socket whose connect was handled (``at_once``: its connect's report may have been lost)."""
        self.schedule.add(name, _now(), at_once=at_once)
        self._changed.set()

    def closed(self, name: str) -> bool:
        """Forget a closed socket; whether its keepalive is still out (its disconnect should wait for it)."""
        out = self.schedule.is_out(name)
        if self.schedule.remove(name):
            self._log_restored()
        return out

    async def wait_for_report(self, name: str) -> None:
        """Wait (at most the schedule's timeout) for the report of a closed socket's keepalive still out."""
        report = self._reports[name] = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(report, self.schedule.timeout)
        self._reports.pop(name, None)

    def handled(self, name: str) -> None:
        """A worker reported the socket's keepalive handled."""
        if self.schedule.handled(name, _now()):
            self._restored += 1
            if not self.schedule.restoring:
                self._log_restored()
        if (report := self._reports.pop(name, None)) is not None and not report.done():
            report.set_result(None)
        self._changed.set()

    def restore_all(self) -> int:
        """After an outage: every socket's keepalive is due at once; how many sockets."""
        count = self.schedule.restore_all(_now())
        self._restored = 0
        self._changed.set()
        return count

    def stop_waiting(self) -> None:
        """A shutdown: closing sockets no longer wait for their keepalives' reports."""
        for report in self._reports.values():
            if not report.done():
                report.set_result(None)

    async def run(self) -> None:
        """Emit each socket's keepalive when due, as fast as workers report them handled, never faster."""
        while True:
            try:
                due = self.schedule.take_due(_now())
                if due:
                    self._warn_if_late(max(late for _, late in due))
                    await self._send([name for name, _ in due])
            except Exception:  # a bug: log it, and keep the sockets in their groups next time
                logger.exception("sending keepalives failed")
            next_due = self.schedule.next_due()
            self._changed.clear()
            wait = None if next_due is None else max(0.0, next_due - _now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)

    async def _send(self, names: list[str]) -> None:
        outcomes = await self._emit(names)
        now = _now()
        for name, outcome in zip(names, outcomes, strict=True):
            if outcome is not None:
                # Not dropped: tried again shortly, and its socket stays in its groups meanwhile.
                self.schedule.failed(name, now, retry_in=KEEPALIVE_RETRY)
                self._log_failure(f"keepalive of {name} not sent, trying again in {KEEPALIVE_RETRY:g} s", outcome)

    def _log_restored(self) -> None:
        logger.warning("restored the group memberships of all %d socket(s) after the outage", self._restored)

    def _warn_if_late(self, late: float) -> None:
        """Say so when keepalives fall behind (the workers do not keep up): sockets may drop out of groups."""
        now, interval = _now(), self.schedule.interval
        if late > interval / 2 and now - self._late_logged > interval:
            self._late_logged = now
            logger.warning(
                "keepalives are %.1f s late for %d socket(s): the workers do not keep up, and sockets may drop "
                "out of their groups (GROUP_EXPIRY); add worker threads or processes",
                late,
                len(self.schedule),
            )


def _now() -> float:
    return asyncio.get_running_loop().time()
