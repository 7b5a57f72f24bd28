"""events numbered at commit: on plain PostgreSQL an event takes its org's next sequence number when its
transaction commits, not when it is inserted

A change inserts its event with a provisional, negative `seq` (from the sequence `webhook_events_provisional_seq`);
a deferred constraint trigger, which PostgreSQL runs inside COMMIT, takes the org's next number from `id_counters`
and gives it to the row. The counter row is then locked only while the commit runs and flushes, not from the
insert until the client's COMMIT arrives, so events still commit in sequence order per org but one org's writers
no longer queue behind each other's round trips (docs/performance.md, "events numbered at commit"). The trigger
only renumbers negative numbers: rows copied in with their numbers (a move between databases) keep them.

SQLite (one writer at a time) and Citus (which refuses triggers on distributed tables) number the event when it is
inserted, as before: nothing is created there.

Revision ID: 0016_events_numbered_at_commit
Revises: 0015_documents
Create Date: 2026-12-08
"""

from alembic import op

from incidentd import citus

revision = "0016_events_numbered_at_commit"
down_revision = "0015_documents"
branch_labels = None
depends_on = None

_NUMBER_EVENT = """
CREATE FUNCTION incidentd_number_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH numbered AS (
        INSERT INTO id_counters AS counter (dev_org_id, kind, last_value)
        VALUES (NEW.dev_org_id, 'webhook_event', 1)
        ON CONFLICT (dev_org_id, kind) DO UPDATE SET last_value = counter.last_value + 1
        RETURNING counter.last_value
    )
    UPDATE webhook_events SET seq = (SELECT last_value FROM numbered)
    WHERE dev_org_id = NEW.dev_org_id AND seq = NEW.seq;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or citus.is_citus(bind):
        return
    op.execute("CREATE SEQUENCE webhook_events_provisional_seq CACHE 32")
    op.execute(_NUMBER_EVENT)
    op.execute(
        f"CREATE CONSTRAINT TRIGGER {citus.EVENTS_NUMBERED_AT_COMMIT} AFTER INSERT ON webhook_events "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.seq < 0) EXECUTE FUNCTION incidentd_number_event()"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or citus.is_citus(bind):  # Citus refuses DROP TRIGGER on its tables
        return
    op.execute(f"DROP TRIGGER IF EXISTS {citus.EVENTS_NUMBERED_AT_COMMIT} ON webhook_events")
    op.execute("DROP FUNCTION IF EXISTS incidentd_number_event()")
    op.execute("DROP SEQUENCE IF EXISTS webhook_events_provisional_seq")
