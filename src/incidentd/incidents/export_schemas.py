"""Wire types of incidents.export (an extension): the list filters, a format and what to include; the answer is
a stream."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from incidentd.incidents.schemas import Incident, IncidentFilters
from incidentd.kit.wire import Response
from incidentd.links.schemas import Link
from incidentd.timeline.schemas import TimelineEntry


class IncidentsExportRequest(IncidentFilters, kw_only=True):
    """Every incident matching the list filters, oldest first: `ndjson` (one wire incident per line, the default)
    or `csv` (the flat columns of `exporting.CSV_COLUMNS`, then one column per custom field). `include:
    ["timeline"]` and/or `["links"]` (NDJSON only) makes each line an `IncidentExportLine`."""

    format: Literal["ndjson", "csv"] | None = None
    include: Annotated[list[Literal["timeline", "links"]], msgspec.Meta(max_length=4)] | None = None


class IncidentExportLine(Response):
    """One NDJSON line of an export with `include`: the wire incident and what was asked for of it.

    - `timeline`: the first `exporting.TIMELINE_LIMIT` entries of its timeline (comments and change events,
      oldest first, as timeline-entries.list renders them); `timeline_truncated` is present (true) when it had more.
    - `links`: the first `exporting.LINKS_LIMIT` links the incident is the first incident end of (its source, or
      its target when the source is a part, article or account), in link order, as links.get renders them: each
      link of the export is on exactly one line. `links_truncated` is present (true) when there were more."""

    incident: Incident
    timeline: list[TimelineEntry] | None = None
    timeline_truncated: bool = False
    links: list[Link] | None = None
    links_truncated: bool = False
