"""``.. bar-chart::``: horizontal bar charts drawn as inline SVG from figures written in the page.

The figures stay in the reStructuredText source, beside the table they come
from, so a chart can never disagree with its table::

    .. bar-chart:: Sending to one channel
       :series: ours, Channels 4
       :unit: messages/s

       send     | 35751 | 3556
       receive  | 35121 | 3146

Each row is a label and one number per series, or ``-`` where a series has no
figure (no bar is drawn). Bars are scaled to the largest number in the chart.
``:lower-is-better:`` only changes the caption's hint.
"""

from __future__ import annotations

from html import escape
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

#: Bar colours by series position: ours first, then the peers (readable in light and dark themes).
COLOURS = ["#2e7d32", "#c62828", "#1565c0", "#6d4c41"]
LABEL_WIDTH = 250
BAR_WIDTH = 380
VALUE_WIDTH = 110
BAR_HEIGHT = 16
GAP = 4
ROW_GAP = 12


def _number(text: str) -> float | None:
    text = text.replace(",", "").replace("_", "").strip()
    return None if text == "-" else float(text)


def _format(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


class BarChart(SphinxDirective):
    has_content = True
    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {
        "series": directives.unchanged_required,
        "unit": directives.unchanged,
        "lower-is-better": directives.flag,
    }

    def run(self) -> list[nodes.Node]:
        series = [name.strip() for name in self.options["series"].split(",")]
        rows: list[tuple[str, list[float | None]]] = []
        for line in self.content:
            if not line.strip():
                continue
            label, *values = (cell.strip() for cell in line.split("|"))
            if len(values) != len(series):
                raise self.error(f"bar-chart row {line!r} has {len(values)} values for {len(series)} series")
            rows.append((label, [_number(value) for value in values]))
        if not rows:
            raise self.error("bar-chart needs at least one row")
        title = self.arguments[0]
        unit = self.options.get("unit", "")
        hint = "lower is better" if "lower-is-better" in self.options else "higher is better"
        svg = _svg(title, series, rows)
        legend = " ".join(
            f'<span class="bar-chart-key"><span style="background:{COLOURS[i % len(COLOURS)]}"></span>'
            f"{escape(name)}</span>"
            for i, name in enumerate(series)
        )
        caption = f"{escape(title)} ({escape(unit) + ', ' if unit else ''}{hint})"
        html = f'<figure class="bar-chart">{svg}<figcaption>{caption}<br>{legend}</figcaption></figure>'
        return [nodes.raw("", html, format="html")]


def _svg(title: str, series: list[str], rows: list[tuple[str, list[float | None]]]) -> str:
    largest = max((value for _, values in rows for value in values if value is not None), default=0.0) or 1.0
    row_height = len(series) * (BAR_HEIGHT + GAP) + ROW_GAP
    height = len(rows) * row_height
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" style="max-width:{width}px;width:100%">'
    ]
    for r, (label, values) in enumerate(rows):
        top = r * row_height
        middle = top + (len(series) * (BAR_HEIGHT + GAP)) / 2
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{middle:.1f}" text-anchor="end" dominant-baseline="middle" '
            f'class="bar-chart-label">{escape(label)}</text>'
        )
        for s, value in enumerate(values):
            if value is None:
                continue
            y = top + s * (BAR_HEIGHT + GAP)
            length = max(1.0, BAR_WIDTH * value / largest)
            colour = COLOURS[s % len(COLOURS)]
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" fill="{colour}">'
                f"<title>{escape(series[s])}: {_format(value)}</title></rect>"
            )
            parts.append(
                f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + BAR_HEIGHT / 2:.1f}" dominant-baseline="middle" '
                f'class="bar-chart-value">{_format(value)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("bar-chart", BarChart)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
