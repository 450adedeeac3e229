"""One log line per dropped message, rate-limited so that a flood of drops does not flood the log.

Each line is structured: its text reads ``message dropped: reason=expired
channel=tests.expire count=1``, and the same fields are attributes of the
log record (``reason``, ``channel``, ``count``) for a handler that writes
JSON. For each reason, at most :data:`LINES_PER_WINDOW` lines are written
every :data:`WINDOW` seconds; the drops past that are counted, and the
next line for that reason says how many went unlogged ("and 523 more since
…"). Nothing is lost from the count: the metric
``channels_messages_dropped_total`` has every drop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LINES_PER_WINDOW", "WINDOW", "DropLog"]

#: Lines per reason in one window.
LINES_PER_WINDOW = 10
#: Seconds of one window.
WINDOW = 10.0


@dataclass
class _Window:
    """One reason's current window: when it began, the lines written and the drops left unlogged."""

    began: float
    lines: int = 0
    unlogged: int = 0


class DropLog:
    """Writes the drop lines of one process.

    Args:
        logger: where the lines go (at WARNING).
        lines_per_window: lines per reason per window.
        window: seconds of a window.
        clock: the time, in seconds (a test passes its own).
    """

    def __init__(
        self,
        logger: logging.Logger,
        lines_per_window: int = LINES_PER_WINDOW,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.lines_per_window = lines_per_window
        self.window = window
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def dropped(self, reason: str, channel: str, count: int = 1, detail: str = "") -> bool:
        """Log ``count`` messages of ``channel`` dropped for ``reason``, unless the reason is over its rate.

        Args:
            detail: what happened, in words, appended to the line.

        Returns:
            Whether a line was written.
        """
        with self._lock:
            now = self.clock()
            window = self._windows.get(reason)
            if window is None or now - window.began >= self.window:
                unlogged = window.unlogged if window is not None else 0
                window = self._windows[reason] = _Window(began=now, unlogged=unlogged)
            if window.lines >= self.lines_per_window:
                window.unlogged += count
                return False
            window.lines += 1
            unlogged, window.unlogged = window.unlogged, 0
        more = f" (and {unlogged} more not logged: over {self.lines_per_window} lines in {self.window:g} s)"
        self.logger.warning(
            "message dropped: reason=%s channel=%s count=%d%s%s",
            reason,
            channel,
            count,
            f": {detail}" if detail else "",
            more if unlogged else "",
            extra={"reason": reason, "channel": channel, "count": count},
        )
        return True
