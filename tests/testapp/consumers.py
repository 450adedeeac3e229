"""Consumers the tests run in real ``runworker`` processes.

Each records what it got by appending one line to the file named by
``TEST_RECORD_PATH``; single small appends are atomic, so several worker
processes can share the file.
"""

import os
import random
import time

from channels_core import Channel, Group
from channels_core.decorators import consumer
from channels_core.exceptions import ChannelFull
from channels_core.presence import Presence
from channels_core.sessions import channel_session


def record(line: str) -> None:
    with open(os.environ["TEST_RECORD_PATH"], "a") as file:
        file.write(line + "\n")


@consumer("tests.record")
def record_message(number, **kwargs):
    record(f"got {number}")
    # Work that takes a moment, so a kill can land while a message is in hand.
    time.sleep(float(kwargs.get("work", 0)))  # wait-ok: the work a consumer does, so a kill can land mid-message
    record(f"done {number}")


@consumer("tests.echo")
def echo(reply_to, text, **kwargs):
    Channel(reply_to).send(text=text)


@consumer("tests.fail")
def fail(**kwargs):
    raise RuntimeError("this consumer always fails")


# The metrics test (tests/channels_core/test_metrics_prometheus.py): messages left to expire
# on tests.expire, and a channel filled until a send is refused.


@consumer("tests.expire")
def expire(number, **kwargs):
    record(f"expire {number}")


@consumer("tests.fill")
def fill(channel, **kwargs):
    try:
        while True:
            Channel(channel).send(filler=True)  # nobody reads it: it fills up
    except ChannelFull:
        record(f"full {channel}")


# WebSocket consumers for the interface-server tests: /echo/ echoes and joins a group.


@consumer("django.websocket.connect", path=r"^/echo/$")
@consumer("django.websocket.keepalive", path=r"^/echo/$")
def echo_join(send_channel, **kwargs):
    Group("echoers").add(send_channel)


@consumer("django.websocket.receive", path=r"^/echo/$")
def echo_frame(send_channel, text=None, bytes=None, **kwargs):
    if text is not None:
        Channel(send_channel).send(text=text)
    else:
        Channel(send_channel).send(bytes=bytes)


@consumer("django.websocket.disconnect", path=r"^/echo/$")
def echo_leave(send_channel, code, **kwargs):
    Group("echoers").discard(send_channel)
    if "TEST_RECORD_PATH" in os.environ:
        record(f"disconnect {code} {send_channel}")


# /ordered/: per-socket ordering (tests/channels_core/interfaces/test_ordering.py). Each
# record line starts with the socket's send_channel, so several sockets share the file.


@consumer("django.websocket.connect", path=r"^/ordered/$")
def ordered_connect(send_channel, query_string, **kwargs):
    # The query string names the client, so the test can tell which send_channel is its own.
    record(f"{send_channel} connect start {query_string}")
    time.sleep(0.3)  # wait-ok: a connect that does work, so a receive handled too early shows
    record(f"{send_channel} connect end")


@consumer("django.websocket.receive", path=r"^/ordered/$")
def ordered_receive(send_channel, text, **kwargs):
    number = int(text)
    record(f"{send_channel} receive {number}")
    time.sleep(random.uniform(0, 0.01))  # wait-ok: uneven work, so parallel receives overtake
    record(f"{send_channel} receive-done {number}")
    Channel(send_channel).send(text=str(number))


@consumer("django.websocket.disconnect", path=r"^/ordered/$")
def ordered_disconnect(send_channel, **kwargs):
    record(f"{send_channel} disconnect")


# Two patterns that both match /overlap/special/: the one defined first runs
# (its name sorts last, so an alphabetical dispatch would pick the other).


@consumer("tests.overlap", path=r"^/overlap/")
def zz_defined_first(path, **kwargs):
    record(f"overlap zz_defined_first {path}")


@consumer("tests.overlap", path=r"^/overlap/special/$")
def aa_defined_second(path, **kwargs):
    record(f"overlap aa_defined_second {path}")


# /crowd/: a thousand sockets on one server (tests/channels_core/interfaces/test_many_sockets.py).
# Each socket joins the group "crowd" and the presence set "crowd" under the name in its
# query string (kept in its channel session), gets its frames echoed, stays in both on
# every keepalive, and leaves on disconnect, which it records as "crowd-disconnect <send_channel>".

CROWD = r"^/crowd/$"


@consumer("django.websocket.connect", path=CROWD)
@channel_session
def crowd_connect(send_channel, query_string, channel_session, **kwargs):
    channel_session["name"] = query_string.removeprefix("name=")
    Group("crowd").add(send_channel)
    Presence("crowd").join(send_channel, channel_session["name"])


@consumer("django.websocket.receive", path=CROWD)
def crowd_echo(send_channel, text, **kwargs):
    # A socket's frame is handled only after its connect was reported handled: the echo says both were.
    Channel(send_channel).send(text=text)


@consumer("django.websocket.keepalive", path=CROWD)
@channel_session  # keeps the socket's state from expiring (CHANNELS_SESSION_AGE)
def crowd_stay(send_channel, channel_session, **kwargs):
    Group("crowd").add(send_channel)
    # Only a refresh, never a join: a keepalive is not ordered with the socket's disconnect, and
    # one handled just after it must not bring the socket back.
    Presence("crowd").refresh(send_channel)


@consumer("django.websocket.disconnect", path=CROWD)
@channel_session
def crowd_leave(send_channel, **kwargs):
    Group("crowd").discard(send_channel)
    Presence("crowd").leave(send_channel)
    record(f"crowd-disconnect {send_channel}")
