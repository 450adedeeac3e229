"""Helpers shared by the benchmark's orchestrator and its two side scripts.

Standard library only: the side script for Django Channels runs in its own
virtualenv (``bench/.venvs/channels4``), where nothing of this project is
installed, and imports this module from the ``bench/`` directory.

A side script talks to the orchestrator through its standard output:

* ``READY`` on a line of its own when a consumer is listening (end-to-end runs);
* ``RESULT <json>`` on the last line, with its measurements.

Times that are compared *across processes* come from :func:`time.monotonic`,
which on Linux is ``CLOCK_MONOTONIC``: one clock for the whole machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

READY = "READY"
RESULT = "RESULT "

#: Normal channels of the benchmark (both sides size their capacity for them).
ONE_CHANNEL = "bench.one"  # the send measurement fills it, the receive measurement drains it
E2E_CHANNEL = "bench.e2e"
GROUP = "bench-group"


def message(n: int) -> dict[str, Any]:
    """The fixed benchmark message: about 120 bytes of JSON."""
    return {"text": "x" * 100, "n": n}


def stop_message(sent: int) -> dict[str, Any]:
    """Ends an end-to-end run: the producer sends it after its last counted message."""
    return {"stop": True, "n": sent}


def rate(count: int, seconds: float) -> float:
    """Operations per second; 0 when nothing was timed."""
    return count / seconds if seconds > 0 else 0.0


def timed(count: int, seconds: float, **extra: Any) -> dict[str, Any]:
    """One measurement as a JSON-able dict."""
    return {"count": count, "seconds": round(seconds, 6), "rate": round(rate(count, seconds), 1), **extra}


class Budget:
    """Stops a timed loop early when it runs past ``max_seconds`` (so a slow side cannot stall the run).

    The clock is read every 64 iterations only, to keep the check out of the measurement.
    """

    def __init__(self, max_seconds: float) -> None:
        self.deadline = time.perf_counter() + max_seconds
        self.exhausted = False

    def over(self, i: int) -> bool:
        if i & 63 == 0 and time.perf_counter() > self.deadline:
            self.exhausted = True
        return self.exhausted


def side_arguments(description: str) -> argparse.Namespace:
    """The command line both side scripts accept."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True, help="redis URL of the benchmark's private server")
    parser.add_argument("--role", required=True, choices=["inproc", "consume", "produce"])
    parser.add_argument("--plan", required=True, help="JSON: what to measure and how many operations")
    return parser.parse_args()


def say_ready() -> None:
    print(READY, flush=True)


def emit(result: dict[str, Any]) -> None:
    print(RESULT + json.dumps(result), flush=True)


def parse_result(stdout: str) -> dict[str, Any]:
    """The ``RESULT`` line of a side script's output."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT):
            parsed: dict[str, Any] = json.loads(line[len(RESULT) :])
            return parsed
    raise ValueError(f"no {RESULT.strip()} line in output:\n{stdout[-2000:]}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def log(text: str) -> None:
    """Progress for the person watching; stderr, so stdout stays machine-readable."""
    print(text, file=sys.stderr, flush=True)
