"""What one socket may cost: replies waiting for it (in number and bytes), frames it may send."""

from __future__ import annotations

from channels_core.frames import Reply
from channels_core.interfaces.limits import ReceiveRate, SendBuffer


def test_the_send_buffer_is_bounded_in_bytes_not_only_in_replies() -> None:
    buffer = SendBuffer(max_messages=100, max_bytes=1000)
    assert buffer.put(Reply("x" * 600))
    assert not buffer.put(Reply("x" * 500))  # 1,100 bytes would wait
    assert buffer.put(Reply("x" * 400))
    assert (len(buffer), buffer.bytes) == (2, 1000)


def test_the_send_buffer_is_bounded_in_replies() -> None:
    buffer = SendBuffer(max_messages=2, max_bytes=10**9)
    assert buffer.put(Reply("a")) and buffer.put(Reply("b"))
    assert not buffer.put(Reply("c"))


def test_one_reply_bigger_than_the_bound_still_fits_an_empty_buffer() -> None:
    buffer = SendBuffer(max_messages=10, max_bytes=100)
    assert buffer.put(Reply("x" * 1000))
    assert not buffer.put(Reply("y"))


def test_taking_a_reply_makes_room() -> None:
    buffer = SendBuffer(max_messages=1, max_bytes=100)
    buffer.put(Reply("first"))
    taken = [buffer.take()]
    assert buffer.put(Reply("second")) and buffer.bytes == 6
    taken.append(buffer.take())
    assert taken == [Reply("first"), Reply("second")]
    assert buffer.take() is None and (len(buffer), buffer.bytes) == (0, 0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_goes_at_once_then_frames_come_at_the_rate() -> None:
    clock = Clock()
    rate = ReceiveRate(rate=10, burst=3, clock=clock)
    assert [rate.delay() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rate.delay() == 0.1  # the fourth waits a tenth of a second
    clock.now = 1.0  # a second later the bucket is full again
    assert [rate.delay() for _ in range(3)] == [0.0, 0.0, 0.0]


def test_a_rate_of_zero_is_no_limit() -> None:
    rate = ReceiveRate(rate=0, burst=1, clock=Clock())
    assert [rate.delay() for _ in range(1000)] == [0.0] * 1000
