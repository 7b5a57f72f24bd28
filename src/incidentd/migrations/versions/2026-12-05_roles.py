"""roles: every principal is an `admin` or a `member` of its org

Existing data: every user becomes a member, except the first dev user of each org (the lowest number: the user
`incidentd serve` bootstraps, or `incidentd org create --admin-email` creates), who becomes its admin. Promote
others with `incidentd user set-role`. The downgrade drops the column (everyone is an admin again).

Revision ID: 0006_roles
Revises: 0005_custom_schemas
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_roles"
down_revision = "0005_custom_schemas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (a NOT NULL column with a default needs no table rebuild on SQLite).
    op.add_column("users", sa.Column("role", sa.String(20), nullable=False, server_default="member"))
    op.execute(
        sa.text(
            "UPDATE users SET role = 'admin' WHERE user_type = 'dev_user' AND number = ("
            "SELECT MIN(earliest.number) FROM users AS earliest "
            "WHERE earliest.dev_org_id = users.dev_org_id AND earliest.user_type = 'dev_user')"
        )
    )


def downgrade() -> None:
    op.drop_column("users", "role")  # SQLite 3.35+ drops a column in place
