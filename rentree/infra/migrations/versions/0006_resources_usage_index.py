"""resources usage index: the storage report's GROUP BY read from one covering index

The storage report sums the resources' bytes per owner, app and area. Through the index on
the owner alone, SQLite visits the table once per resource in index order (random reads at
3 M resources) and sorts the groups again; an index on (owner, app, area, size_bytes) holds
every column the query reads in its order, so the groups come from one scan of the index
(an index-only scan on PostgreSQL). It keeps serving the lookups by owner (its prefix).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_resources_owner_external_id", table_name="resources")
    op.create_index(
        "ix_resources_owner_external_id_app_area_size_bytes",
        "resources",
        ["owner_external_id", "app", "area", "size_bytes"],
    )


def downgrade() -> None:
    op.drop_index("ix_resources_owner_external_id_app_area_size_bytes", table_name="resources")
    op.create_index("ix_resources_owner_external_id", "resources", ["owner_external_id"])
