"""Dead peers: one pinger pings every socket, and closes with 1011 those that stop answering (interfaces/pinger.py).

The server here pings every second. A client that does not answer a ping
within the interval is closed with 1011 when its next ping would be due; a
client that answers is never closed. The silent client is a raw TCP socket
that speaks just enough WebSocket to see the pings and the close frame, and
answers the pings it is told to.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
from collections.abc import Iterator

import pytest

from channels_core.backends import backend_from_config

from .test_websocket_server import RECEIVE, RunningServer, take

PING, PONG, CLOSE = 0x9, 0xA, 0x8
#: Seconds between the server's pings here: long enough for a client thread on a busy machine to answer.
INTERVAL = 1.0
#: Pings the raw client answers before it goes silent.
ANSWERED = 2


class RawClient:
    """A WebSocket client over a plain TCP socket: it reads the server's frames and pongs only when told to."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)  # each read's deadline
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /flood/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        response, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 101"), response

    def frame(self) -> tuple[int, bytes]:
        """The server's next frame: its opcode and payload (a server's frames are unmasked, these short)."""
        header = self._read(2)
        length = header[1] & 0x7F
        assert length < 126, "a control frame or a short one"
        return header[0] & 0x0F, self._read(length)

    def pong(self, payload: bytes) -> None:
        """Answer a ping (a client's frames are masked)."""
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[n % 4] for n, byte in enumerate(payload))
        self.sock.sendall(bytes([0x80 | PONG, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        self.sock.close()

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self.buffer += self._recv()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _recv(self) -> bytes:
        data = self.sock.recv(4096)
        assert data, "the server closed the TCP connection"
        return data


@pytest.fixture
def pinging() -> Iterator[RunningServer]:
    server = RunningServer(
        backend_from_config({"BACKEND": "channels_core.backends.memory.InMemoryBackend"}), ping_interval=INTERVAL
    )
    yield server
    server.stop()


def test_a_client_that_stops_answering_pings_is_closed_with_1011_and_one_that_answers_is_not(
    pinging: RunningServer,
) -> None:
    with pinging.connect() as answering:  # websockets' client answers every ping by itself
        (answering_connect,) = take(pinging.backend, "django.websocket.connect", 1)
        silent = RawClient(pinging.port)
        try:
            take(pinging.backend, "django.websocket.connect", 1)
            seen = []
            while not seen or seen[-1] != CLOSE:
                opcode, payload = silent.frame()
                seen.append(opcode)
                if opcode == PING and seen.count(PING) <= ANSWERED:
                    silent.pong(payload)
            # Not closed while it answered; closed once one ping went unanswered for an interval.
            assert seen == [PING] * (ANSWERED + 1) + [CLOSE]
            assert struct.unpack("!H", payload[:2])[0] == 1011
            assert payload[2:] == b"keepalive ping timeout"
        finally:
            silent.close()  # it never answers the close either: its TCP connection ends here
        (disconnect,) = take(pinging.backend, "django.websocket.disconnect", 1)
        assert disconnect["code"] == 1011
        # The answering client opened first, so its pings fell due first: it was pinged as often, and is open.
        server_side = pinging.server.sockets[answering_connect["send_channel"]]
        assert server_side.pong is not None and server_side.pong.done() and not server_side.pong.cancelled()
        answering.send("still here")
        assert take(pinging.backend, RECEIVE, 1)[0]["text"] == "still here"
