"""incidentd import: loading incidents from an NDJSON export or a Netflix Dispatch database into an org."""
