"""Page 4, insights: incidents per week by severity, time to acknowledge / mitigate / resolve per week (median
and p90), open incidents by stage and by part. The numbers come from `incidents.metrics` (the service the API's
/incidents.metrics calls) and, for the open counts, `incidents.group`, under the board's filters; the charts are
SVG drawn by `charts`, each followed by a table of the same numbers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Request, Response, get

from incidentd.db import Database
from incidentd.errors import ApiError
from incidentd.incidents import grouping, metrics, moves
from incidentd.incidents.metrics_schemas import DurationStats, IncidentsMetricsGroup, IncidentsMetricsRequest
from incidentd.incidents.schemas import FieldValue, IncidentsGroupRequest
from incidentd.kit.enums import SEVERITY
from incidentd.principal import Principal
from incidentd.webapp import charts, forms, rendering, security
from incidentd.webapp.board import BoardFilters
from incidentd.webapp.responses import page

RANGES = (4, 12, 26, 52)  # weeks the range selector offers
DEFAULT_WEEKS = 12
MAX_BARS = 100  # stages or parts counted (the first 100 in incidents.group's key order)
SHOWN_PARTS = 15  # the parts with the most open incidents, charted (a page stays light with hundreds of parts)
NO_SEVERITY = "no severity"
SEVERITY_TONES = {"sev-0": "sev-0", "sev-1": "sev-1", "sev-2": "sev-2", "sev-3": "sev-3", NO_SEVERITY: "sev-none"}
DURATIONS = (
    ("time_to_acknowledge", "Time to acknowledge"),
    ("time_to_mitigate", "Time to mitigate"),
    ("time_to_resolve", "Time to resolve"),
)


def week_starts(weeks: int, now: datetime) -> list[datetime]:
    """The Mondays (00:00 UTC) of the last `weeks` weeks, the current one last: the metrics' week buckets."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    this_monday = today - timedelta(days=today.weekday())
    return [this_monday - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]


def _bucket_day(bucket: str | None) -> str:
    return (bucket or "")[:10]


@dataclass(frozen=True)
class DurationRow:
    week: str
    stats: dict[str, DurationStats]


@dataclass(frozen=True)
class Insights:
    weeks: list[str]  # the Mondays, YYYY-MM-DD
    per_week: dict[str, dict[str, int]]  # week -> severity label -> incidents created that week
    severities: list[str]  # the severity labels that occur, most severe first
    durations: list[DurationRow]
    open_by_stage: list[tuple[str, int]]
    open_by_part: list[tuple[str, int]]  # the parts with the most open incidents
    parts_with_open: int = 0

    @property
    def declared(self) -> int:
        return sum(sum(counts.values()) for counts in self.per_week.values())

    @property
    def open_total(self) -> int:
        return sum(total for _, total in self.open_by_stage)


async def gather(
    db: Database,
    principal: Principal,
    filters: dict[str, Any],
    weeks: int,
    open_stages: list[str],
    part_names: dict[str, str],
) -> Insights:
    """The numbers of the page: two calls of `incidents.metrics` (per week by severity; durations per week) and
    two of `incidents.group` (open incidents by stage, by part)."""
    starts = week_starts(weeks, datetime.now(UTC))
    since = {"created_date": {"type": "range", "after": starts[0].strftime("%Y-%m-%dT%H:%M:%SZ")}}

    async def run(document: dict[str, Any]) -> list[IncidentsMetricsGroup]:
        return await metrics.incident_metrics(db, principal, forms.convert(document, IncidentsMetricsRequest))

    by_severity = await run({**filters, **since, "group_by": "severity", "bucket": "week"})
    per_week: dict[str, dict[str, int]] = {start.strftime("%Y-%m-%d"): {} for start in starts}
    for group in by_severity:
        label = SEVERITY.labels.get(group.key.value, NO_SEVERITY) if group.key and group.key.value else NO_SEVERITY
        per_week.setdefault(_bucket_day(group.bucket), {})[label] = group.count
    present = {label for counts in per_week.values() for label in counts}
    severities = [label for label in SEVERITY_TONES if label in present]

    weekly = {_bucket_day(group.bucket): group for group in await run({**filters, **since, "bucket": "week"})}
    durations = [
        DurationRow(week, {name: getattr(weekly[week], name) for name, _ in DURATIONS})
        for week in per_week
        if week in weekly
    ]

    async def open_counts(group_by: str) -> list[tuple[FieldValue, int]]:
        # Counts only: incidents.group counts (as the board's counts do) without the percentiles metrics computes.
        document = {**filters, "stage": open_stages, "group_by": group_by, "limit": MAX_BARS, "limit_per_group": 1}
        found = await grouping.group_incidents(db, principal, forms.convert(document, IncidentsGroupRequest))
        return [(group.key, group.total) for group in found.groups]

    by_stage = await open_counts("stage") if open_stages else []
    by_part = await open_counts("applies_to_parts") if open_stages else []
    return Insights(
        weeks=list(per_week),
        per_week=per_week,
        severities=severities,
        durations=durations,
        open_by_stage=[(key.name or "—", total) for key, total in by_stage],
        open_by_part=sorted(
            ((_part_label(key, part_names), total) for key, total in by_part), key=lambda pair: -pair[1]
        )[:SHOWN_PARTS],
        parts_with_open=len(by_part),
    )


