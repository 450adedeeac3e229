#!/usr/bin/env python3
"""Run a command and fail if it changed the checkout: ``make test`` touches nothing of yours.

    scripts/checkout_snapshot.py [--root DIR] -- COMMAND [ARG ...]

The Makefile runs pytest through it. It records every file of the checkout
before the command (a SHA-256 of its bytes, whether it is executable, a
symlink's target) and ``git status --porcelain``, runs the command, records
again and lists every difference.

"Yours" means every file of the checkout except what the tools themselves
build and cache (:data:`OUTPUTS`: the virtualenv, bytecode, the tools' caches,
the docs' HTML, pip's egg-info). So no tracked file may change, no untracked
file may appear, and ignored files such as ``db.sqlite3*``, ``media/``,
``staticfiles/`` and ``bench/results/`` stay byte-identical.

Which differences fail the run:

* In CI (``CI`` set to 1, true or yes: a fresh clone nobody else works in),
  every one.
* Elsewhere, changes to files git ignores (your database, uploads, collected
  static files, benchmark results: nobody edits those while the tests run)
  fail; changes to your working files (tracked, or untracked and not ignored)
  are listed but do not fail, as you or your editor may have saved them
  during the run.

Exits with the command's status if it failed, else 1 if the check failed, else 0.
Standard library only, so any Python 3.11 runs it.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

#: What the tools write and may rewrite at will (paths from the checkout's root, as in .gitignore).
#: A pattern without a slash matches a file or folder of that name at any depth.
OUTPUTS = (
    ".git",  # git's own store; `git status` below covers what it tracks
    ".venv",  # the virtualenv and make's stamps
    "bench/.venvs",  # the benchmarks' virtualenvs
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "docs/_build",  # `make docs`
    "*.egg-info",  # `pip install -e .`
    "build",  # setuptools
)

Snapshot = dict[str, str]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def is_output(relative: str) -> bool:
    """Whether ``relative`` (a path from the root, with slashes) is one of :data:`OUTPUTS`."""
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(relative if "/" in pattern else name, pattern) for pattern in OUTPUTS)


def fingerprint(path: Path) -> str | None:
    """What a change to ``path`` would change: a symlink's target, a file's mode and bytes (None: it is gone)."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            return f"symlink to {os.readlink(path)}"
        mode = "executable" if info.st_mode & stat.S_IXUSR else "file"
        with path.open("rb") as file:
            return f"{mode} {hashlib.file_digest(file, 'sha256').hexdigest()}"
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"unreadable ({error.strerror})"


def files_of(root: Path) -> Snapshot:
    """Every file under ``root`` outside :data:`OUTPUTS`, by path from the root, with its fingerprint."""
    snapshot: Snapshot = {}
    for folder, folders, files in os.walk(root):
        base = Path(folder).relative_to(root).as_posix()
        prefix = "" if base == "." else f"{base}/"
        folders[:] = [name for name in folders if not is_output(prefix + name)]
        for name in files:
            relative = prefix + name
            if not is_output(relative):
                found = fingerprint(Path(folder, name))
                if found is not None:
                    snapshot[relative] = found
    return snapshot


def git(root: Path, *args: str, stdin: str | None = None) -> str | None:
    """``git ARGS`` in ``root`` without taking git's locks; None when git or a repository is not there."""
    try:
        result = subprocess.run(
            ["git", "--no-optional-locks", *args], cwd=root, input=stdin, capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return result.stdout if result.returncode in {0, 1} and not result.stderr.startswith("fatal") else None


def take(root: Path) -> tuple[Snapshot, list[str] | None]:
    """The files' fingerprints and ``git status --porcelain`` (None outside a git checkout)."""
    status = git(root, "status", "--porcelain", "--untracked-files=all")
    return files_of(root), None if status is None else status.splitlines()


def differences(before: Snapshot, after: Snapshot) -> list[tuple[str, str]]:
    """``(what, path)`` for every file created, deleted or modified, by path."""
    changes = []
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            changes.append(("created", path))
        elif path not in after:
            changes.append(("deleted", path))
        elif before[path] != after[path]:
            changes.append(("modified", path))
    return changes


def ignored_by_git(root: Path, paths: Iterable[str]) -> set[str] | None:
    """Which of ``paths`` git ignores (and does not track); None outside a git checkout."""
    listed = "\0".join(paths)
    if not listed:
        return set()
    output = git(root, "check-ignore", "-z", "--stdin", stdin=listed + "\0")
    return None if output is None else set(filter(None, output.split("\0")))


def report(root: Path, before: tuple[Snapshot, list[str] | None], after: tuple[Snapshot, list[str] | None]) -> bool:
    """Print what changed; return whether that fails the run."""
    changes = differences(before[0], after[0])
    status_before, status_after = before[1], after[1]
    status_changed = status_before is not None and status_after is not None and status_before != status_after
    if not changes and not status_changed:
        return False
    strict = in_ci()
    ignored = ignored_by_git(root, (path for _, path in changes))
    if ignored is None:  # no git: nothing tells data from working files, so everything counts
        strict = True
        ignored = set()
    data = [(what, path) for what, path in changes if strict or path in ignored]
    working = [(what, path) for what, path in changes if not (strict or path in ignored)]
    out = sys.stderr
    if data:
        print(f"\ncheckout-snapshot: the command changed {len(data)} file(s) of yours in {root}:", file=out)
        for what, path in data:
            print(f"  {what:<9} {path}", file=out)
        print(
            "A test wrote outside its tmp_path. Give it a folder of its own: the sites of channels_core.testing "
            "keep their database, MEDIA_ROOT and STATIC_ROOT in theirs. (If a site of yours, such as `make run`, "
            "was using this checkout meanwhile, it may have made these changes: run again without it.)",
            file=out,
        )
    if working:
        print(
            f"\ncheckout-snapshot: {len(working)} of your working file(s) changed during the run; "
            "CI fails on this, here it may have been you or your editor:",
            file=out,
        )
        for what, path in working:
            print(f"  {what:<9} {path}", file=out)
    if status_changed and strict:
        assert status_before is not None and status_after is not None
        print("\ncheckout-snapshot: `git status --porcelain` changed:", file=out)
        for line in sorted(set(status_before) - set(status_after)):
            print(f"  before: {line}", file=out)
        for line in sorted(set(status_after) - set(status_before)):
            print(f"  after:  {line}", file=out)
    return bool(data) or (strict and status_changed)


def run(command: Sequence[str]) -> int:
    """Run ``command`` to its end; Ctrl-C reaches it (same process group) and this waits for it to stop."""
    process = subprocess.Popen(command)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, default=Path(__file__).resolve().parent.parent, help="the checkout (default: this one)"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    options = parser.parse_args(argv)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if not command:
        parser.error("no command to run: checkout_snapshot.py -- COMMAND [ARG ...]")
    root = options.root.resolve()
    before = take(root)
    status = run(command)
    failed = report(root, before, take(root))
    return status or int(failed)


if __name__ == "__main__":
    sys.exit(main())
