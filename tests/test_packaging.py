"""The dependency split: ``make run`` installs what the site needs, ``make test`` adds the test tools.

pyproject.toml's ``dependencies`` are the site's (``make run`` and the
Dockerfile install them); its ``test`` extra holds the tools that only the
checks use. These tests read the Makefile as ``make -n`` prints it, and run
the site's code with every installed package outside the site's
dependencies hidden, so a test tool the site starts to import is caught here
rather than on a newcomer's fresh clone. No network is used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.helpers import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: Tools only the checks use; none of them may be a dependency of the site.
TEST_TOOLS = {"pytest", "pytest-django", "pytest-timeout", "selenium", "mypy", "django-stubs", "ruff", "sphinx"}

#: Installed with every virtualenv, whatever the project asks for.
VENV_TOOLS = {"pip", "setuptools", "wheel"}

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def site_requirements() -> list[Requirement]:
    return [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]


def requirements_of_the_test_extra() -> list[Requirement]:
    return [Requirement(line) for line in PYPROJECT["project"]["optional-dependencies"]["test"]]


def make_dry_run(*args: str, cwd: Path = ROOT) -> list[str]:
    """The commands ``make -n`` would run, one a line (nothing is run)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAKE", "MFLAGS", "PYTHON"))}
    result = subprocess.run(["make", "-n", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def pip_installs(commands: list[str]) -> list[str]:
    """What each ``pip install`` line installs, its options left out."""
    installs = []
    for command in commands:
        if " pip install " in f" {command} " or "/pip install " in command:
            words = command.split("pip install", 1)[1].split()
            installs.append(" ".join(word for word in words if not word.startswith("-") or word == "-e"))
    return installs


def test_no_test_tool_is_a_dependency_of_the_site() -> None:
    site = {canonical(r.name) for r in site_requirements()}
    extra = {canonical(r.name) for r in requirements_of_the_test_extra()}
    assert extra >= TEST_TOOLS, "the test tools are in the test extra"
    assert not site & extra, f"in both the site's dependencies and the test extra: {sorted(site & extra)}"


def test_make_run_installs_the_site_without_the_test_extra() -> None:
    commands = make_dry_run("--always-make", "run")  # every step, as on a fresh clone
    assert pip_installs(commands) == ["pip", "-e ."], commands
    assert not [c for c in commands if "[test]" in c or "install-system-packages test" in c], commands
    assert commands[-1].endswith("manage.py runserver")


def test_make_test_installs_the_test_extra() -> None:
    commands = make_dry_run("--always-make", "test")
    assert pip_installs(commands) == ["pip", "-e .", '-e ".[test]"'], commands
    assert any(c.endswith("install-system-packages test") for c in commands), commands


def test_make_test_after_make_run_adds_the_test_tools_and_reinstalls_nothing(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "pyvenv.cfg").touch()
    run_stamp = tmp_path / ".venv" / ".installed-run"
    run_stamp.touch()
    later = (tmp_path / "pyproject.toml").stat().st_mtime + 10
    os.utime(run_stamp, (later, later))  # as `make run` leaves it

    commands = make_dry_run("test", cwd=tmp_path)
    assert pip_installs(commands) == ['-e ".[test]"'], commands
    assert not [c for c in commands if " -m venv " in c], commands

    test_stamp = tmp_path / ".venv" / ".installed-test"
    test_stamp.touch()
    os.utime(test_stamp, (later, later))
    assert pip_installs(make_dry_run("run", cwd=tmp_path)) == [], "a test install serves make run as it is"
    assert pip_installs(make_dry_run("test", cwd=tmp_path)) == []


def installed_closure(requirements: list[Requirement]) -> set[str]:
    """The installed distributions these requirements bring in, with their extras, recursively."""
    found: set[str] = set()
    todo = [(requirement, "") for requirement in requirements]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue  # for another platform or Python
        name = canonical(distribution.metadata["Name"])
        key = f"{name}[{','.join(sorted(requirement.extras))}]"
        if key in found:
            continue
        found.add(key)
        for line in distribution.requires or []:
            child = Requirement(line)
            for child_extra in ["", *requirement.extras]:
                todo.append((child, child_extra))
    return {key.partition("[")[0] for key in found}


def hidden_modules() -> set[str]:
    """Top-level modules of every installed distribution that ``make run`` would not install."""
    site = installed_closure(site_requirements()) | VENV_TOOLS | {canonical(PYPROJECT["project"]["name"])}
    hidden = set()
    for module, distributions in metadata.packages_distributions().items():
        if not {canonical(d) for d in distributions} & site:
            hidden.add(module)
    return hidden


# Runs in a fresh interpreter: imports of hidden modules fail as in a `make run` virtualenv.
SITE_WITHOUT_TEST_TOOLS = """
import importlib, importlib.abc, json, os, pkgutil, sys

hidden = set(json.loads(sys.argv[1]))


class OnlyTheSitesDependencies(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r} (not a dependency of the site)", name=name)
        return None


sys.meta_path.insert(0, OnlyTheSitesDependencies())
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
from django.core.management import call_command

django.setup()
call_command("check")
for package in ("config", "channels_core", "liveblog", "chat", "thumbnailer"):
    for module in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        if not module.name.startswith("channels_core.testing"):  # the pytest plugin, for tests only
            importlib.import_module(module.name)
print("imported", len(sys.modules), "modules")
"""


def test_the_site_runs_on_its_own_dependencies(tmp_path: Path) -> None:
    hidden = hidden_modules()
    assert {"pytest", "selenium", "yaml", "mypy", "sphinx"} <= hidden, "the check hides the test tools"
    assert not hidden & {"django", "redis", "websockets", "gunicorn", "PIL", "psycopg", "whitenoise"}
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    result = subprocess.run(
        [sys.executable, "-c", SITE_WITHOUT_TEST_TOOLS, json.dumps(sorted(hidden))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
