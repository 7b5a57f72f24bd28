"""Artifacts: uploaded files, attached to at most one parent object."""
