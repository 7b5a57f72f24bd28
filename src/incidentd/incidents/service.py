"""Rules of incidents: create, get, update, delete, list, group. Raises DevRev errors; never imports the web
framework. Every operation is one unit of work; responses are assembled with a fixed number of queries.

The rules live in `writing` (create, update, stage moves, delete), `reading` (get, list, filters, paging),
`grouping` (group) and `rendering` (row and references -> wire `Incident`); this module is what the routes call."""

from __future__ import annotations

from incidentd.incidents.grouping import CUSTOM_GROUP, GROUP_FIELDS, GroupsPage, group_incidents
from incidentd.incidents.reading import FEW_MATCHES_AT_LEAST, LEAF_TYPE, IncidentsPage, get, list_incidents, lookup
from incidentd.incidents.rendering import PARENT_KIND, render, summaries
from incidentd.incidents.writing import MAX_BODY, MAX_TITLE, close_as_duplicate, create, delete, lock, update

__all__ = [
    "CUSTOM_GROUP",
    "FEW_MATCHES_AT_LEAST",
    "GROUP_FIELDS",
    "LEAF_TYPE",
    "MAX_BODY",
    "MAX_TITLE",
    "PARENT_KIND",
    "GroupsPage",
    "IncidentsPage",
    "close_as_duplicate",
    "create",
    "delete",
    "get",
    "group_incidents",
    "list_incidents",
    "lock",
    "lookup",
    "render",
    "summaries",
    "update",
]
