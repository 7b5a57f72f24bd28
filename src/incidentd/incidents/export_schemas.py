"""Wire types of incidents.export (an extension): the list filters and a format; the answer is a stream."""

from __future__ import annotations

from typing import Literal

from incidentd.incidents.schemas import IncidentFilters


class IncidentsExportRequest(IncidentFilters, kw_only=True):
    """Every incident matching the list filters, oldest first: `ndjson` (one wire incident per line, the default)
    or `csv` (the flat columns of `exporting.CSV_COLUMNS`, then one column per custom field)."""

    format: Literal["ndjson", "csv"] | None = None
