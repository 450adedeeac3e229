"""docker-compose.yml as Debian's docker-compose resolves it: anchors merged, variables filled in."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import yaml

from tests.helpers import ROOT


def compose_config(*options: str) -> dict[str, Any]:
    """Validate the file with ``docker-compose [options] config`` (no engine needed) and return what it printed.

    Compose v1, the ``docker-compose`` package of Debian 12 and Ubuntu, is a Python program that resolves the
    file without talking to a Docker daemon; scripts/install-system-packages installs it without the
    engine its package recommends.
    """
    assert shutil.which("docker-compose", path="/usr/bin:/bin"), (
        "no docker-compose in /usr/bin: `make test` installs it (scripts/install-system-packages test)"
    )
    result = subprocess.run(
        ["docker-compose", *options, "-f", "docker-compose.yml", "config"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, f"docker-compose config rejected the file:\n{result.stderr}"
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config
