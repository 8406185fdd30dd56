"""The retirement journal: every row a run changes or removes, as it was, so that an undo
puts back exactly that (while the journal lasts: the second grace period).

Each journalled row is a JSON object built by the database itself (one `INSERT ... SELECT`
per table, whatever the number of rows) and is read back the same way: SQLite's
`json_extract` returns the value as stored, PostgreSQL's `->>` the text of the value, cast
back to the column's type. The same rows go to `change_log` without activation codes
(no log holds one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    String,
    Table,
    and_,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from rentree.infra.db import is_postgresql
from rentree.infra.schema import retirement_journal
from rentree.tasks.sync.change_log import json_object, log_selected, rows_written

# Never copied into change_log (operations.md: no log holds an activation code).
SECRET_COLUMNS = frozenset({"activation_code"})

_J = retirement_journal.c


@dataclass(frozen=True)
class RunStamp:
    """Who writes journal rows: the run, its stage and its moment."""

    run_id: str
    stage: str  # deactivate | retire
    now: datetime

    @property
    def at(self) -> ColumnElement[Any]:
        return literal(self.now, DateTime(timezone=True))


def _json_object(conn: Connection, columns: Sequence[Column[Any]]) -> ColumnElement[Any]:
    return json_object(conn, [(col.name, col) for col in columns])


def entity_id(tbl: Table) -> ColumnElement[str]:
    """The row's primary key as one string, parts joined by `|` (as change_log writes it)."""
    parts: list[ColumnElement[Any]] = list(tbl.primary_key.columns)
    key = parts[0]
    for part in parts[1:]:
        key = key + literal("|") + part
    return key


def journal(
    conn: Connection,
    tbl: Table,
    where: ColumnElement[bool],
    stamp: RunStamp,
    operation: str,
    columns: Sequence[str] | None = None,
) -> int:
    """Journal the rows of `tbl` matching `where` (their `columns`, by default all), and log
    them in change_log under `operation`; returns how many rows were journalled."""
    cols = [tbl.c[name] for name in columns] if columns else list(tbl.columns)
    journalled_rows = rows_written(
        conn,
        insert(retirement_journal).from_select(
            ["run_id", "stage", "entity", "entity_id", "row", "recorded_at"],
            select(
                literal(stamp.run_id, String),
                literal(stamp.stage, String),
                literal(tbl.name, String),
                entity_id(tbl),
                _json_object(conn, cols),
                stamp.at,
            ).where(where),
        ),
    )
    log_changes(conn, tbl, where, stamp, operation, columns)
    return journalled_rows


def log_changes(
    conn: Connection,
    tbl: Table,
    where: ColumnElement[bool],
    stamp: RunStamp,
    operation: str,
    columns: Sequence[str] | None = None,
) -> None:
    """One change_log row per row of `tbl` matching `where`, its `columns` (activation codes
    left out) as `before`."""
    cols = [tbl.c[name] for name in columns] if columns else list(tbl.columns)
    log_selected(
        conn,
        run_id=stamp.run_id,
        at=stamp.now,
        entity=tbl.name,
        entity_id=entity_id(tbl),
        operation=operation,
        where=where,
        before=_json_object(conn, [c for c in cols if c.name not in SECRET_COLUMNS]),
    )


def _pending(run_id: str, stage: str, tbl: Table) -> ColumnElement[bool]:
    return and_(
        _J.run_id == run_id, _J.stage == stage, _J.entity == tbl.name, _J.undone_at.is_(None)
    )


def journalled(conn: Connection, col: Column[Any]) -> ColumnElement[Any]:
    """The journalled value of `col`, typed as the column."""
    if is_postgresql(conn):
        return cast(_J.row[col.name].as_string(), col.type)
    return func.json_extract(_J.row, f'$."{col.name}"')


def restore_rows(conn: Connection, tbl: Table, run_id: str, stage: str, now: datetime) -> int:
    """Insert back the rows of `tbl` the run removed (a row present again is left as it is:
    the feed or a person made it anew); logged `restore`. Returns the rows put back."""
    pending = _pending(run_id, stage, tbl)
    same_key = exists().where(*(pk == journalled(conn, pk) for pk in tbl.primary_key.columns))
    restored = rows_written(
        conn,
        insert(tbl).from_select(
            [c.name for c in tbl.columns],
            select(*(journalled(conn, c) for c in tbl.columns)).where(pending, ~same_key),
        ),
    )
    _log_restore(conn, tbl, pending, run_id, now)
    return restored


def restore_columns(
    conn: Connection, tbl: Table, run_id: str, stage: str, now: datetime, columns: Sequence[str]
) -> int:
    """Set back the `columns` the run changed on the rows of `tbl` still there; logged
    `restore`. Returns the rows set back. Single-column primary keys only (users).

    One `UPDATE ... FROM` the journal (a join, not a subquery per row)."""
    (key,) = tbl.primary_key.columns
    pending = _pending(run_id, stage, tbl)
    restored = rows_written(
        conn,
        update(tbl)
        .where(key == _J.entity_id, pending)
        .values({name: journalled(conn, tbl.c[name]) for name in columns}),
    )
    _log_restore(conn, tbl, pending, run_id, now)
    return restored


def _log_restore(
    conn: Connection, tbl: Table, pending: ColumnElement[bool], run_id: str, now: datetime
) -> None:
    log_selected(
        conn,
        run_id=run_id,
        at=now,
        entity=_J.entity,
        entity_id=_J.entity_id,
        operation="restore",
        where=pending,
    )


def mark_undone(conn: Connection, run_id: str, now: datetime) -> None:
    conn.execute(
        update(retirement_journal)
        .where(_J.run_id == run_id, _J.undone_at.is_(None))
        .values(undone_at=literal(now, DateTime(timezone=True)))
    )


def journal_stages(conn: Connection, run_id: str) -> set[str]:
    """The stages the run journalled that are not undone yet."""
    rows = conn.execute(
        select(_J.stage).where(_J.run_id == run_id, _J.undone_at.is_(None)).distinct()
    )
    return {r.stage for r in rows}


def journal_has(conn: Connection, run_id: str) -> bool:
    return bool(conn.execute(select(func.count()).where(_J.run_id == run_id)).scalar_one())


def prune_journal(conn: Connection, before: datetime) -> int:
    """Forget the journal rows recorded before `before` (past the second grace period)."""
    return rows_written(
        conn,
        delete(retirement_journal).where(_J.recorded_at < literal(before, DateTime(timezone=True))),
    )
