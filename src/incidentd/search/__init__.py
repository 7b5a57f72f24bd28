"""Full-text search over incidents: the query language, the index (SQLite FTS5, PostgreSQL tsvector) and its
snippets. incidents.search reads through `service`; every writer of indexed text refreshes the index through it."""
