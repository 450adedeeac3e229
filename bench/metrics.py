"""What counting metrics costs: our echo, broadcast and HTTP figures with metrics on and off, in one run.

::

    .venv/bin/python bench/metrics.py [--rounds 2] [--out results.json]

Each round runs ``bench/interfaces.py --quick --only echo bcast http`` twice,
once with ``--metrics on`` and once with ``--metrics off`` (which goes first
alternates), and the table gives the median of our stack's figures per
setting, and on/off as a ratio (1.00: no cost; for latencies, above 1.00 is
slower). The other stacks of interfaces.py run too; only ours is compared.
Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median
from typing import Any

BENCH = Path(__file__).resolve().parent
SETTINGS = ("on", "off")


def run_interfaces(setting: str, out: Path) -> dict[str, Any]:
    """One quick run of interfaces.py with metrics ``setting``; its JSON report."""
    command = [sys.executable, str(BENCH / "interfaces.py"), "--quick", "--only", "echo", "bcast", "http"]
    subprocess.run([*command, "--metrics", setting, "--out", str(out)], check=False)
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs of each setting (default 2)")
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    figures: dict[str, dict[str, list[float]]] = {}  # figure key -> setting -> one value per run
    labels: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as folder:
        for number in range(args.rounds):
            for setting in SETTINGS if number % 2 == 0 else SETTINGS[::-1]:
                print(f"round {number + 1}/{args.rounds}: metrics {setting}", file=sys.stderr, flush=True)
                report = run_interfaces(setting, Path(folder) / f"{number}-{setting}.json")
                for key, figure in report["figures"].items():
                    if figure.get("ours") is not None:
                        labels[key] = f"{figure['label']} ({figure['unit']})"
                        figures.setdefault(key, {s: [] for s in SETTINGS})[setting].append(figure["ours"])
    rows = []
    print(f"\n{'figure':60} {'on':>12} {'off':>12} {'on/off':>8}")
    for key, by_setting in figures.items():
        on, off = (median(by_setting[s]) if by_setting[s] else None for s in SETTINGS)
        ratio = on / off if on is not None and off else None
        rows.append({"key": key, "label": labels[key], "on": on, "off": off, "ratio": ratio, "runs": by_setting})
        shown = [f"{v:12.1f}" if v is not None else f"{'-':>12}" for v in (on, off)]
        print(f"{labels[key][:60]:60} {shown[0]} {shown[1]} {ratio if ratio is None else f'{ratio:8.3f}'}")
    if args.out:
        args.out.write_text(json.dumps({"rounds": args.rounds, "figures": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
