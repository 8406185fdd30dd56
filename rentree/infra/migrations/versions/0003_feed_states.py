"""feed states: the digest of each feed type's last full apply

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_states",
        sa.Column("school_year", sa.String(length=9), nullable=False),
        sa.Column("file_type", sa.String(length=14), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("school_year", "file_type", name=op.f("pk_feed_states")),
    )


def downgrade() -> None:
    op.drop_table("feed_states")
