"""Consumers the tests run in real ``runworker`` processes.

Each records what it got by appending one line to the file named by
``TEST_RECORD_PATH``; single small appends are atomic, so several worker
processes can share the file.
"""

import os
import time

from channels_core import Channel
from channels_core.decorators import consumer


def record(line: str) -> None:
    with open(os.environ["TEST_RECORD_PATH"], "a") as file:
        file.write(line + "\n")


@consumer("tests.record")
def record_message(number, **kwargs):
    record(f"got {number}")
    # Work that takes a moment, so a kill can land while a message is in hand.
    time.sleep(float(kwargs.get("work", 0)))
    record(f"done {number}")


@consumer("tests.echo")
def echo(reply_to, text, **kwargs):
    Channel(reply_to).send(text=text)


@consumer("tests.fail")
def fail(**kwargs):
    raise RuntimeError("this consumer always fails")
