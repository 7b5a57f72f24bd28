"""Charts drawn on the server as SVG (no script, no library): stacked bars, lines and horizontal bars. Each chart
has a <title> and <desc> (role="img"), text labels and values, and marks each series by pattern or dash and
marker shape as well as colour, so colour is never the only signal. Every text is escaped; the pages put the
same numbers in a table under each chart."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 42
MAX_LABEL = 28  # characters of a category label drawn in a chart (the table has the whole label)
# Fills of series: a CSS class (the colour, in app.css) and a pattern id (the second cue).
PATTERNS = ("solid", "hatch", "dots", "cross", "lines")
DASHES = ("", "6 4", "2 3", "10 3 2 3")
MARKERS = ("circle", "square", "diamond", "triangle")
_ids = count(1)  # unique ids per rendered chart (several charts share one page)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    tone: str  # a class of app.css: chart-tone-0 ... chart-tone-4, or a severity's sev-0 ... sev-3


def nice_ceiling(value: float) -> float:
    """The axis maximum: `value` rounded up to 1, 2 or 5 times a power of ten (1 when there is nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power + 1e-9:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def scaled(value: float, maximum: float, length: float) -> float:
    """How long `value` is drawn on an axis of `length` that ends at `maximum` (never negative, never past it)."""
    if maximum <= 0 or value <= 0:
        return 0.0
    return min(length, value / maximum * length)


def short(label: str, limit: int = MAX_LABEL) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _number(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value:,.0f}"


def _open(chart_id: str, title: str, description: str, height: int = HEIGHT, *, patterns: bool = False) -> list[str]:
    return [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        _patterns(chart_id) if patterns else "",
    ]


def _patterns(chart_id: str) -> str:
    """Fill patterns drawn in the series' colour (currentColor) over a light copy of it."""
    shapes = {
        "hatch": '<path d="M0 6 L6 0" stroke="currentColor" stroke-width="2"/>',
        "dots": '<circle cx="3" cy="3" r="1.6" fill="currentColor"/>',
        "cross": '<path d="M0 3 H6 M3 0 V6" stroke="currentColor" stroke-width="1.4"/>',
        "lines": '<path d="M0 1 H6" stroke="currentColor" stroke-width="1.6"/>',
    }
    parts = ["<defs>"]
    for name, shape in shapes.items():
        parts.append(
            f'<pattern id="{chart_id}-{name}" width="6" height="6" patternUnits="userSpaceOnUse">'
            f'<rect width="6" height="6" fill="#fff"/>{shape}</pattern>'
        )
    parts.append("</defs>")
    return "".join(parts)


def _fill(chart_id: str, index: int) -> str:
    pattern = PATTERNS[index % len(PATTERNS)]
    return "currentColor" if pattern == "solid" else f"url(#{chart_id}-{pattern})"


def counting_ceiling(value: float) -> float:
    """The axis maximum of counts: `nice_ceiling`, at least 4, so that the ticks fall on whole numbers."""
    return max(4.0, nice_ceiling(value))


# Axis tops for durations (seconds) whose quarters read well: 1m, 4m, 20m, 1h, 2h, 4h, 8h, 12h, 1d, 2d, 4d, 8d...
DURATION_TOPS = (60, 240, 1200, 3600, 7200, 14_400, 28_800, 43_200, 86_400, 172_800, 345_600, 691_200)


def duration_ceiling(seconds: float) -> float:
    """The axis maximum of a duration chart, in seconds: the first of `DURATION_TOPS` at or above it, then whole
    multiples of 8 days."""
    for top in DURATION_TOPS:
        if seconds <= top:
            return float(top)
    return float(math.ceil(seconds / DURATION_TOPS[-1]) * DURATION_TOPS[-1])


def _steps(maximum: float) -> int:
    """Gridlines above zero: four, or five when four would split a whole maximum into fractions (5, 10, 50)."""
    return 5 if maximum.is_integer() and maximum % 4 and maximum % 5 == 0 else 4


def _y_axis(maximum: float, plot_height: float, value_label: Callable[[float], str]) -> list[str]:
    parts = []
    steps = _steps(maximum)
    for step in range(steps + 1):
        value = maximum * step / steps
        y = TOP + plot_height - scaled(value, maximum, plot_height)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(value_label(value))}</text>'
        )
    return parts


