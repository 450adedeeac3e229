"""Runs the Node.js unit tests of the browser client, ``channels_core/static/channels_core/socket.js``.

Node 20's runner does not pick ``test_*.mjs`` out of a directory by itself, so
the files are named explicitly. Without ``node`` the test is skipped, except in
CI, where it must run.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import IN_CI
from tests.helpers import ROOT

JS_TESTS = sorted((ROOT / "tests" / "js").glob("test_*.mjs"))


def test_socket_js_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        if IN_CI:
            pytest.fail("node is not installed; CI must run the JavaScript tests")
        pytest.skip("node is not installed; install Node.js to run the JavaScript tests")
    assert JS_TESTS, "no tests/js/test_*.mjs files"
    result = subprocess.run(
        [node, "--test", *map(str, JS_TESTS)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    assert passed and int(passed.group(1)) > 0, f"node ran no tests:\n{output}"
