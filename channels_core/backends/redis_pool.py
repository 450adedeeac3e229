"""A bounded pool of connections to one Redis server, shared by a process's threads.

Part of the Redis backend (:mod:`channels_core.backends.redis`): a thread
borrows a connection for one command, one blocking pop or one pipeline, so a
process holds at most ``POOL_SIZE`` connections whatever its number of threads.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable

import redis
from redis.connection import AbstractConnection

from ..exceptions import BackendUnavailable

__all__ = ["IDLE_CHECK_AFTER", "ConnectionPool"]

#: Seconds a pooled connection may sit unused before it is checked (one poll) for a server restart.
IDLE_CHECK_AFTER = 1.0
#: Held while a pool leaves the sockets of the process it was forked from.
_AFTER_FORK = threading.Lock()


class ConnectionPool:
    """At most ``size`` connections to one Redis server, each lent to one thread at a time.

    A thread borrows a connection for one command, one blocking pop or one
    pipeline, so a process holds at most ``size`` connections whatever its
    number of threads (a thread-per-request server would otherwise grow them
    without bound). The last connection given back is the first lent again (a
    stack): a quiet process keeps using the same few sockets. A stack under a
    lock costs under a microsecond a command, several times less than
    redis-py's pool, which polls every socket it lends and counts for metrics.

    When every connection is lent, a thread queues for one. A connection given
    back goes straight to the longest-waiting thread, so a thread blocking in
    pops in a loop (a worker) cannot take it back before a sender that waits.

    A forked child never uses its parent's sockets: the first borrow in a new
    process (gunicorn forks workers from a preloaded parent) closes its copies
    and starts empty.
    """

    def __init__(self, connect: Callable[[], AbstractConnection], size: int, timeout: float, url: str) -> None:
        self.size = size
        self.timeout = timeout
        self.url = url
        self._connect = connect
        self._pid = os.getpid()
        self._start_empty()

    def _start_empty(self) -> None:
        self._lock = threading.Lock()
        self._made: list[AbstractConnection] = []
        self._idle: list[tuple[AbstractConnection, float]] = []  # with the time each came back
        self._queue: collections.deque[_Turn] = collections.deque()
        self._lent_when_closed: set[AbstractConnection] = set()

    def take(self) -> AbstractConnection:
        """A connection for this thread alone, until :meth:`give_back`.

        Raises:
            BackendUnavailable: every connection stayed lent for ``timeout`` seconds.
        """
        self._leave_parent()
        turn = None
        with self._lock:
            # A thread only queues when every connection is lent, and a connection given
            # back goes to the queue first, so nothing idle is ever passed over.
            if self._idle:
                connection, returned_at = self._idle.pop()
            elif len(self._made) < self.size:
                connection, returned_at = self._connect(), time.monotonic()
                self._made.append(connection)
            else:
                turn = _Turn()
                self._queue.append(turn)
        if turn is not None:
            return self._wait_for(turn)
        if time.monotonic() - returned_at > IDLE_CHECK_AFTER and _closed_by_peer(connection):
            # The server went away while it sat idle (a restart): nothing was sent
            # yet, so reconnecting now is safe.
            connection.disconnect()  # type: ignore[no-untyped-call]
        return connection

    def _wait_for(self, turn: _Turn) -> AbstractConnection:
        try:
            turn.wait(self.timeout)
        except BaseException:  # interrupted: pass on a connection handed meanwhile
            if (handed := self._leave_queue(turn)) is not None:
                self.give_back(handed)
            raise
        if (handed := self._leave_queue(turn)) is None:
            raise BackendUnavailable(
                f"the pool of {self.size} connection{'s' if self.size != 1 else ''} to Redis at {self.url} "
                "was exhausted: none came free "
                f"within {self.timeout:g} s (POOL_TIMEOUT). Redis may well be up; POOL_SIZE must exceed the "
                "number of this process's threads that block in receives at once"
            )
        return handed

    def _leave_queue(self, turn: _Turn) -> AbstractConnection | None:
        """The connection handed to ``turn``, or ``None`` (then no connection is handed to it any more)."""
        with self._lock:  # give_back hands over under this lock: a hand-over is either seen here or never made
            if turn.connection is None:
                self._queue.remove(turn)
            return turn.connection

    def give_back(self, connection: AbstractConnection) -> None:
        """Return a connection taken with :meth:`take`, disconnected if it failed."""
        with self._lock:
            if self._lent_when_closed and connection in self._lent_when_closed:
                self._lent_when_closed.discard(connection)
                connection.disconnect()  # type: ignore[no-untyped-call]
            if self._queue:
                self._queue.popleft().hand(connection)
            else:
                self._idle.append((connection, time.monotonic()))

    def close(self) -> None:
        """Disconnect every connection: the idle ones now, the lent ones when they come back.

        The pool stays usable: a connection reconnects on its next use.
        """
        self._leave_parent()
        with self._lock:
            idle = {connection for connection, _ in self._idle}
            for connection in idle:
                connection.disconnect()  # type: ignore[no-untyped-call]
            self._lent_when_closed = set(self._made) - idle

    def _leave_parent(self) -> None:
        """In a forked child (a new pid): close the child's copies of the parent's sockets, and start empty.

        redis-py shuts a socket down only in the process that opened it, so
        closing the copies here leaves the parent's connections working. The
        lock is new too: the parent's may have been held by a thread that the
        child does not have. Two threads of the child may get here at once;
        only the first one starts the pool afresh.
        """
        if self._pid == os.getpid():
            return
        with _AFTER_FORK:
            if self._pid == os.getpid():
                return
            for connection in self._made:
                connection.disconnect()  # type: ignore[no-untyped-call]
            self._start_empty()
            self._pid = os.getpid()


class _Turn:
    """A thread's place in the queue for a connection.

    A bare lock, locked until a connection is handed over, wakes the waiting
    thread for less than an :class:`threading.Event` (a condition and a lock).
    """

    __slots__ = ("_handed", "connection")

    def __init__(self) -> None:
        self.connection: AbstractConnection | None = None
        self._handed = threading.Lock()
        self._handed.acquire()

    def wait(self, timeout: float) -> None:
        """Wait until a connection is handed over, or ``timeout`` seconds have passed."""
        self._handed.acquire(timeout=max(timeout, 0))

    def hand(self, connection: AbstractConnection) -> None:
        self.connection = connection
        self._handed.release()


def _closed_by_peer(connection: AbstractConnection) -> bool:
    """Whether an idle connection's socket has been closed by the server (``False`` if it has none yet)."""
    # redis-py has no public way to ask whether a connection holds a socket, and its
    # can_read() would open one (a connect is not a check): the private attribute is the only way.
    if connection._sock is None:
        return False
    try:
        return bool(connection.can_read(timeout=0))
    except (redis.ConnectionError, OSError):
        return True
