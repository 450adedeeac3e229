"""docker-compose.yml as Debian's docker-compose resolves it: anchors merged, variables filled in."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from tests.helpers import ROOT


def compose_config() -> dict[str, Any]:
    """Validate the file with ``docker-compose config`` (no engine needed) and return what it printed."""
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, f"docker-compose config rejected the file:\n{result.stderr}"
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config
