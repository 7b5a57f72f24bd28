"""`incidentd seed`: fill an org with realistic incidents, fast (for benchmarks and demos)."""
