"""Directory rows and landing files for the orchestration tests (years, routing, holds,
attachments, late entries), built by hand with `insert_frame`: these tests depend neither on
the generator nor on the plan step."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, Table

from rentree.infra import schema
from rentree.infra.db import insert_frame
from rentree.infra.naming import class_id, feed_file_name, landing_key
from rentree.infra.storage import ObjectStore
from tests.frame_builders import table_frame

CLOSING = "2023-2024"
NEW = "2024-2025"
NOW = datetime(2024, 9, 3, 2, 0, tzinfo=UTC)
LATER = datetime(2024, 9, 10, 2, 0, tzinfo=UTC)


def add_structures(conn: Connection, rows: list[tuple[str, str, str | None]]) -> None:
    """(uai, type, rpi) rows; the external id is `S<uai>`."""
    insert_frame(
        conn,
        schema.structures,
        table_frame(
            "structures",
            [(f"S{uai}", uai, f"École {uai}", t, r) for uai, t, r in rows],
            ("external_id", "uai", "name", "type", "rpi"),
        ),
    )


def add_users(
    conn: Connection,
    rows: list[tuple[str, str]],
    *,
    level: str | None = None,
    missing_since: date | None = None,
) -> None:
    """(external_id, profile) rows."""
    identity = {"Teacher": "academic_sso", "Personnel": "academic_sso", "Relative": "educonnect"}
    insert_frame(
        conn,
        schema.users,
        table_frame(
            "users",
            [
                {
                    "external_id": uid,
                    "profile": profile,
                    "source": "feed",
                    "identity": identity.get(profile, "local"),
                    "login": uid.lower() if profile == "Student" else None,
                    "first_name": "Prénom",
                    "last_name": uid,
                    "level": level if profile == "Student" else None,
                    "activation_state": "none",
                    "missing_since": missing_since,
                }
                for uid, profile in rows
            ],
        ),
    )


def _link(conn: Connection, table: Table, users: list[str], **same: Any) -> None:
    """One row per user, the other columns the same on every row."""
    frame = pl.DataFrame({"user_external_id": users}, schema={"user_external_id": pl.String})
    insert_frame(conn, table, frame.with_columns(**{k: pl.lit(v) for k, v in same.items()}))


def link_school(conn: Connection, users: list[str], uai: str, source: str = "feed") -> None:
    _link(conn, schema.user_structures, users, structure_uai=uai, source=source, director=False)


def add_class(conn: Connection, year: str, uai: str, code: str, levels: str) -> str:
    cid = class_id(year, uai, code)
    insert_frame(
        conn,
        schema.classes,
        pl.DataFrame(
            [
                {
                    "external_id": cid,
                    "structure_uai": uai,
                    "school_year": year,
                    "code": code,
                    "label": code,
                    "levels": levels,
                }
            ]
        ),
    )
    return cid


def link_class(conn: Connection, users: list[str], cid: str, year: str) -> None:
    _link(conn, schema.user_classes, users, class_external_id=cid, school_year=year, source="feed")


def add_students(
    conn: Connection, year: str, uai: str, code: str, level: str, count: int, start: int = 0
) -> list[str]:
    """`count` present students of `level` in a class (created if needed) of the school."""
    ids = [f"E{uai}{code}{i:03d}" for i in range(start, start + count)]
    add_users(conn, [(i, "Student") for i in ids], level=level)
    link_school(conn, ids, uai)
    cid = class_id(year, uai, code)
    if (
        conn.execute(schema.classes.select().where(schema.classes.c.external_id == cid)).first()
        is None
    ):
        add_class(conn, year, uai, code, level)
    link_class(conn, ids, cid, year)
    return ids


def land(
    store: ObjectStore,
    year: str,
    file_type: str,
    day: date,
    *,
    mode: str = "Complet",
    chunk: int = 0,
    content: bytes | None = None,
) -> str:
    """Put a feed file in landing/<year>/ and return its key."""
    name = feed_file_name(file_type, day, chunk, mode)  # type: ignore[arg-type]
    key = landing_key(year, name)
    store.write_bytes(key, content if content is not None else f"<{name}/>".encode())
    return key
