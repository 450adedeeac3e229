"""scripts/install-system-packages: what ``make run`` and ``make test`` install with apt, and never a Docker engine.

docker-compose (v1) is installed only to validate docker-compose.yml
(``docker-compose config`` reads the file and needs no engine), but Debian
and Ubuntu list the Docker engine (docker.io, which brings containerd and
runc) among its *recommended* packages, which apt installs by default. So
the script installs without recommends, and the packages it names must not
*depend* on an engine either, which apt's own records show here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

SCRIPT = (ROOT / "scripts" / "install-system-packages").read_text()

#: Container engines and runtimes: what ``make test`` must never install.
ENGINES = {"docker.io", "docker-ce", "moby-engine", "containerd", "containerd.io", "runc", "podman"}


def named_packages() -> list[str]:
    """Every package the script may install by name (``needed+=(...)``), in every mode."""
    return [name for names in re.findall(r"needed\+=\(([^)\"$]+)\)", SCRIPT) for name in names.split()]


def test_apt_installs_no_recommended_package() -> None:
    installs = [line.strip() for line in SCRIPT.splitlines() if "apt-get install" in line]
    assert installs, "the script installs with apt-get"
    for line in installs:
        assert "--no-install-recommends" in line, line


def test_the_script_names_no_engine() -> None:
    assert "docker-compose" in named_packages()
    assert not ENGINES & set(named_packages())


def run_script(tmp_path: Path, mode: str, *, has_ensurepip: bool) -> list[str]:
    """Run the script with apt-get and sudo replaced by recorders; return the apt-get commands it ran."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt-get.log"
    stubs = {
        "apt-get": f'echo "apt-get $*" >> {log}',
        "sudo": 'exec "$@"',
        # A Python as Debian ships it before python3.X-venv is installed: no ensurepip.
        "python": f'case "$*" in *ensurepip*) exit {0 if has_ensurepip else 1};; esac; exec {sys.executable} "$@"',
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHON": str(bin_dir / "python")}
    subprocess.run([ROOT / "scripts" / "install-system-packages", mode], env=env, check=True, timeout=60)
    return log.read_text().splitlines() if log.exists() else []


def test_make_run_installs_python_s_venv_module_when_missing_and_nothing_else(tmp_path: Path) -> None:
    venv_package = f"python{sys.version_info[0]}.{sys.version_info[1]}-venv"
    assert run_script(tmp_path, "run", has_ensurepip=False) == [
        "apt-get update -qq",
        f"apt-get install -y -qq --no-install-recommends {venv_package}",
    ]


def test_make_run_installs_nothing_when_python_can_make_a_virtualenv(tmp_path: Path) -> None:
    assert run_script(tmp_path, "run", has_ensurepip=True) == []


def test_no_package_depends_on_a_container_engine() -> None:
    """The packages the script names, and everything they depend on, recursively (recommends left out)."""
    if shutil.which("apt-cache") is None:
        pytest.skip("no apt-cache: not a Debian or Ubuntu machine")
    packages = named_packages()
    result = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
         "--no-breaks", "--no-replaces", "--no-enhances", *packages],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    closure = {line.strip("<>") for line in result.stdout.splitlines() if line and not line.startswith(" ")}
    unknown = set(packages) - closure
    if unknown:
        pytest.skip(f"apt knows no {sorted(unknown)} (no package lists: run apt-get update)")
    assert "python3-docker" in closure, "docker-compose's own dependencies were followed"
    assert not ENGINES & closure, f"a dependency brings in an engine: {sorted(ENGINES & closure)}"
