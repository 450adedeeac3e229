"""The layers of channels_core hold: import-linter's contract in pyproject.toml, checked on every run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the project at ``root`` (its pyproject.toml and its channels_core)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_layer_imports_only_those_below_it() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_import_from_a_lower_layer_to_a_higher_one_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "channels_core", tmp_path / "channels_core", ignore=shutil.ignore_patterns("__pycache__"))
    names = tmp_path / "channels_core" / "names.py"
    names.write_text(names.read_text() + "\nfrom .worker import Worker  # a name that needs the worker: wrong way\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "channels_core.names -> channels_core.worker" in result.stdout
