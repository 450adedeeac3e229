"""``.. sequence-diagram:: file.seq``: a sequence diagram drawn as inline SVG from a small text file.

The text format, one statement a line (``#`` starts a comment)::

    participant reader: Reader's browser      # columns, left to right
    participant ws: WebSocket server
    reader -> ws: open /liveblog/keynote/stream/
    ws --> reader: {"type": "joined"}         # --> draws a reply (dashed)
    note ws: keeps the socket open             # a note on one lifeline
    == A writer saves a post ==                # a section across the diagram

The file is read relative to the page (or to the docs root when it starts
with ``/``), and the page is rebuilt when it changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

COLUMN = 185
MARGIN = 20
HEAD_HEIGHT = 42
STEP = 34
FONT = 12

_PARTICIPANT = re.compile(r"^participant\s+(\w+)\s*:\s*(.+)$")
_ARROW = re.compile(r"^(\w+)\s*(-->|->)\s*(\w+)\s*:\s*(.+)$")
_NOTE = re.compile(r"^note\s+(\w+)\s*:\s*(.+)$")
_SECTION = re.compile(r"^==\s*(.+?)\s*==$")


@dataclass
class Step:
    kind: str  # "arrow", "note", "section"
    text: str
    source: str = ""
    target: str = ""
    reply: bool = False


def parse(text: str) -> tuple[dict[str, str], list[Step]]:
    participants: dict[str, str] = {}
    steps: list[Step] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if found := _PARTICIPANT.match(line):
            participants[found[1]] = found[2].strip()
            continue
        if found := _ARROW.match(line):
            steps.append(Step("arrow", found[4].strip(), found[1], found[3], reply=found[2] == "-->"))
        elif found := _NOTE.match(line):
            steps.append(Step("note", found[2].strip(), found[1]))
        elif found := _SECTION.match(line):
            steps.append(Step("section", found[1]))
        else:
            raise ValueError(f"line {number}: cannot read {raw!r}")
        for name in (steps[-1].source, steps[-1].target):
            if name and name not in participants:
                raise ValueError(f"line {number}: {name!r} is not a declared participant")
    return participants, steps


def render(participants: dict[str, str], steps: list[Step], title: str) -> str:
    names = list(participants)
    x = {name: MARGIN + COLUMN * i + COLUMN // 2 for i, name in enumerate(names)}
    width = MARGIN * 2 + COLUMN * len(names)
    height = HEAD_HEIGHT + STEP * (len(steps) + 1) + HEAD_HEIGHT // 2
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="sequence-diagram" style="max-width:{width}px;width:100%">',
        '<defs><marker id="seq-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>',
    ]
    bottom = height - 8
    for name in names:
        out.append(
            f'<line x1="{x[name]}" y1="{HEAD_HEIGHT}" x2="{x[name]}" y2="{bottom}" '
            'stroke="#999" stroke-dasharray="4 4"/>'
        )
        out.append(
            f'<rect x="{x[name] - COLUMN // 2 + 8}" y="4" width="{COLUMN - 16}" height="{HEAD_HEIGHT - 10}" rx="5" '
            f'fill="#e3f2fd" stroke="#90caf9"/>'
        )
        out.append(
            f'<text x="{x[name]}" y="{4 + (HEAD_HEIGHT - 10) / 2}" text-anchor="middle" dominant-baseline="middle" '
            f'font-size="{FONT}" font-weight="bold" fill="#111">{escape(participants[name])}</text>'
        )
    for i, step in enumerate(steps):
        y = HEAD_HEIGHT + STEP * (i + 1)
        if step.kind == "section":
            out.append(f'<rect x="4" y="{y - 13}" width="{width - 8}" height="22" fill="#f5f5f5" stroke="#ddd"/>')
            out.append(
                f'<text x="{width / 2}" y="{y - 2}" text-anchor="middle" dominant-baseline="middle" '
                f'font-size="{FONT}" font-style="italic" fill="#333">{escape(step.text)}</text>'
            )
        elif step.kind == "note":
            box = COLUMN + 40
            left = min(max(4, x[step.source] - box / 2), width - 4 - box)  # kept inside the picture
            out.append(
                f'<rect x="{left}" y="{y - 13}" width="{box}" height="22" rx="3" fill="#fff8e1" stroke="#ffe082"/>'
            )
            out.append(
                f'<text x="{left + box / 2}" y="{y - 2}" text-anchor="middle" dominant-baseline="middle" '
                f'font-size="{FONT - 1}" fill="#333">{escape(step.text)}</text>'
            )
        else:
            start, end = x[step.source], x[step.target]
            gap = 4 if end > start else -4
            dash = ' stroke-dasharray="6 4"' if step.reply else ""
            colour = "#1565c0" if step.reply else "#444"
            out.append(
                f'<line x1="{start}" y1="{y}" x2="{end - gap}" y2="{y}" stroke="{colour}" stroke-width="1.4"{dash} '
                f'marker-end="url(#seq-arrow)"/>'
            )
            out.append(
                f'<text x="{(start + end) / 2}" y="{y - 6}" text-anchor="middle" font-size="{FONT - 1}" '
                f'fill="{colour}">{escape(step.text)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


class SequenceDiagram(SphinxDirective):
    required_arguments = 1
    option_spec = {"caption": str}

    def run(self) -> list[nodes.Node]:
        relative, absolute = self.env.relfn2path(self.arguments[0])
        self.env.note_dependency(relative)
        try:
            participants, steps = parse(Path(absolute).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise self.error(f"sequence-diagram {self.arguments[0]}: {error}") from None
        caption = self.options.get("caption", "")
        svg = render(participants, steps, caption or Path(relative).stem)
        html = f'<figure class="sequence">{svg}'
        if caption:
            html += f"<figcaption>{escape(caption)}</figcaption>"
        html += "</figure>"
        return [nodes.raw("", html, format="html")]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("sequence-diagram", SequenceDiagram)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
