"""One request's hand-over to a worker: its start ticket, its deadline, and the honest answer on giving up.

The WSGI adapter (:mod:`channels_core.interfaces.wsgi`) makes a
:class:`Handover` for each request. It sends the request's start ticket
before the request, and when the adapter gives up it takes the ticket back
to learn what to answer ("Request deadlines" in ``docs/topics/design.rst``):

* **503** (with ``Retry-After``) when the adapter holds the ticket: no worker
  started the request, and none can.
* **504** when the ticket is gone: a worker took it and started the request,
  whose outcome is unknown.
"""

from __future__ import annotations

import logging
import time

from ..backends import BaseBackend
from ..backoff import Backoff
from ..exceptions import BackendUnavailable, ChannelFull, ChannelsError, InvalidMessage
from ..http import REQUEST_CHANNEL, START_CHANNEL_PREFIX, START_TICKET, abandoned_chunk
from ..messages import Message
from ..names import new_channel_name

__all__ = ["Handover", "Refused", "no_pause", "refusal"]

logger = logging.getLogger("channels_core.wsgi")


class Refused(Exception):
    """The request cannot be handed to a worker, or was given up on; answer with ``status`` at once.

    ``outage``: the cause is a backend outage, which the adapter logs once for
    all its requests, so each answer is logged at INFO only.
    """

    def __init__(self, status: int, reason: str, outage: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.outage = outage


def refusal(error: ChannelsError) -> Refused:
    """The answer for a message that could not be sent: 400 for a bad message, else 503."""
    if isinstance(error, ChannelFull):
        return Refused(503, f"workers are overloaded: {error}")
    if isinstance(error, InvalidMessage):  # e.g. headers too large for one message
        return Refused(400, str(error))
    return Refused(503, str(error), outage=isinstance(error, BackendUnavailable))


def no_pause(seconds: float) -> None:
    """A request answers 503 at once during an outage instead of waiting it out."""


class Handover:
    """One request on its way to a worker: its start ticket, its deadline, and what to answer on giving up.

    Args:
        backend: the backend the request goes through.
        outage: where failures of the backend are reported (logged once per outage).
        send_channel: the request's response channel.
        timeout: seconds from now to the deadline.
    """

    def __init__(self, backend: BaseBackend, outage: Backoff, send_channel: str, timeout: float) -> None:
        self.backend = backend
        self.outage = outage
        self.send_channel = send_channel
        self.timeout = timeout
        self.start_channel = new_channel_name(START_CHANNEL_PREFIX)
        #: When the adapter stops waiting, for workers (wall clock: they may run on other machines).
        self.deadline = time.time() + timeout
        self._until = time.monotonic() + timeout  # the same moment, for this process's own waits
        #: Where the rest of the body goes, when it does not fit in the request message.
        self.body_channel: str | None = None
        self.body_complete = True
        self._sent = False
        #: Whether the request message is on its channel: ``None`` when its send failed halfway.
        self._stored: bool | None = False

    def remaining(self) -> float:
        """Seconds left until the deadline."""
        return self._until - time.monotonic()

    def send_request(self, message: Message) -> None:
        """Send the start ticket, then the request: one round trip when both are on one backend server.

        The ticket goes first, so no worker can find the request before its ticket.

        Raises:
            Refused: either could not be sent.
        """
        self._sent = True
        ticket, request = self.backend.send_many([(self.start_channel, START_TICKET), (REQUEST_CHANNEL, message)])
        # A send the backend refused stored nothing; one that failed on the way may have stored it.
        self._stored = None if isinstance(request, BackendUnavailable) else request is None
        for error in (ticket, request):
            if isinstance(error, BackendUnavailable):
                self.outage.failed(error)
            if error is not None:
                raise refusal(error)
        self.outage.succeeded()

    def send_chunk(self, message: Message) -> None:
        """Send one more chunk of the body on :attr:`body_channel`."""
        assert self.body_channel is not None
        try:
            self.backend.send(self.body_channel, message)
        except BackendUnavailable as error:
            self.outage.failed(error)
            raise refusal(error) from error
        except ChannelsError as error:
            raise refusal(error) from error

    def settle(self, refused: Refused) -> Refused:
        """The answer for a request given up on: ``refused`` if no worker started it or ever will, else a 504.

        The adapter takes the start ticket back. Holding it proves that no
        worker started the request, nor can any. A ticket already gone means a
        worker took it: the request runs, or ran, and its outcome is unknown.
        """
        if not self._sent:
            return refused
        if self._stored is False:  # no worker can find the request; the ticket is tidied away
            self._take_back()
            return refused
        started = self._take_back()
        if started is None:
            # The backend cannot say. A send that failed halfway almost surely stored nothing
            # ("Request deadlines" in docs/topics/design.rst); a stored request may have started.
            started = self._stored is True
        if not started:
            return refused
        self._abandon_body(refused)
        if refused.status != 503:
            return refused  # e.g. 413: the body was too large whoever started it
        return Refused(504, f"a worker started the request, but {refused}; its outcome is unknown", refused.outage)

    def _take_back(self) -> bool | None:
        """Take the start ticket back: ``False`` if it was there (nothing started), ``True`` if a worker took it.

        ``None`` when the backend cannot be asked.
        """
        try:
            return self.backend.receive([self.start_channel], timeout=0) is None
        except BackendUnavailable as error:
            self.outage.failed(error)
            logger.info("could not take back start ticket %s: %s", self.start_channel, error)
            return None

    def _abandon_body(self, refused: Refused) -> None:
        """Tell the worker that started the request that the rest of its body will not come."""
        if self.body_channel is None or self.body_complete:
            return
        try:
            self.backend.send(self.body_channel, abandoned_chunk(str(refused)))
        except ChannelsError as error:  # the worker's reader then gives up at the deadline
            logger.info("could not mark the body on %s abandoned: %s", self.body_channel, error)
