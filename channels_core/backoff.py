"""Waiting out a backend outage: exponential back-off, and the log lines an operator needs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from . import defaults

__all__ = ["Backoff"]


class Backoff:
    """Doubles the pause after each failure (up to a cap) and resets after a success.

    Args:
        logger: where the outage and the recovery are logged.
        wait: how to pause; a stop event's ``wait`` lets a shutdown cut the pause short.
    """

    def __init__(self, logger: logging.Logger, wait: Callable[[float], object] = time.sleep) -> None:
        self.logger = logger
        self.wait = wait
        self.delay = defaults.RETRY_BACKOFF_MIN

    def failed(self, error: Exception) -> None:
        """Log the failure and pause before the caller tries again."""
        self.logger.error("backend unavailable, retrying in %.1f s: %s", self.delay, error)
        self.wait(self.delay)
        self.delay = min(self.delay * 2, defaults.RETRY_BACKOFF_MAX)

    def succeeded(self) -> None:
        """Note a success; the first after an outage is logged."""
        if self.delay > defaults.RETRY_BACKOFF_MIN:
            self.logger.info("backend reachable again")
            self.delay = defaults.RETRY_BACKOFF_MIN
