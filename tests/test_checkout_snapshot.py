"""scripts/checkout_snapshot.py: ``make test`` fails when the tests change a file of the checkout (issue 16).

Each test makes a small checkout of its own (a git repository in ``tmp_path``
with the project's kinds of files), runs a command that changes something
under the script and reads what it says.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "checkout_snapshot.py"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git checkout with a tracked module, the project's .gitignore, a database and an upload."""
    root = tmp_path / "checkout"
    root.mkdir()
    (root / ".gitignore").write_text((ROOT / ".gitignore").read_text())
    (root / "app.py").write_text("print('hello')\n")
    (root / "db.sqlite3").write_bytes(b"the developer's data")
    (root / "media" / "thumbnails").mkdir(parents=True)
    (root / "media" / "thumbnails" / "1-small.webp").write_bytes(b"an image the developer uploaded")
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "start"], cwd=root, check=True)
    return root


def run(root: Path, code: str, ci: bool = False) -> subprocess.CompletedProcess[str]:
    """The script around ``python -c CODE`` run in ``root``; ``ci``: as CI runs it."""
    env = {**os.environ, "CI": "true" if ci else ""}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), "--", sys.executable, "-c", code],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_upload_replaced_by_a_test_fails_the_run_and_is_named(checkout: Path) -> None:
    result = run(
        checkout,
        "from pathlib import Path; Path('media/thumbnails/1-small.webp').write_bytes(b'a test image');"
        "Path('media/originals').mkdir(); Path('media/originals/x.jpg').write_bytes(b'x')",
    )
    assert result.returncode == 1
    assert "the command changed 2 file(s) of yours" in result.stderr
    assert "  modified  media/thumbnails/1-small.webp\n" in result.stderr
    assert "  created   media/originals/x.jpg\n" in result.stderr


def test_a_database_written_or_made_fails_the_run(checkout: Path) -> None:
    result = run(checkout, "open('db.sqlite3', 'ab').write(b'!'); open('db.sqlite3-wal', 'w').close()")
    assert result.returncode == 1
    assert "  modified  db.sqlite3\n" in result.stderr
    assert "  created   db.sqlite3-wal\n" in result.stderr


def test_the_tools_outputs_and_caches_do_not_count(checkout: Path) -> None:
    code = (
        "from pathlib import Path\n"
        "for path in ['.pytest_cache/v/x', 'pkg/__pycache__/m.pyc', 'docs/_build/html/index.html',"
        " '.venv/.installed-test', '.mypy_cache/x', '.ruff_cache/x', 'x.egg-info/PKG-INFO']:\n"
        "    Path(path).parent.mkdir(parents=True, exist_ok=True); Path(path).write_text('built')\n"
    )
    result = run(checkout, code, ci=True)
    assert (result.returncode, result.stderr) == (0, "")


def test_a_working_file_changed_is_listed_here_and_fails_in_ci(checkout: Path) -> None:
    edit = "open('app.py', 'a').write('# edited\\n'); open('notes.txt', 'w').write('new')"
    here = run(checkout, edit)
    assert here.returncode == 0, "you or your editor may have saved it meanwhile"
    assert "2 of your working file(s) changed during the run; CI fails on this" in here.stderr
    assert "  modified  app.py\n" in here.stderr and "  created   notes.txt\n" in here.stderr
    # app.py was modified already, so `git status` stays the same for it: its bytes tell.
    in_ci = run(checkout, "open('app.py', 'a').write('# again\\n'); open('more.txt', 'w').close()", ci=True)
    assert in_ci.returncode == 1
    assert "  modified  app.py\n" in in_ci.stderr and "  created   more.txt\n" in in_ci.stderr
    assert "`git status --porcelain` changed:\n  after:  ?? more.txt\n" in in_ci.stderr


def test_a_failing_command_keeps_its_status(checkout: Path) -> None:
    assert run(checkout, "raise SystemExit(3)").returncode == 3
    failed_and_wrote = run(checkout, "open('media/y', 'w').close(); raise SystemExit(4)")
    assert failed_and_wrote.returncode == 4
    assert "  created   media/y\n" in failed_and_wrote.stderr


def test_without_git_every_change_fails(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("print('hello')\n")
    result = run(tmp_path, "open('app.py', 'a').write('# edited\\n')")
    assert result.returncode == 1
    assert "  modified  app.py\n" in result.stderr


def test_no_command_is_a_usage_error() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no command to run" in result.stderr
