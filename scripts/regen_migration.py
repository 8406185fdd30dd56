"""Regenerate the text of the initial migration (0001) from `infra/schema.py`.

0001 creates what `schema.py` declares minus what the later revisions add (read from a
database at 0001: the tables, columns and indexes a later revision brings stay theirs). It is
rendered without batch blocks (creating tables and indexes needs none, even on SQLite), so
the file stays compact; the revision id and effect are unchanged. The script then upgrades
an empty database to head and checks that it matches `schema.py`.

Once a schema change is deployed it gets a new revision instead: `alembic revision
--autogenerate` against a database at head.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import produce_migrations, render_python_code
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import format_as_comma, template_to_file
from sqlalchemy import Engine

from rentree.infra.engine import make_engine
from rentree.infra.migrate import alembic_config
from rentree.infra.schema import metadata

MIGRATIONS = Path(__file__).resolve().parents[1] / "rentree/infra/migrations"
INITIAL = MIGRATIONS / "versions/0001_directory_schema.py"


def changes(engine: Engine) -> ops.UpgradeOps:
    """What it takes to bring this database to `schema.py`."""
    with engine.connect() as conn:
        upgrade_ops = produce_migrations(MigrationContext.configure(conn), metadata).upgrade_ops
    assert upgrade_ops is not None
    return upgrade_ops


@dataclass
class LaterRevisions:
    """What the revisions after 0001 change: the tables, (table, column) pairs and indexes
    they add, and the indexes they drop (0001 creates those)."""

    tables: set[str] = field(default_factory=set)
    columns: set[tuple[str, str]] = field(default_factory=set)
    indexes: set[str] = field(default_factory=set)
    dropped: list[ops.CreateIndexOp] = field(default_factory=list)


def later_revisions(at_initial: Engine) -> LaterRevisions:
    later = LaterRevisions()
    for op in changes(at_initial).ops:
        if isinstance(op, ops.CreateTableOp):
            later.tables.add(op.table_name)
            continue
        assert isinstance(op, ops.ModifyTableOps)
        for change in op.ops:
            if isinstance(change, ops.AddColumnOp):
                later.columns.add((change.table_name, change.column.name))
            elif isinstance(change, ops.CreateIndexOp):
                later.indexes.add(str(change.index_name))
            elif isinstance(change, ops.DropIndexOp):
                later.dropped.append(change.reverse())
            else:
                sys.exit(
                    f"0001 cannot be regenerated: a later revision does {type(change).__name__} "
                    f"on {op.table_name}; leave 0001 as it is."
                )
    return later


def initial_ops(empty: Engine, at_initial: Engine | None) -> ops.UpgradeOps:
    """The whole schema from nothing, less what later revisions add, with what they drop."""
    later = later_revisions(at_initial) if at_initial else LaterRevisions()
    tables, columns, indexes = later.tables, later.columns, later.indexes
    kept: list[ops.MigrateOperation] = []
    for op in changes(empty).ops:
        if isinstance(op, ops.CreateTableOp):
            if op.table_name in tables:
                continue
            op.columns = [
                c for c in op.columns if (op.table_name, getattr(c, "name", None)) not in columns
            ]
        elif isinstance(op, ops.ModifyTableOps):
            if op.table_name in tables:
                continue
            op.ops = [o for o in op.ops if str(getattr(o, "index_name", "")) not in indexes]
        kept.append(op)
    kept += [ops.ModifyTableOps(index.table_name, [index]) for index in later.dropped]
    return ops.UpgradeOps(ops=kept)


def main() -> None:
    old = INITIAL.read_text(encoding="utf-8") if INITIAL.exists() else ""
    created = re.search(r"^Create Date: (.+)$", old, re.MULTILINE)
    with tempfile.TemporaryDirectory() as tmp:
        empty = make_engine(f"sqlite:///{tmp}/empty.db")
        at_initial = None
        head = ScriptDirectory.from_config(alembic_config(empty)).get_current_head()
        if old and head != "0001":
            at_initial = make_engine(f"sqlite:///{tmp}/at-0001.db")
            command.upgrade(alembic_config(at_initial), "0001")
        upgrade_ops = initial_ops(empty, at_initial)
        template_to_file(
            str(MIGRATIONS / "script.py.mako"),
            str(INITIAL),
            "utf-8",
            message="directory schema",
            up_revision="0001",
            down_revision=None,
            create_date=created[1] if created else datetime.now(),
            comma=format_as_comma,
            upgrades=render_python_code(upgrade_ops, render_as_batch=False),
            downgrades=render_python_code(upgrade_ops.reverse(), render_as_batch=False),
        )
        bin_dir = Path(sys.executable).parent
        subprocess.run([str(bin_dir / "ruff"), "format", "-q", str(INITIAL)], check=True)
        check = make_engine(f"sqlite:///{tmp}/check.db")
        command.upgrade(alembic_config(check), "head")
        left = changes(check).ops
        if left:
            sys.exit(f"the migrations at head differ from schema.py: {left}")
    print(f"{INITIAL.name}: {len(INITIAL.read_text(encoding='utf-8').splitlines())} lines")


if __name__ == "__main__":
    main()
