"""One request's hand-over to a worker: its start ticket, its deadline, and the honest answer on giving up.

The WSGI adapter (:mod:`channels_core.interfaces.wsgi`) makes a
:class:`Handover` for each request. It sends the request's start ticket
before the request, and when the adapter gives up it takes the ticket back
to learn what to answer ("Request deadlines" in ``docs/topics/design.rst``):

* **503** (with ``Retry-After``) when the adapter holds the ticket: no worker
  started the request, and none can.
* **504** when the ticket is gone: a worker took it and started the request,
  whose outcome is unknown.

It also keeps the request's body in check ("Request bodies" in
``docs/topics/design.rst``): the body channel holds a few chunks at a time
(its ``CHANNEL_CAPACITY``), so :meth:`Handover.send_chunk` waits for the
worker to take one before it sends the next, and the adapter takes back
whatever chunks are still waiting once it is done with the request
(:meth:`Handover.drop_body`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..backends import BaseBackend
from ..backoff import Backoff
from ..exceptions import BackendUnavailable, ChannelFull, ChannelsError, InvalidMessage
from ..http import START_TICKET, abandoned_chunk
from ..messages import Message
from ..names import new_channel_name
from ..protocol import REQUEST_CHANNEL, START_CHANNEL_PREFIX

__all__ = ["Handover", "Refused", "refusal"]

logger = logging.getLogger("channels_core.wsgi")

#: Seconds between the first two tries to send a body chunk into a full body channel.
ROOM_FIRST_PAUSE = 0.01
#: Longest pause between two tries: each try sends the whole chunk again.
ROOM_LONGEST_PAUSE = 0.25
#: Chunks taken back per round trip when the adapter drops a body (each is decoded, so not too many).
DROP_BATCH = 8


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
        #: Whether the worker may still wait for chunks: the body channel is made, its last chunk not sent.
        self.body_unfinished = False
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

    def send_chunk(self, message: Message, wait: Callable[[float], bool]) -> bool:
        """Send one more chunk of the body on :attr:`body_channel`, waiting for room while it is full.

        The channel holds a few chunks (its capacity), so a body waits in the
        backend a few chunks at a time, however large it is: the next chunk
        goes once the worker has taken one.

        Args:
            message: the chunk.
            wait: pauses up to the seconds it is given while the channel is
                full; it returns ``True`` to stop trying (the worker answered
                without waiting for the rest of the body).

        Returns:
            Whether the chunk was sent (``False``: ``wait`` said stop).

        Raises:
            Refused: the deadline passed with the channel still full (503; a
                worker that started gets 504 from :meth:`settle`), or the
                backend refused the chunk.
        """
        assert self.body_channel is not None
        pause = ROOM_FIRST_PAUSE
        while True:
            try:
                self.backend.send(self.body_channel, message)
            except ChannelFull:
                remaining = self.remaining()
                if remaining <= 0:
                    raise Refused(503, f"nobody read the rest of the request body within {self.timeout:g} s") from None
                if wait(min(pause, remaining)):
                    return False
                pause = min(pause * 2, ROOM_LONGEST_PAUSE)
                continue
            except BackendUnavailable as error:
                self.outage.failed(error)
                raise refusal(error) from error
            except ChannelsError as error:
                raise refusal(error) from error
            if not message.get("more_content"):
                self.body_unfinished = False
            return True

    def drop_body(self, reason: str | None = None) -> None:
        """Take back the chunks still waiting on :attr:`body_channel`; with ``reason``, tell its reader why.

        The adapter calls it whenever it is done with a body: nobody will read
        those chunks any more, and they must not sit in the backend until they
        expire. A worker that may still be reading (it started the request, and
        has not answered) gets ``reason`` in an abandoned chunk, which fails its
        read at once instead of when its wait for the next chunk ends. Taking
        the chunks back first leaves room for it: the adapter is the only
        sender on the channel.
        """
        if self.body_channel is None:
            return
        self.body_unfinished = False
        try:
            while len(self.backend.receive_many([self.body_channel], timeout=0, limit=DROP_BATCH)) == DROP_BATCH:
                pass
            if reason is not None:
                self.backend.send(self.body_channel, abandoned_chunk(reason))
        except ChannelsError as error:  # the chunks expire on their own; a started reader gives up at the deadline
            if isinstance(error, BackendUnavailable):
                self.outage.failed(error)
            logger.info("could not drop the request body on %s: %s", self.body_channel, error)

    def settle(self, refused: Refused) -> Refused:
        """The answer for a request given up on: ``refused`` if no worker started it or ever will, else a 504.

        The adapter takes the start ticket back. Holding it proves that no
        worker started the request, nor can any. A ticket already gone means a
        worker took it: the request runs, or ran, and its outcome is unknown.

        The body's chunks still waiting are taken back either way; a started
        worker that may still read them is told that the body was abandoned.
        """
        if not self._sent:
            return refused
        if self._stored is False:  # no worker can find the request (nor any chunk); the ticket is tidied away
            self._take_back()
            return refused
        started = self._take_back()
        if started is None:
            # The backend cannot say. A send that failed halfway almost surely stored nothing
            # ("Request deadlines" in docs/topics/design.rst); a stored request may have started.
            started = self._stored is True
        if not started:
            self.drop_body()  # no worker will ever read it
            return refused
        if self.body_unfinished:
            self.drop_body(str(refused))
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
