"""The SVG chart builder: values become proportional bar heights on a rounded axis, labels are escaped, every
chart names itself for screen readers, and series differ by more than colour."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

from incidentd.webapp import charts

SVG = "{http://www.w3.org/2000/svg}"


def parsed(markup: str) -> ElementTree.Element:
    return ElementTree.fromstring(str(markup))  # well-formed XML, or this raises


def test_the_axis_ends_at_a_round_number_at_or_above_the_largest_value():
    assert [charts.nice_ceiling(value) for value in (0, 0.4, 1, 3, 7, 10, 11, 260, 999)] == [
        1, 0.5, 1, 5, 10, 10, 20, 500, 1000,
    ]  # fmt: skip


def test_count_and_duration_axes_have_whole_ticks():
    assert [charts.counting_ceiling(value) for value in (0, 1, 3, 4, 7, 30)] == [4, 4, 5, 5, 10, 50]
    assert [charts.duration_ceiling(value) for value in (0, 0.5, 61, 3000, 90_000)] == [60, 60, 240, 3600, 172_800]
    assert charts.duration_ceiling(800_000) == 2 * 691_200
    svg = str(charts.stacked_bars("t", "d", ["w"], [charts.Series("sev-0", [7], "sev-0")]))
    ticks = re.findall(r'<text class="axis"[^>]*text-anchor="end">([^<]+)</text>', svg)
    assert ticks == ["0", "2", "4", "6", "8", "10"]  # 7 under a ceiling of 10: five steps of two


def test_a_value_is_drawn_in_proportion_and_never_past_the_axis():
    assert charts.scaled(5, 10, 200) == 100
    assert charts.scaled(0, 10, 200) == 0
    assert charts.scaled(-3, 10, 200) == 0
    assert charts.scaled(30, 10, 200) == 200
    assert charts.scaled(4, 0, 200) == 0


def test_stacked_bars_heights_follow_the_values_and_stack_in_order():
    svg = parsed(
        charts.stacked_bars(
            "Per week",
            "desc",
            ["w1", "w2"],
            [charts.Series("sev-0", [2, 0], "sev-0"), charts.Series("sev-1", [3, 10], "sev-1")],
        )
    )
    rects = [rect for rect in svg.iter(f"{SVG}rect") if rect.get("class") in ("sev-0", "sev-1")]
    heights = [(rect.get("class"), float(rect.get("height"))) for rect in rects]
    plot = charts.HEIGHT - charts.TOP - charts.BOTTOM  # the axis ends at 10: 10 is the whole plot
    assert heights == [("sev-0", round(plot * 0.2, 1)), ("sev-1", round(plot * 0.3, 1)), ("sev-1", float(plot))]
    first, second = rects[0], rects[1]
    assert float(second.get("y")) + float(second.get("height")) == float(first.get("y"))  # stacked on top
    assert [title.text for title in svg.iter(f"{SVG}title")][1:] == ["w1: sev-0 2, sev-1 3", "w2: sev-1 10"]
    assert {rect.get("fill") for rect in rects} >= {"currentColor"} and any(
        rect.get("fill", "").startswith("url(#") for rect in rects
    )  # the second series is patterned, not only another colour


def test_a_chart_names_itself_for_screen_readers():
    markup = str(charts.bars("Open by stage", "One bar per stage.", ["triage"], [3]))
    svg = parsed(markup)
    assert svg.get("role") == "img"
    labelled = svg.get("aria-labelledby").split()
    assert [svg.find(f".//*[@id='{name}']").text for name in labelled] == ["Open by stage", "One bar per stage."]


def test_labels_and_titles_are_escaped():
    script = "<script>alert(1)</script>"
    markup = str(charts.bars(script, script, [script, 'a "quoted" & part'], [1, 2]))
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup
    svg = parsed(markup)
    assert any(text.text == 'a "quoted" & part' for text in svg.iter(f"{SVG}text"))
    lines = str(charts.lines(script, script, [script], [charts.Series(script, [1.0], script)]))
    assert "<script>" not in lines
    parsed(lines)
    legend = str(charts.legend([charts.Series(script, [], "sev-0")]))
    assert "<script>" not in legend


def test_long_labels_are_shortened_in_the_chart_but_whole_in_its_tooltip():
    label = "a part with a very long name indeed, longer than the margin"
    svg = parsed(charts.bars("t", "d", [label], [1]))
    texts = [text.text for text in svg.iter(f"{SVG}text")]
    assert charts.short(label) in texts and len(charts.short(label)) == charts.MAX_LABEL
    assert any(label in (title.text or "") for title in svg.iter(f"{SVG}title"))


def test_lines_break_where_a_value_is_missing_and_each_series_has_its_own_dash_and_marker():
    svg = parsed(
        charts.lines(
            "t",
            "d",
            ["a", "b", "c", "d", "e"],
            [charts.Series("median", [1, 2, None, 3, 4], "chart-tone-0"), charts.Series("p90", [2, 4, 5, 6, 8], "t1")],
        )
    )
    groups = [group for group in svg.iter(f"{SVG}g") if group.get("class")]
    median, p90 = groups
    assert len(median.findall(f"{SVG}polyline")) == 2  # the gap splits the line
    assert len(p90.findall(f"{SVG}polyline")) == 1
    assert median.find(f"{SVG}polyline").get("stroke-dasharray") is None
    assert p90.find(f"{SVG}polyline").get("stroke-dasharray")
    assert len(median.findall(f"{SVG}circle")) == 4 and len(p90.findall(f"{SVG}rect")) == 5  # markers per value


def test_an_empty_chart_is_still_a_valid_picture():
    for markup in (
        charts.stacked_bars("t", "d", [], []),
        charts.lines("t", "d", [], []),
        charts.bars("t", "d", [], []),
    ):
        assert re.match(r"<svg ", str(parsed(markup).tag and markup))
