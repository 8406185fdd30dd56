"""`change_log` rows written by the database itself: one `INSERT ... SELECT` per kind of
change, whatever the number of rows (the purge, the retirement journal and their undos).

A change set's rows are written by `tasks.sync.apply` from its frames instead. The log has
no index on `run_id` (revision 0007): a run's rows are read back by the span of change ids
its commit recorded (`last_change_id` before and after its writes).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, DateTime, String, func, insert, literal, null, select
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ColumnElement

from rentree.infra.db import is_postgresql
from rentree.infra.schema import change_log


def json_object(
    conn: Connection, pairs: Iterable[tuple[str, ColumnElement[Any]]]
) -> ColumnElement[Any]:
    """A JSON object of `(name, value)` pairs, built by the database (PostgreSQL's
    `json_build_object`, SQLite's `json_object`)."""
    builder = func.json_build_object if is_postgresql(conn) else func.json_object
    args: list[Any] = []
    for name, value in pairs:
        args += [literal(name, String), value]
    return builder(*args)


def last_change_id(conn: Connection) -> int:
    """The newest change id (0 for an empty log): rows are never deleted and ids only grow,
    so the rows a transaction logs after this call all have greater ids."""
    return int(
        conn.execute(select(func.coalesce(func.max(change_log.c.change_id), 0))).scalar_one()
    )


def log_selected(
    conn: Connection,
    *,
    run_id: str,
    at: datetime,
    entity: str | ColumnElement[str],
    entity_id: ColumnElement[str],
    operation: str,
    where: ColumnElement[bool],
    before: ColumnElement[Any] | None = None,
    after: ColumnElement[Any] | None = None,
) -> None:
    """One change_log row per row that `where` selects, in one statement: `entity_id`,
    `before` and `after` are expressions over the selected rows."""
    conn.execute(
        insert(change_log).from_select(
            ["run_id", "at", "entity", "entity_id", "operation", "before", "after"],
            select(
                literal(run_id, String),
                literal(at, DateTime(timezone=True)),
                literal(entity, String) if isinstance(entity, str) else entity,
                entity_id,
                literal(operation, String),
                null() if before is None else before,
                null() if after is None else after,
            ).where(where),
        )
    )


def rows_written(conn: Connection, statement: Executable) -> int:
    """Run an INSERT ... SELECT, UPDATE or DELETE and say how many rows it touched
    (psycopg needs asking for it)."""
    result = conn.execute(statement.execution_options(preserve_rowcount=True))
    return int(result.rowcount)
