"""Waiting out a backend outage: exponential back-off, and the log lines an operator needs.

An outage is logged twice: when it starts (at ERROR, with the error) and
when it ends (at WARNING, with how long it lasted). The failed retries in
between go to DEBUG, so a five-minute outage is two lines, not hundreds.

Every :class:`Backoff` logging to the same logger in a process shares one
outage: a worker's threads (one back-off each) report a database restart
once between them, not once per thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from . import defaults, metrics

__all__ = ["Backoff"]


class _Outage:
    """When the outage that the back-offs of one logger are in began, if they are in one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.began: float | None = None

    def begin(self) -> bool:
        """Note a failure; ``True`` if it starts an outage (nobody had failed since the last success)."""
        with self._lock:
            if self.began is not None:
                return False
            self.began = time.monotonic()
            return True

    def end(self) -> float | None:
        """Note a success; the seconds the outage lasted if this success ends one, else ``None``."""
        if self.began is None:  # the usual case, without the lock: nothing to end
            return None
        with self._lock:
            began, self.began = self.began, None
        return None if began is None else time.monotonic() - began


_outages: dict[str, _Outage] = {}
_outages_lock = threading.Lock()


def _outage_of(logger: logging.Logger) -> _Outage:
    """The outage shared by every back-off of ``logger`` in this process (one per logger, like loggers)."""
    with _outages_lock:
        return _outages.setdefault(logger.name, _Outage())


class Backoff:
    """Doubles the pause after each failure (up to a cap) and resets after a success.

    Args:
        logger: where the outage and the recovery are logged; back-offs of one
            logger report an outage once between them.
        wait: how to pause; a stop event's ``wait`` lets a shutdown cut the pause short.
    """

    def __init__(self, logger: logging.Logger, wait: Callable[[float], object] = time.sleep) -> None:
        self.logger = logger
        self.wait = wait
        self.delay = defaults.RETRY_BACKOFF_MIN
        self._outage = _outage_of(logger)

    @classmethod
    def reporting_only(cls, logger: logging.Logger) -> Backoff:
        """A back-off that never pauses, for code that gives up at once during an outage (refusing a
        request, closing a socket) and only needs the outage logged once, with the logger's others."""
        return cls(logger, wait=_no_pause)

    def failed(self, error: Exception) -> None:
        """Log the failure (at ERROR if it starts an outage, else at DEBUG) and pause before the caller tries again."""
        if self._outage.begin():
            metrics.backend_outage(self.logger.name)
            self.logger.error(
                "backend unavailable, retrying with back-off (at most %g s apart) until it returns: %s",
                defaults.RETRY_BACKOFF_MAX,
                error,
            )
        else:
            self.logger.debug("backend still unavailable, retrying in %.1f s: %s", self.delay, error)
        self.wait(self.delay)
        self.delay = min(self.delay * 2, defaults.RETRY_BACKOFF_MAX)

    def succeeded(self) -> None:
        """Note a success; the first after an outage logs its end."""
        self.delay = defaults.RETRY_BACKOFF_MIN
        down_for = self._outage.end()
        if down_for is not None:
            metrics.backend_recovery(self.logger.name)
            self.logger.warning("backend reachable again after %.1f s unavailable", down_for)


def _no_pause(seconds: float) -> None:
    """The pause of :meth:`Backoff.reporting_only`: none."""
