"""ledger key by feed type: a file is known by its academy, feed type and bytes

The same bytes delivered as two feed types (two empty Delta files) were one ledger row: the
second file was taken as applied already. Every `feed_files.content_hash` becomes the digest
of the file's type and its former key (`naming.ledger_hash`), computed here as the product
computes it. The former keys cannot be computed back from the new ones: a downgrade keeps
them, and the older code would see those files as never applied (a plain re-import).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _typed(file_type: str, key: str) -> str:
    # as rentree.infra.naming.ledger_hash: the migration keeps its own copy of the rule
    return hashlib.sha256(f"{file_type}\0{key}".encode()).hexdigest()


def upgrade() -> None:
    feed_files = sa.table(
        "feed_files", sa.column("content_hash", sa.String), sa.column("file_type", sa.String)
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(feed_files.c.content_hash, feed_files.c.file_type)).all()
    if rows:
        conn.execute(
            sa.update(feed_files)
            .where(feed_files.c.content_hash == sa.bindparam("old"))
            .values(content_hash=sa.bindparam("new")),
            [{"old": r.content_hash, "new": _typed(r.file_type, r.content_hash)} for r in rows],
        )


def downgrade() -> None:
    # the former keys are digests of what the new ones digest: nothing to compute back
    pass