def _part_label(key: FieldValue, part_names: dict[str, str]) -> str:
    if not isinstance(key.value, str):
        return "no part"
    return part_names.get(key.value, key.value)


def _week_label(week: str) -> str:
    return datetime.strptime(week, "%Y-%m-%d").strftime("%b %d")


def _seconds(milliseconds: int | None) -> float | None:
    return None if milliseconds is None else milliseconds / 1000


def draw(found: Insights, weeks: int) -> dict[str, Any]:
    """The page's charts (SVG markup) from its numbers."""
    labels = [_week_label(week) for week in found.weeks]
    drawn: dict[str, Any] = {
        "per_week": charts.stacked_bars(
            f"Incidents declared per week, last {weeks} weeks",
            "Stacked bars, one per week (starting Monday, UTC); each segment is a severity, most severe at the "
            "bottom; the number above a bar is that week's total.",
            labels,
            [
                charts.Series(
                    label, [found.per_week[week].get(label, 0) for week in found.weeks], SEVERITY_TONES[label]
                )
                for label in found.severities
            ],
        ),
        "severity_legend": charts.legend(
            [charts.Series(label, [], SEVERITY_TONES[label]) for label in found.severities]
        ),
        "durations": [],
        "line_legend": charts.legend(
            [charts.Series("median", [], "chart-tone-0"), charts.Series("p90", [], "chart-tone-1")], lines=True
        ),
    }
    by_week = {row.week: row for row in found.durations}
    for name, title in DURATIONS:
        medians = [_seconds(by_week[week].stats[name].p50) if week in by_week else None for week in found.weeks]
        p90s = [_seconds(by_week[week].stats[name].p90) if week in by_week else None for week in found.weeks]
        drawn["durations"].append(
            (
                name,
                title,
                charts.lines(
                    f"{title} per week: median and p90",
                    f"Lines over the weeks incidents were declared in: the solid line with round markers is the "
                    f"median {title.lower()}, the dashed line with square markers the 90th percentile. Weeks with "
                    "no such duration are gaps.",
                    labels,
                    [charts.Series("median", medians, "chart-tone-0"), charts.Series("p90", p90s, "chart-tone-1")],
                    value_label=rendering.duration,
                    ceiling=charts.duration_ceiling,
                ),
            )
        )
    drawn["by_stage"] = charts.bars(
        "Open incidents by stage",
        "One bar per open stage, the number of open incidents in it at its end.",
        [name for name, _ in found.open_by_stage],
        [total for _, total in found.open_by_stage],
        "chart-tone-0",
    )
    drawn["by_part"] = charts.bars(
        "Open incidents by part",
        f"One bar per part open incidents apply to, the {SHOWN_PARTS} with the most (an incident with several "
        "parts counts under each).",
        [name for name, _ in found.open_by_part],
        [total for _, total in found.open_by_part],
        "chart-tone-2",
    )
    return drawn


@get("/web/insights", include_in_schema=False)
async def insights_page(request: Request[Any, Any, Any]) -> Response[str]:
    session = await security.current_session(request)
    db = request.app.state.db
    asked = request.query_params.get("weeks") or ""
    weeks = int(asked) if asked.isdigit() and int(asked) in RANGES else DEFAULT_WEEKS
    # The board's filters that apply to every chart (stage is what two of the charts are about).
    filters = dataclasses.replace(BoardFilters.of(request), status="all", stage=[], sort=BoardFilters().sort)
    stages = await moves.org_stages(db, session.principal)
    choices = await forms.choices(db, session.principal, [stage.name for stage in stages])
    context: dict[str, Any] = {"found": None, "error": None}
    try:
        found = await gather(
            db,
            session.principal,
            filters.request_filters(stages, with_stage=False),
            weeks,
            [stage.name for stage in stages if not stage.is_final],
            dict(choices.parts),
        )
        context.update(found=found, drawn=draw(found, weeks))
    except ApiError as exc:
        context["error"] = f"These filters cannot be shown: {exc.message}"
    return page(
        "insights.html",
        400 if context["error"] else 200,
        session=session,
        nav="insights",
        filters=filters,
        choices=choices,
        weeks=weeks,
        ranges=[(str(value), f"Last {value} weeks") for value in RANGES],
        durations=DURATIONS,
        **context,
    )


ROUTES = [insights_page]
