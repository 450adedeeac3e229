"""The wire format's names are defined once, in channels_core/protocol.py."""

from __future__ import annotations

import ast
from pathlib import Path

import channels_core
from channels_core import protocol

PACKAGE = Path(channels_core.__file__).parent
WIRE_PREFIXES = ("django.websocket.", "django.wsgi.", "!django.websocket.", "!django.wsgi.")


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the string constants that are docstrings (they may quote names, as docs do)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def stray_wire_names(source: str) -> list[str]:
    """The protocol names spelled out in ``source`` outside its docstrings."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and (node.value.startswith(WIRE_PREFIXES) or node.value in {"django.wsgi", "django.websocket"})
    ]


def test_no_module_but_protocol_spells_out_a_wire_name() -> None:
    strays = {
        str(path.relative_to(PACKAGE)): names
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "protocol.py" and "migrations" not in path.parts
        if (names := stray_wire_names(path.read_text()))
    }
    assert strays == {}


def test_the_check_finds_a_name_spelled_out_but_not_one_in_a_docstring() -> None:
    source = '"""Listens on ``django.websocket.connect``."""\nCHANNEL = "django.websocket.connect"\n'
    assert stray_wire_names(source) == ["django.websocket.connect"]


def test_protocol_defines_every_name_it_exports() -> None:
    assert all(isinstance(getattr(protocol, name), str) for name in protocol.__all__)
