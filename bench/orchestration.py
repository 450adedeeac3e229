"""What the benchmark orchestrators share: their command line, and the end of their report.

The orchestrators (``run.py``, ``interfaces.py``, ``cluster.py``) each take a
short profile (``--quick``), a JSON file for every figure (``--out``) and a CPU
layout (``--cpus``), and end with their failed checks and that JSON file.
Standard library only, like the orchestrators.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

from benchlib import log


def parser(description: str, quick: str, layouts: dict[str, str], default_layout: str) -> argparse.ArgumentParser:
    """The options every orchestrator takes; ``quick`` says what ``--quick`` runs, ``layouts`` are the CPU layouts."""
    found = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    found.add_argument("--quick", action="store_true", help=quick)
    found.add_argument("--out", type=Path, help="also write the figures and every raw run to this JSON file")
    found.add_argument(
        "--cpus",
        choices=sorted(layouts),
        default=default_layout,
        help="CPU layout: "
        + "; ".join(f"{name}: {text}" for name, text in layouts.items())
        + f" (default: {default_layout})",
    )
    return found


def print_checks(problems: list[str], passed: str) -> None:
    """Every failed check, or ``passed`` (what was checked) when none failed."""
    if not problems:
        print(f"Checks: {passed}")
        return
    print("CHECKS FAILED:")
    for problem in problems:
        print(f"  - {problem}")


def report(
    args: argparse.Namespace, busy: float | None, environment: dict[str, Any], **sections: Any
) -> dict[str, Any]:
    """The JSON report: the profile and CPU layout asked for, the machine (with ``environment``), then ``sections``.

    ``busy``: the share of the CPUs other work used just before the run.
    """
    machine = {"cpus": os.cpu_count(), "busy_before_run": busy, "python": platform.python_version()}
    return {
        "profile": "quick" if args.quick else "full",
        "cpu_layout": args.cpus,
        "environment": {**machine, **environment},
        **sections,
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` to ``path`` (making its folder), indented for a reader."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {path}")
