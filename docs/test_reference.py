"""The reference leaves nothing out: public names, settings, messages, commands, environment variables.

Each list is read from the code (or from the design contract's message table),
not written down here, so a name added to the code without its reference entry
fails this test.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
REFERENCE = DOCS / "reference"

#: The public modules and where their names must be documented.
PUBLIC_MODULES = {
    "channels_core": "api.rst",
    "channels_core.decorators": "api.rst",
    "channels_core.exceptions": "exceptions.rst",
    "channels_core.sessions": "api.rst",
    "channels_core.presence": "api.rst",
    "channels_core.backends.memory": "api.rst",
    "channels_core.backends.database": "api.rst",
    "channels_core.backends.redis": "api.rst",
    "channels_core.backends.redis_sentinel": "api.rst",
    "channels_core.backends.redis_cluster": "api.rst",
    "channels_core.held_replies": "api.rst",
    "channels_core.backends.history": "api.rst",
    "channels_core.recovery": "api.rst",
    "channels_core.testing": "testing.rst",
}
#: Names in an ``__all__`` that are plumbing rather than API (documented by their module's prose).
NOT_API = {"BINDINGS_ATTRIBUTE", "Binding"}


def automodule_members(page: str, module: str) -> set[str] | None:
    """The members an ``automodule`` directive documents: a set, ``None`` for all, or no directive at all."""
    text = (REFERENCE / page).read_text()
    found = re.search(rf"^\.\. automodule:: {re.escape(module)}\n((?:   .*\n)*)", text, re.M)
    if found is None:
        pytest.fail(f"{module} has no automodule directive in docs/reference/{page}")
    members = re.search(r":members:(.*)", found[1])
    if members is None:
        pytest.fail(f"the automodule of {module} in docs/reference/{page} documents no members")
    listed = {name.strip() for name in members[1].split(",") if name.strip()}
    return listed or None


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_name_is_documented(module: str) -> None:
    documented = automodule_members(PUBLIC_MODULES[module], module)
    if documented is None:  # ":members:" alone: everything in __all__
        return
    missing = set(importlib.import_module(module).__all__) - documented - NOT_API
    assert not missing, f"{module}: {sorted(missing)} not in docs/reference/{PUBLIC_MODULES[module]}"


def code_of(*packages: str) -> str:
    return "\n".join(path.read_text() for package in packages for path in sorted((ROOT / package).rglob("*.py")))


def test_every_setting_and_backend_key_is_in_the_settings_reference() -> None:
    code = code_of("channels_core")
    settings = set(re.findall(r'getattr\(settings, "([A-Z_]+)"', code))
    keys = set(re.findall(r'config\.get\("([A-Z_]+)"', code))
    assert settings and keys
    page = (REFERENCE / "settings.rst").read_text()
    missing = sorted(name for name in settings | keys if f"``{name}``" not in page)
    assert not missing, f"not in docs/reference/settings.rst: {missing}"


def test_every_environment_variable_is_in_the_settings_reference() -> None:
    code = (ROOT / "config" / "settings.py").read_text() + (ROOT / "config" / "gunicorn.conf.py").read_text()
    variables = set(re.findall(r'(?:env_flag|env_list|os\.environ\.get)\("([A-Z_]+)"', code))
    assert variables
    page = (REFERENCE / "settings.rst").read_text()
    missing = sorted(name for name in variables if f"``{name}``" not in page)
    assert not missing, f"not in docs/reference/settings.rst: {missing}"


def test_every_message_type_of_the_design_is_in_the_message_reference() -> None:
    design = ROOT.parent / "shared" / "DESIGN.md"
    if design.exists():
        section = design.read_text().split("## 4.", 1)[1].split("\n## ", 1)[0]
        channels = set(re.findall(r"^\| `([^`]+)`", section, re.M))
    else:  # a copy of the project without the design contract beside it
        channels = set()
    channels |= {
        "django.wsgi.request",
        "django.websocket.connect",
        "django.websocket.receive",
        "django.websocket.keepalive",
        "django.websocket.disconnect",
    }
    page = (REFERENCE / "messages.rst").read_text()
    missing = sorted(channel for channel in channels if f"``{channel}``" not in page)
    assert not missing, f"not in docs/reference/messages.rst: {missing}"


def test_every_management_command_and_option_is_in_the_command_reference() -> None:
    page = (REFERENCE / "commands.rst").read_text()
    commands = sorted(ROOT.glob("*/management/commands/[a-z]*.py"))
    assert commands
    for path in commands:
        assert f"``{path.stem}``" in page, f"command {path.stem} is not in docs/reference/commands.rst"
        for option in re.findall(r'add_argument\(\s*"(--[a-z-]+)"', path.read_text()):
            assert f"``{option}" in page, f"{path.stem} {option} is not in docs/reference/commands.rst"
