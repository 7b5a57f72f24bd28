"""Customization: stage diagrams (stages.custom.*, states.custom.*) and schema fragments (schemas.custom.*)."""