def _x_labels(categories: Sequence[str], centre: Callable[[int], float], baseline: float) -> list[str]:
    every = max(1, math.ceil(len(categories) / 8))  # at most about eight labels under the axis
    return [
        f'<text class="axis" x="{centre(index):.1f}" y="{baseline + 16:.1f}" text-anchor="middle">'
        f"{escape(short(label, 12))}</text>"
        for index, label in enumerate(categories)
        if index % every == 0
    ]


def legend(series: Sequence[Series], *, lines: bool = False) -> Markup:
    """The series' names beside a swatch that has their colour and their pattern (bars) or dash and marker
    (lines)."""
    chart_id = f"legend{next(_ids)}"
    items = []
    for index, entry in enumerate(series):
        if lines:
            dash = DASHES[index % len(DASHES)]
            swatch = (
                f'<line x1="1" y1="8" x2="27" y2="8" stroke="currentColor" stroke-width="2"'
                f"{f' stroke-dasharray={chr(34)}{dash}{chr(34)}' if dash else ''}/>"
                f"{_marker(MARKERS[index % len(MARKERS)], 14, 8)}"
            )
            size = 'width="28" height="16" viewBox="0 0 28 16"'
        else:
            swatch = f'<rect x="1" y="1" width="14" height="14" fill="{_fill(chart_id, index)}" stroke="currentColor"/>'
            size = 'width="16" height="16" viewBox="0 0 16 16"'
        items.append(
            f'<li><svg class="{escape(entry.tone)}" {size} aria-hidden="true">'
            f"{_patterns(chart_id) if index == 0 else ''}"
            f"{swatch}</svg> {escape(entry.name)}</li>"
        )
    return Markup(f'<ul class="legend">{"".join(items)}</ul>')


