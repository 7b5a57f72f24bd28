"""Timelines: comments on incidents (`timeline-entries.*`) and the change events that record each incident's
history. `changes.record_change` is what other domains call to append a change event inside their own unit of
work."""
