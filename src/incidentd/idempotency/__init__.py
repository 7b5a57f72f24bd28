"""Idempotency keys: a retried mutating POST with the same key replays the first answer instead of acting twice."""
