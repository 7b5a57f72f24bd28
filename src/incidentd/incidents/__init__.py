"""Incidents: DevRev's incidents.create|get|list|update|delete|group."""
