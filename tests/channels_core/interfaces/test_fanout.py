"""Replies written at once or queued behind earlier ones (``interfaces/fanout.py``) reach their socket in order.

A client that stops reading makes its replies wait in its send buffer; once
it reads again they are sent while more arrive, and replies are written at
once again when none waits. Through every switch the client must get every
reply, in the order they were sent.
"""

from __future__ import annotations

import json
import threading

from websockets.sync.client import connect

from channels_core.backends import backend_from_config

from .test_websocket_server import RunningServer, take

CONNECT = "django.websocket.connect"
#: 12 MiB: more than the kernel's buffers on loopback and the connection's write limit hold, so replies queue.
REPLIES = 3000
PAD = "x" * 4096


def test_replies_queued_for_a_client_that_stopped_reading_come_before_later_ones() -> None:
    backend = backend_from_config({"BACKEND": "channels_core.backends.memory.InMemoryBackend", "CAPACITY": 100_000})
    running = RunningServer(backend, send_buffer=REPLIES, send_buffer_bytes=REPLIES * 2 * len(PAD))
    try:
        # max_queue 1: the client reads nothing more from the kernel until it takes a frame.
        with connect(f"ws://127.0.0.1:{running.port}/x/", open_timeout=10, max_queue=1, max_size=None) as client:
            (connected,) = take(backend, CONNECT, 1)
            channel = connected["send_channel"]
            for n in range(REPLIES // 2):  # the client does not read yet: most of these must wait
                backend.send(channel, {"n": n, "pad": PAD})
            reading = threading.Event()

            def send_the_rest() -> None:  # while the client reads what waited
                reading.wait(10)
                for n in range(REPLIES // 2, REPLIES):
                    backend.send(channel, {"n": n, "pad": PAD})

            sender = threading.Thread(target=send_the_rest)
            sender.start()
            received = []
            for _ in range(REPLIES):
                received.append(json.loads(client.recv(timeout=10))["n"])
                reading.set()
            sender.join(10)
        assert received == list(range(REPLIES))
    finally:
        running.stop()
