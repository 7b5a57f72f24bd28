"""Wire types of incidents.export (an extension): the list filters, a format and what to include; the answer is
a stream."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from incidentd.incidents.schemas import Incident, IncidentFilters
from incidentd.kit.wire import Response
from incidentd.timeline.schemas import TimelineEntry


class IncidentsExportRequest(IncidentFilters, kw_only=True):
    """Every incident matching the list filters, oldest first: `ndjson` (one wire incident per line, the default)
    or `csv` (the flat columns of `exporting.CSV_COLUMNS`, then one column per custom field). `include:
    ["timeline"]` (NDJSON only) makes each line an `IncidentWithTimeline`."""

    format: Literal["ndjson", "csv"] | None = None
    include: Annotated[list[Literal["timeline"]], msgspec.Meta(max_length=4)] | None = None


class IncidentWithTimeline(Response):
    """One NDJSON line of an export with `include: ["timeline"]`: the wire incident and the first
    `exporting.TIMELINE_LIMIT` entries of its timeline (comments and change events, oldest first, as
    timeline-entries.list renders them); `timeline_truncated` is present (true) when the timeline had more."""

    incident: Incident
    timeline: list[TimelineEntry]
    timeline_truncated: bool = False
