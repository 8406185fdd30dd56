"""Directory rows and landing files for the orchestration tests (years, routing, holds,
attachments, late entries), built by hand with `insert_frame`: these tests depend neither on
the generator nor on the plan step."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
from sqlalchemy import Connection

from rentree.infra import schema
from rentree.infra.db import insert_frame
from rentree.infra.naming import class_id, feed_file_name, landing_key
from rentree.infra.storage import ObjectStore

CLOSING = "2023-2024"
NEW = "2024-2025"
NOW = datetime(2024, 9, 3, 2, 0, tzinfo=UTC)
LATER = datetime(2024, 9, 10, 2, 0, tzinfo=UTC)

_USER_SCHEMA = {
    "external_id": pl.String,
    "profile": pl.String,
    "source": pl.String,
    "identity": pl.String,
    "login": pl.String,
    "first_name": pl.String,
    "last_name": pl.String,
    "level": pl.String,
    "activation_state": pl.String,
    "missing_since": pl.Date,
}


def add_structures(conn: Connection, rows: list[tuple[str, str, str | None]]) -> None:
    """(uai, type, rpi) rows; the external id is `S<uai>`."""
    insert_frame(
        conn,
        schema.structures,
        pl.DataFrame(
            [
                {"external_id": f"S{uai}", "uai": uai, "name": f"École {uai}", "type": t, "rpi": r}
                for uai, t, r in rows
            ],
            schema={
                "external_id": pl.String,
                "uai": pl.String,
                "name": pl.String,
                "type": pl.String,
                "rpi": pl.String,
            },
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
        pl.DataFrame(
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
            schema=_USER_SCHEMA,
        ),
    )


def link_school(conn: Connection, users: list[str], uai: str, source: str = "feed") -> None:
    insert_frame(
        conn,
        schema.user_structures,
        pl.DataFrame(
            {
                "user_external_id": users,
                "structure_uai": [uai] * len(users),
                "source": [source] * len(users),
                "director": [False] * len(users),
            }
        ),
    )


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
    insert_frame(
        conn,
        schema.user_classes,
        pl.DataFrame(
            {
                "user_external_id": users,
                "class_external_id": [cid] * len(users),
                "school_year": [year] * len(users),
                "source": ["feed"] * len(users),
            }
        ),
    )


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
