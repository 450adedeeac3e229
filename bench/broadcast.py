"""Sends one batch of group broadcasts for ``bench/interfaces.py``, the way each side's application would.

* ``--side ours`` (project virtualenv, ``DJANGO_SETTINGS_MODULE=bench.bench_settings``):
  ``Group("bench").send(text=...)``, synchronous.
* ``--side theirs`` (``bench/.venvs/daphne4``, ``DJANGO_SETTINGS_MODULE=bench.peer_asgi.settings``):
  ``await channel_layer.group_send("bench", {"type": "bench.message", "text": ...})``.

First it waits (polling, with a deadline) until the group has ``--members``
members, then sends ``--count`` broadcasts, back to back (``--rate 0``) or
paced at ``--rate`` per second, then one end marker. Each broadcast's text is
JSON: batch ``b``, number ``n``, send time ``ts`` (``time.monotonic()``) and
some padding, about 120 bytes in all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import benchlib
import django

GROUP = "bench"
PAD = "x" * 64


def text(batch: int, n: int) -> str:
    return json.dumps({"b": batch, "n": n, "ts": time.monotonic(), "pad": PAD})


def end_text(batch: int, sent: int) -> str:
    return json.dumps({"b": batch, "end": True, "sent": sent})


def pause_until(start: float, n: int, rate: float) -> float:
    """Seconds to wait before broadcast ``n`` at ``rate`` per second (0: never wait)."""
    return max(0.0, start + n / rate - time.monotonic()) if rate > 0 else 0.0


def run_ours(args: argparse.Namespace) -> dict[str, Any]:
    from channels_core import Group

    group = Group(GROUP)
    members = wait_for_members(lambda: len(group.channels()), args.members, args.wait)
    delivered = skipped = 0
    first = time.monotonic()
    for n in range(args.count):
        time.sleep(pause_until(first, n, args.rate))
        result = group.send(text=text(args.batch, n))
        delivered += result.delivered
        skipped += result.skipped
    last = time.monotonic()
    group.send(text=end_text(args.batch, args.count))
    return {"members": members, "sent": args.count, "first_send": first, "last_send": last, "skipped": skipped}


async def run_theirs(args: argparse.Namespace) -> dict[str, Any]:
    import redis
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    assert layer is not None
    key = layer._group_key(GROUP)  # the sorted set channels_redis keeps a group's members in
    with redis.Redis.from_url(layer.hosts[0]["address"]) as client:
        members = wait_for_members(lambda: int(client.zcard(key)), args.members, args.wait)
    first = time.monotonic()
    for n in range(args.count):
        await asyncio.sleep(pause_until(first, n, args.rate))
        await layer.group_send(GROUP, {"type": "bench.message", "text": text(args.batch, n)})
    last = time.monotonic()
    await layer.group_send(GROUP, {"type": "bench.message", "text": end_text(args.batch, args.count)})
    return {"members": members, "sent": args.count, "first_send": first, "last_send": last, "skipped": None}


def wait_for_members(count: Any, wanted: int, timeout: float) -> int:
    """Poll the group's size until it reaches ``wanted``; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = int(count())
        if found >= wanted:
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"group {GROUP!r} has {found} members after {timeout:g} s, expected {wanted}")
        time.sleep(0.05)  # poll interval, bounded by the deadline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", choices=["ours", "theirs"], required=True)
    parser.add_argument("--members", type=int, required=True, help="wait until the group has this many")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0, help="broadcasts per second; 0: back to back")
    parser.add_argument("--batch", type=int, default=0)
    parser.add_argument("--wait", type=float, default=30.0, help="deadline for the group to fill, seconds")
    args = parser.parse_args()
    django.setup()
    result = run_ours(args) if args.side == "ours" else asyncio.run(run_theirs(args))
    result["send_rate"] = round(benchlib.rate(result["sent"], result["last_send"] - result["first_send"]), 1)
    benchlib.emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
