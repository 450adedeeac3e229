"""The table of ``bench/interfaces.py``: every run's figures in rows, the failed checks, the verdict.

A row is one figure (a rate, a latency percentile or CPU per operation) of one
measurement, with one value per round for each stack; the table shows medians,
ours/daphne and ours/plain ratios, and the spread of the rounds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchlib import median
from measurements import Profile
from stacks import HELLO


@dataclass
class Row:
    """One figure of one measurement, with one value per round for each stack."""

    key: str
    label: str
    unit: str
    lower_is_better: bool
    figures: dict[str, list[float]]  # side -> one figure per round

    def value(self, side: str) -> float | None:
        values = [v for v in self.figures.get(side, []) if v is not None]
        return median(values) if values else None

    @property
    def spread(self) -> float:
        """Half the largest min-to-max range of the stacks' rounds, relative to its median: the noise of the row."""
        spreads = [
            (max(v) - min(v)) / 2 / median(v)
            for v in self.figures.values()
            if len(v) > 1 and None not in v and median(v)
        ]
        return max(spreads, default=0.0)


#: measurement -> stack -> one result per round, as the measurements return them.
Runs = dict[str, dict[str, list[dict[str, Any]]]]


def summarize(runs: Runs, profile: Profile) -> tuple[list[Row], list[str]]:
    """The rows of the table, and the list of failed checks."""
    return table_rows(runs, profile), failed_checks(runs)


def table_rows(runs: Runs, profile: Profile) -> list[Row]:
    """One row per figure of every measurement that ran, in the table's order."""
    rows: list[Row] = []

    def add(key: str, label: str, unit: str, measurement: str, pick: Callable[[dict[str, Any]], Any]) -> None:
        if measurement not in runs:
            return
        figures = {side: [pick(run) for run in side_runs] for side, side_runs in runs[measurement].items()}
        rows.append(Row(key, label, unit, not unit.endswith("/s"), figures))

    echo = f"1. echo, {profile.echo_clients} clients"
    add("echo_rate", echo, "msg/s", "echo", lambda r: r["rate"])
    add("echo_p50", "", "p50 ms", "echo", lambda r: r["p50_ms"])
    add("echo_p99", "", "p99 ms", "echo", lambda r: r["p99_ms"])
    add("echo_cpu", "", "CPU us/msg", "echo", lambda r: r["cpu_us_total"])
    for servers in profile.bcast_servers:
        key = f"bcast_{servers}"
        where = "1 server" if servers == 1 else f"{servers} servers"
        burst = f"2. broadcast to {profile.bcast_clients}, {where}, burst of {profile.bcast_burst}"
        add(f"{key}_burst_rate", burst, "deliveries/s", key, lambda r: r["batches"][0]["deliveries_per_s"])
        add(f"{key}_burst_p50", "", "p50 ms", key, lambda r: r["batches"][0]["p50_ms"])
        add(f"{key}_burst_p99", "", "p99 ms", key, lambda r: r["batches"][0]["p99_ms"])
        add(f"{key}_burst_cpu", "", "CPU us/deliv.", key, lambda r: r["batches"][0]["cpu_us_total"])
        paced = f"   paced, {profile.bcast_rate:g} broadcasts/s x {profile.bcast_paced}"
        add(f"{key}_paced_p50", paced, "p50 ms", key, lambda r: r["batches"][1]["p50_ms"])
        add(f"{key}_paced_p99", "", "p99 ms", key, lambda r: r["batches"][1]["p99_ms"])
    http = f"3. HTTP GET {HELLO}, {profile.http_connections} connections"
    add("http_rate", http, "requests/s", "http", lambda r: r["rate"])
    add("http_p50", "", "p50 ms", "http", lambda r: r["p50_ms"])
    add("http_p99", "", "p99 ms", "http", lambda r: r["p99_ms"])
    add("http_cpu", "", "CPU us/req", "http", lambda r: r["cpu_us_total"])
    add("http_single_p50", "   1 connection", "p50 ms", "http", lambda r: r["single"]["p50_ms"])
    add("http_single_p99", "", "p99 ms", "http", lambda r: r["single"]["p99_ms"])
    return rows


