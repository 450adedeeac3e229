"""The virtualenvs of the benchmarks: the project's own, and the peers' under ``bench/.venvs/``.

Both orchestrators (``bench/run.py``, ``bench/interfaces.py``) compare us with a
peer installed in a virtualenv of its own, with some packages pinned to the
versions of ours so that the two sides differ only in what is compared.
Standard library only, like the orchestrators.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchlib import log

REPO = Path(__file__).resolve().parent.parent
STAMP = ".bench-requirements"  # inside a peer virtualenv: the requirements it was last installed with


def ours_python() -> Path:
    """The project's virtualenv, whatever interpreter runs this script."""
    venv_python = REPO / ".venv" / "bin" / "python"
    return venv_python if venv_python.exists() else Path(sys.executable)


def versions_of(python: Path, packages: list[str]) -> dict[str, str]:
    """{package: installed version} in the virtualenv of ``python``, in the order asked."""
    probe = "import importlib.metadata as m, json, sys; print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"
    found: dict[str, str] = json.loads(subprocess.check_output([str(python), "-c", probe, *packages], text=True))
    return found


def pinned_like(python: Path, packages: list[str]) -> list[str]:
    """Requirements ``package==version`` for the versions installed beside ``python``."""
    return [f"{name}=={version}" for name, version in versions_of(python, packages).items()]


def ensure_venv(venv: Path, requirements: list[str]) -> Path:
    """Create or update the virtualenv ``venv`` with ``requirements``; return its python.

    A stamp file holds the requirements of the last install, so a run with the
    same ones installs nothing.
    """
    python = venv / "bin" / "python"
    stamp = venv / STAMP
    wanted = "\n".join(requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        log(f"creating {venv.relative_to(REPO)} ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    log(f"installing {' '.join(requirements)} into {venv.relative_to(REPO)} ...")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements], check=True
    )
    stamp.write_text(wanted)
    return python
