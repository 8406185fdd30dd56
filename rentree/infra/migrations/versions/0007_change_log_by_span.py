"""change log by span: no index on change_log.run_id

The index on the run id cost a third of the change log's insert: a first import writes
millions of rows, each one an entry in a second B-tree. What reads a run's rows (the reports
a later run writes for a run that stopped after its commit) finds them by the span of
change ids that the run's commit records in its summary, a range of the primary key.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_change_log_run_id", table_name="change_log")


def downgrade() -> None:
    op.create_index("ix_change_log_run_id", "change_log", ["run_id"])