def failed_checks(runs: Runs) -> list[str]:
    """What went wrong in any run: client errors, missed deliveries, non-2xx answers, a saturated load generator."""
    problems: list[str] = []
    for measurement, sides in runs.items():
        for side, side_runs in sides.items():
            for number, run in enumerate(side_runs, 1):
                where = f"{measurement} {side} round {number}"
                if run.get("error_count"):
                    problems.append(f"{where}: {run['error_count']} client error(s), e.g. {run['errors'][:2]}")
                if run.get("non_2xx") or run.get("socket_errors"):
                    problems.append(
                        f"{where}: {run['non_2xx']} non-2xx responses, {run['socket_errors']} socket errors"
                    )
                if run.get("client_cpu", 0) > 0.9:
                    problems.append(
                        f"{where}: the load generator used {run['client_cpu']:.0%} of a CPU (it may be the limit)"
                    )
                for batch in run.get("batches", []):
                    if batch["received"] != batch["expected"] or batch["timed_out"]:
                        problems.append(
                            f"{where} {batch['name']}: received {batch['received']} of {batch['expected']} deliveries"
                            + (" (timed out)" if batch["timed_out"] else "")
                        )
                    if batch["skipped"]:
                        problems.append(f"{where} {batch['name']}: the group send skipped {batch['skipped']} members")
                    if (batch.get("client_cpu") or 0) > 0.9:
                        problems.append(
                            f"{where} {batch['name']}: the clients used {batch['client_cpu']:.0%} of a CPU "
                            "(they may be the limit)"
                        )
                if run.get("errors") and not run.get("error_count"):
                    problems.append(f"{where}: {run['errors'][:2]}")
    return problems


def ratio(ours: float | None, theirs: float | None) -> str:
    """``ours / theirs`` as the table prints it; ``-`` when either is missing."""
    return f"{ours / theirs:.2f}x" if ours is not None and theirs else "-"


def print_table(rows: list[Row], header: list[str], problems: list[str]) -> list[str]:
    """Print the table; return the verdict lines."""
    width = max(len(row.label) for row in rows) + 2

    def number(value: float | None, unit: str) -> str:
        if value is None:
            return "-"
        return f"{value:,.2f}" if unit.endswith("ms") else f"{value:,.0f}"  # rates and CPU microseconds

    print()
    print("\n".join(header))
    print()
    print(
        f"{'':{width}}{'':14}{'ours':>11}{'daphne':>11}{'ours/daphne':>13}{'plain':>11}{'ours/plain':>12}{'spread':>9}"
    )
    behind: list[str] = []
    compared = 0
    for row in rows:
        ours, daphne, plain = row.value("ours"), row.value("daphne"), row.value("plain")
        spread = f"±{row.spread:.0%}" if any(len(v) > 1 for v in row.figures.values()) else ""
        plain_text = number(plain, row.unit) if "plain" in row.figures else ""
        plain_ratio = ratio(ours, plain) if "plain" in row.figures else ""
        print(
            f"{row.label:{width}}{row.unit:14}{number(ours, row.unit):>11}{number(daphne, row.unit):>11}"
            f"{ratio(ours, daphne):>13}{plain_text:>11}{plain_ratio:>12}{spread:>9}"
        )
        if ours is not None and daphne is not None:
            compared += 1
            worse = ours > daphne if row.lower_is_better else ours < daphne
            if worse:
                label = row.label.strip() or previous_label(rows, row)
                behind.append(f"{label} {row.unit}: ours {number(ours, row.unit)}, daphne {number(daphne, row.unit)}")
    print()
    print("Ratios are ours/theirs: above 1 is better for rates (/s), below 1 is better for latencies and CPU.")
    verdict = [f"Ahead of daphne on {compared - len(behind)} of {compared} figures."]
    verdict += [f"  behind: {line}" for line in behind]
    verdict += http_against_plain(rows)
    print("\n".join(verdict))
    print()
    if problems:
        print("CHECKS FAILED:")
        for problem in problems:
            print(f"  - {problem}")
    else:
        print("Checks: every echo came back, every broadcast reached every socket, every HTTP answer was 200.")
    return verdict


def http_against_plain(rows: list[Row]) -> list[str]:
    """Our HTTP latencies over plain gunicorn's, against the 2x target."""
    by_key = {row.key: row for row in rows}
    lines = []
    for key, where in [
        ("http_p50", f", {profile_connections(rows)} connections"),
        ("http_p99", f", {profile_connections(rows)} connections"),
        ("http_single_p50", ", 1 connection"),
        ("http_single_p99", ", 1 connection"),
    ]:
        row = by_key.get(key)
        ours, plain = (row.value("ours"), row.value("plain")) if row is not None else (None, None)
        if row is not None and ours is not None and plain:
            value = ours / plain
            lines.append(
                f"HTTP {row.unit}{where}: through channels / plain gunicorn = {value:.2f}x "
                f"({'within' if value <= 2 else 'NOT within'} the 2x target)"
            )
    return lines


def profile_connections(rows: list[Row]) -> str:
    """The connection count in the HTTP row's label."""
    label = next((row.label for row in rows if row.key == "http_rate"), "")
    found = re.search(r"(\d+) connections", label)
    return found.group(1) if found else "?"


def previous_label(rows: list[Row], row: Row) -> str:
    """The label a row is listed under: its own, or the last one above it (rows after the first leave theirs empty)."""
    label = ""
    for other in rows:
        if other.label.strip():
            label = other.label.strip()
        if other is row:
            break
    return label
