"""academies: the academy that delivered each feed file (a region of several)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_files") as batch:
        batch.add_column(sa.Column("academy", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_files") as batch:
        batch.drop_column("academy")
