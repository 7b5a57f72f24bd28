"""incidentd: a self-hosted incident server that speaks DevRev's Incidents REST API."""

__version__ = "0.1.0"
