"""Apply a change set inside the caller's transaction, set-based, and fingerprint the directory.

Creations go through `insert_frame` (COPY on PostgreSQL, executemany on SQLite); updates and
deletions through a temporary table and one statement per kind. Every change is written to
`change_log` with the run id, and the delivery's files to `feed_files`. Nothing here commits:
a failure anywhere leaves the directory as it was once the caller's transaction rolls back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

import polars as pl
from sqlalchemy import Connection, Table, delete, func, select, tuple_, update

from rentree.infra.db import STATISTICS_ROWS, insert_frame, refresh_statistics
from rentree.infra.schema import (
    change_log,
    classes,
    group_members,
    groups,
    relations,
    structures,
    user_classes,
    user_feed_ids,
    user_structures,
    users,
)
from rentree.infra.staging import staging_table
from rentree.tasks.intake.ledger import record_feed_files
from rentree.tasks.rules.retirement.apply import reactivate_returning
from rentree.tasks.sync.change_log import last_change_id
from rentree.tasks.sync.changeset import STRUCTURE_ATTRIBUTES, USER_ATTRIBUTES, ChangeSet


def directory_fingerprint(conn: Connection, school_year: str) -> str:
    """A digest of the directory state a change set depends on.

    It moves whenever a change is logged (the last change id: the log only grows) or a table
    a plan reads changes size, so that approving a held change set can tell that the
    directory moved meanwhile.
    """
    figures: dict[str, object] = {"school_year": school_year}
    figures["change_log"] = last_change_id(conn)
    for table in (structures, users, user_feed_ids, user_structures, relations, group_members):
        figures[table.name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
    figures["missing"] = conn.execute(
        select(func.count()).where(users.c.missing_since.is_not(None))
    ).scalar_one()
    for table in (classes, user_classes, groups):
        figures[table.name] = conn.execute(
            select(func.count()).where(table.c.school_year == school_year)
        ).scalar_one()
    return hashlib.sha256(json.dumps(figures, sort_keys=True).encode()).hexdigest()


def apply_change_set(
    conn: Connection, change_set: ChangeSet, run_id: str, now: datetime
) -> dict[str, int]:
    """Write the change set; returns the number of rows per kind. The caller commits."""
    cs = change_set
    _insert(conn, structures, cs.structures_created)
    _update(conn, structures, "external_id", cs.structures_updated, list(STRUCTURE_ATTRIBUTES))
    _insert(
        conn,
        users,
        cs.users_created.with_columns(
            pl.lit(now).alias("created_at"), pl.lit(now).alias("updated_at")
        ),
    )
    _update(
        conn,
        users,
        "external_id",
        cs.users_updated,
        list(USER_ATTRIBUTES),
        stamp=("updated_at", now),
    )
    _update(
        conn, users, "external_id", cs.users_missing, ["missing_since"], stamp=("updated_at", now)
    )
    _update(
        conn,
        users,
        "external_id",
        cs.users_back.select("external_id", pl.lit(None, dtype=pl.Date).alias("missing_since")),
        ["missing_since"],
        stamp=("updated_at", now),
    )
    # R1: a person back in a feed after retire-missing deactivated them logs in again
    reactivate_returning(conn, cs.users_back, run_id, now)
    _insert(
        conn, user_feed_ids, cs.identities_linked.with_columns(pl.lit(now).alias("recorded_at"))
    )
    _insert(conn, classes, cs.classes_created)
    _update(conn, classes, "external_id", cs.classes_updated, ["label", "levels"])
    _insert(conn, groups, cs.groups_created)
    # cuts before makes: a link whose flag changed is cut then made again
    _delete(conn, user_structures, cs.structure_links_cut, ["user_external_id", "structure_uai"])
    _delete(conn, user_classes, cs.class_links_cut, ["user_external_id", "class_external_id"])
    _delete(conn, relations, cs.relations_cut, ["student_external_id", "relative_external_id"])
    _delete(conn, group_members, cs.group_members_removed, ["group_id", "user_external_id"])
    _insert(conn, user_structures, cs.structure_links_made)
    _insert(conn, user_classes, cs.class_links_made)
    _insert(conn, relations, cs.relations_made)
    _insert(conn, group_members, cs.group_members_added)
    refresh_statistics(conn, bulk_written(cs))
    logged = _log(conn, change_log_parts(cs), run_id, now)
    record_feed_files(conn, cs.files, "applied", school_year=cs.school_year, run_id=run_id, now=now)
    counts = cs.counts()
    counts["change_log"] = logged
    return counts


def bulk_written(cs: ChangeSet) -> list[Table]:
    """The tables this change set adds at least `STATISTICS_ROWS` rows to: the ones whose
    planner statistics a statement later in the same transaction would find wrong."""
    added = {
        users: cs.users_created.height,
        user_feed_ids: cs.identities_linked.height,
        classes: cs.classes_created.height,
        groups: cs.groups_created.height,
        user_structures: cs.structure_links_made.height,
        user_classes: cs.class_links_made.height,
        relations: cs.relations_made.height,
        group_members: cs.group_members_added.height,
    }
    return [table for table, rows in added.items() if rows >= STATISTICS_ROWS]


def _insert(conn: Connection, table: Table, frame: pl.DataFrame) -> None:
    insert_frame(conn, table, frame)


def _update(
    conn: Connection,
    table: Table,
    key: str,
    frame: pl.DataFrame,
    columns: Sequence[str],
    stamp: tuple[str, datetime] | None = None,
) -> None:
    """One `UPDATE ... FROM` a temporary table holding the new values."""
    if frame.is_empty():
        return
    new = staging_table(conn, f"upd_{table.name}", frame.select(key, *columns), [key])
    values: dict[str, object] = {c: new.c[c] for c in columns}
    if stamp is not None:
        values[stamp[0]] = stamp[1]
    conn.execute(update(table).where(table.c[key] == new.c[key]).values(values))


def _delete(conn: Connection, table: Table, frame: pl.DataFrame, keys: Sequence[str]) -> None:
    if frame.is_empty():
        return
    gone = staging_table(conn, f"del_{table.name}", frame.select(keys), keys)
    conn.execute(
        delete(table).where(
            tuple_(*(table.c[k] for k in keys)).in_(select(*(gone.c[k] for k in keys)))
        )
    )


# -- the change log -------------------------------------------------------------------------


def _json(*columns: str) -> pl.Expr:
    return pl.struct(*columns).struct.json_encode()


def _none() -> pl.Expr:
    return pl.lit(None, dtype=pl.String)


def _pair(a: str, b: str) -> pl.Expr:
    return pl.concat_str(pl.col(a), pl.lit("|"), pl.col(b))


def change_log_rows(cs: ChangeSet) -> pl.DataFrame:
    """entity, entity_id, operation, before, after (JSON text) for every change.

    Activation codes are secrets: they never reach the log.
    """
    parts = change_log_parts(cs)
    if not parts:
        return pl.DataFrame(
            schema={c: pl.String for c in ("entity", "entity_id", "operation", "before", "after")}
        )
    return pl.concat(parts, how="vertical")


def change_log_parts(cs: ChangeSet) -> list[pl.DataFrame]:
    """The change log rows, one frame per kind of change (its entity and operation), in the
    order they are logged."""
    user_columns = [c for c in cs.users_created.columns if c not in ("activation_code",)]
    specs: list[tuple[pl.DataFrame, str, pl.Expr, str, pl.Expr, pl.Expr]] = [
        (
            cs.structures_created,
            "structure",
            pl.col("external_id"),
            "create",
            _none(),
            _json(*STRUCTURE_ATTRIBUTES),
        ),
        (
            cs.structures_updated,
            "structure",
            pl.col("external_id"),
            "update",
            pl.col("before"),
            _json("changed", *STRUCTURE_ATTRIBUTES),
        ),
        (cs.users_created, "user", pl.col("external_id"), "create", _none(), _json(*user_columns)),
        (
            cs.users_updated,
            "user",
            pl.col("external_id"),
            "update",
            pl.col("before"),
            _json("changed", *USER_ATTRIBUTES),
        ),
        (
            cs.users_missing,
            "user",
            pl.col("external_id"),
            "mark_missing",
            _none(),
            _json("missing_since", "structure_uai", "expected_leaver"),
        ),
        (cs.users_back, "user", pl.col("external_id"), "clear_missing", _none(), _none()),
        (
            cs.identities_linked,
            "user_feed_id",
            pl.col("feed_external_id"),
            "link",
            _none(),
            _json("user_external_id"),
        ),
        (
            cs.structure_links_made,
            "user_structure",
            _pair("user_external_id", "structure_uai"),
            "link",
            _none(),
            _json("source", "director"),
        ),
        (
            cs.structure_links_cut,
            "user_structure",
            _pair("user_external_id", "structure_uai"),
            "unlink",
            _none(),
            _none(),
        ),
        (
            cs.class_links_made,
            "user_class",
            _pair("user_external_id", "class_external_id"),
            "link",
            _none(),
            _json("school_year", "source"),
        ),
        (
            cs.class_links_cut,
            "user_class",
            _pair("user_external_id", "class_external_id"),
            "unlink",
            _none(),
            _none(),
        ),
        (
            cs.relations_made,
            "relation",
            _pair("student_external_id", "relative_external_id"),
            "link",
            _none(),
            _none(),
        ),
        (
            cs.relations_cut,
            "relation",
            _pair("student_external_id", "relative_external_id"),
            "unlink",
            _none(),
            _none(),
        ),
        (
            cs.classes_created,
            "class",
            pl.col("external_id"),
            "create",
            _none(),
            _json("structure_uai", "school_year", "code", "label", "levels"),
        ),
        (
            cs.classes_updated,
            "class",
            pl.col("external_id"),
            "update",
            pl.col("before"),
            _json("label", "levels"),
        ),
        (
            cs.groups_created,
            "group",
            pl.col("group_id"),
            "create",
            _none(),
            _json("kind", "school_year", "structure_uai", "class_external_id", "audience", "name"),
        ),
        (
            cs.group_members_added,
            "group_member",
            _pair("group_id", "user_external_id"),
            "link",
            _none(),
            _none(),
        ),
        (
            cs.group_members_removed,
            "group_member",
            _pair("group_id", "user_external_id"),
            "unlink",
            _none(),
            _none(),
        ),
    ]
    return [
        frame.select(
            pl.lit(entity).alias("entity"),
            entity_id.alias("entity_id"),
            pl.lit(operation).alias("operation"),
            before.alias("before"),
            after.alias("after"),
        )
        for frame, entity, entity_id, operation, before, after in specs
        if frame.height
    ]


def stamped_log_rows(rows: pl.DataFrame, run_id: str, now: datetime) -> pl.DataFrame:
    """The change log rows as they are stored: each with its run and time."""
    return rows.with_columns(pl.lit(run_id).alias("run_id"), pl.lit(now).alias("at"))


def _log(conn: Connection, parts: list[pl.DataFrame], run_id: str, now: datetime) -> int:
    # A part at a time, so that its entity and operation, with the run and time, are the
    # same on every row: the bulk insert binds them once. `before` and `after` are JSON
    # text already: they go in as they are.
    for rows in parts:
        insert_frame(conn, change_log, stamped_log_rows(rows, run_id, now), json_text=True)
    return sum(rows.height for rows in parts)