def stacked_bars(
    title: str, description: str, categories: Sequence[str], series: Sequence[Series], unit: str = ""
) -> Markup:
    """One bar per category, each series a segment stacked bottom-up in the order given; totals above bars."""
    chart_id = f"chart{next(_ids)}"
    plot_height = HEIGHT - TOP - BOTTOM
    totals = [sum(entry.values[index] or 0 for entry in series) for index in range(len(categories))]
    maximum = counting_ceiling(max(totals, default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(categories))
    bar = max(2.0, slot * 0.7)
    parts = _open(chart_id, title, description, patterns=True)
    parts += _y_axis(maximum, plot_height, _number)
    for index, category in enumerate(categories):
        x = LEFT + index * slot + (slot - bar) / 2
        bottom = float(TOP + plot_height)
        segments = []
        shown = []  # one tooltip per bar (a title per segment would double the chart's weight over a year)
        for series_index, entry in enumerate(series):
            value = entry.values[index] or 0
            height = scaled(value, maximum, plot_height)
            if height <= 0:
                continue
            bottom -= height
            shown.append(f"{entry.name} {_number(value)}{unit}")
            segments.append(
                f'<rect class="{escape(entry.tone)}" x="{x:.1f}" y="{bottom:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{_fill(chart_id, series_index)}"/>'
            )
        if segments:
            parts.append(f"<g><title>{escape(f'{category}: ' + ', '.join(shown))}</title>{''.join(segments)}</g>")
        if totals[index] and bar >= 10:
            parts.append(
                f'<text class="value" x="{x + bar / 2:.1f}" y="{bottom - 3:.1f}" text-anchor="middle">'
                f"{_number(totals[index])}</text>"
            )
    parts.append(
        f'<line class="axis-line" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_height}" y2="{TOP + plot_height}"/>'
    )
    parts += _x_labels(categories, lambda index: LEFT + index * slot + slot / 2, TOP + plot_height)
    parts.append("</svg>")
    return Markup("".join(parts))


def _polygon(points: list[tuple[float, float]]) -> str:
    return f'<polygon points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in points)}" fill="currentColor"/>'


def _baseline(y: float) -> str:
    return f'<line class="axis-line" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>'


def _marker(shape: str, x: float, y: float) -> str:
    if shape == "square":
        return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="currentColor"/>'
    if shape == "diamond":
        points = [(x, y - 4.5), (x + 4.5, y), (x, y + 4.5), (x - 4.5, y)]
        return _polygon(points)
    if shape == "triangle":
        return _polygon([(x, y - 4.5), (x + 4.5, y + 3.5), (x - 4.5, y + 3.5)])
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="currentColor"/>'


def lines(
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    value_label: Callable[[float], str] = _number,
    ceiling: Callable[[float], float] = nice_ceiling,
) -> Markup:
    """One line per series over the categories; a missing value (None) breaks the line. Each series has its own
    dash pattern and marker shape."""
    chart_id = f"chart{next(_ids)}"
    plot_height = HEIGHT - TOP - BOTTOM
    present = [value for entry in series for value in entry.values if value is not None]
    maximum = ceiling(max(present, default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(categories))
    parts = _open(chart_id, title, description)
    parts += _y_axis(maximum, plot_height, value_label)

    def point(index: int, value: float) -> tuple[float, float]:
        return LEFT + index * slot + slot / 2, TOP + plot_height - scaled(value, maximum, plot_height)

    for series_index, entry in enumerate(series):
        dash = DASHES[series_index % len(DASHES)]
        dash_attribute = f' stroke-dasharray="{dash}"' if dash else ""
        runs: list[list[tuple[float, float]]] = [[]]
        marks = []
        for index, value in enumerate(entry.values):
            if value is None:
                runs.append([])
                continue
            x, y = point(index, value)
            runs[-1].append((x, y))
            marks.append(_marker(MARKERS[series_index % len(MARKERS)], x, y))
        # The series' name as its tooltip; each point's value is in the table under the chart.
        parts.append(f'<g class="{escape(entry.tone)}"><title>{escape(entry.name)}</title>')
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(
                    f'<polyline points="{path}" fill="none" stroke="currentColor" stroke-width="2"{dash_attribute}/>'
                )
        parts += marks
        parts.append("</g>")
    parts.append(
        f'<line class="axis-line" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_height}" y2="{TOP + plot_height}"/>'
    )
    parts += _x_labels(categories, lambda index: LEFT + index * slot + slot / 2, TOP + plot_height)
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(
    title: str, description: str, labels: Sequence[str], values: Sequence[float], tone: str = "chart-tone-0"
) -> Markup:
    """Horizontal bars, one per label, the label on the left and the value at the bar's end."""
    chart_id = f"chart{next(_ids)}"
    row, label_width = 26, 200
    height = TOP + row * max(1, len(labels)) + 8
    maximum = nice_ceiling(max(values, default=0))
    length = WIDTH - label_width - RIGHT - 48
    parts = _open(chart_id, title, description, height)
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = TOP + index * row
        width = scaled(value, maximum, length)
        parts.append(
            f'<text class="axis" x="{label_width - 8}" y="{y + 16}" text-anchor="end">{escape(short(label))}</text>'
            f'<rect class="{escape(tone)}" x="{label_width}" y="{y + 4}" width="{width:.1f}" height="{row - 8}" '
            f'fill="currentColor"><title>{escape(label)}: {_number(value)}</title></rect>'
            f'<text class="value" x="{label_width + width + 6:.1f}" y="{y + 16}">{_number(value)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
