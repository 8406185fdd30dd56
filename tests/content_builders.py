"""Directory and content rows for the purge, storage and bookmark tests, built by hand.

Rows go in with `insert_frame`, so these tests depend neither on the generator nor on the
sync engine. `small_region()` is a two-school region rolling over from 2023-2024 to 2024-2025
with every kind of share, app, area and bookmark member the rules distinguish.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine

from rentree.infra import schema
from rentree.infra.db import insert_frame
from rentree.infra.frames import read_table
from rentree.infra.naming import class_group_id, class_id, school_group_id
from tests.frame_builders import table_frame

CLOSING = "2023-2024"
NEW = "2024-2025"
OLDER = "2022-2023"
U1 = "0590001A"
U2 = "0590002B"
CREATED = datetime(2024, 5, 2, 8, 0, tzinfo=UTC)
GROUP_COLUMNS = ("group_id", "kind", "school_year", "structure_uai", "class_external_id",
                 "audience", "name", "owner_external_id")  # fmt: skip


def users_frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """Rows of (external_id, profile, first_name, last_name, quota_bytes, missing_since)."""
    identity = {"Teacher": "academic_sso", "Personnel": "academic_sso", "Relative": "educonnect"}
    out = [
        {
            "external_id": uid,
            "profile": profile,
            "source": "manual" if profile == "Guest" else "feed",
            "identity": identity.get(profile, "local"),
            "login": f"{first}.{last}".lower() if profile in ("Student", "Guest") else None,
            "first_name": first,
            "last_name": last,
            "activation_state": "none",
            "quota_bytes": quota,
            "missing_since": missing,
        }
        for uid, profile, first, last, quota, missing in rows
    ]
    # NOT NULL columns with Python-side defaults are spelled out: COPY on PostgreSQL does not
    # apply them.
    return table_frame("users", out)


def groups_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return table_frame("groups", rows, GROUP_COLUMNS)


def scolarite_class_groups(year: str, uai: str, code: str) -> list[dict[str, Any]]:
    klass = class_id(year, uai, code)
    return [
        {
            "group_id": class_group_id(klass, audience),
            "kind": "scolarite",
            "school_year": year,
            "structure_uai": uai,
            "class_external_id": klass,
            "audience": audience,
            "name": f"{code} {audience} {year}",
            "owner_external_id": None,
        }
        for audience in ("students", "relatives", "teachers")
    ]


def scolarite_school_group(year: str, uai: str, audience: str) -> dict[str, Any]:
    return {
        "group_id": school_group_id(year, uai, audience),
        "kind": "scolarite",
        "school_year": year,
        "structure_uai": uai,
        "class_external_id": None,
        "audience": audience,
        "name": f"{uai} {audience} {year}",
        "owner_external_id": None,
    }


def resources_frame(rows: list[tuple[str, str, str, str, int]]) -> pl.DataFrame:
    """Rows of (resource_id, owner_external_id, app, area, size_bytes)."""
    columns = ("resource_id", "owner_external_id", "app", "area", "size_bytes", "created_at")
    return table_frame("resources", [(*r, CREATED) for r in rows], columns)


def shares_frame(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    """Rows of (resource_id, recipient_kind, recipient_id, rights)."""
    return table_frame("shares", rows, ("resource_id", "recipient_kind", "recipient_id", "rights"))


def pairs_frame(names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={n: pl.String for n in names}, orient="row")


def insert_content(conn: Connection, content: dict[str, pl.DataFrame]) -> None:
    """Insert each frame into the table of the same name."""
    for name, frame in content.items():
        insert_frame(conn, schema.metadata.tables[name], frame)


def inserted(engine: Engine, content: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """`content` inserted in one transaction; returned, for the test to compute what it
    expects from the rows without the code under test."""
    with engine.begin() as conn:
        insert_content(conn, content)
    return content


def cp_a(year: str, audience: str) -> str:
    return class_group_id(class_id(year, U1, "CP-A"), audience)


def small_region() -> dict[str, pl.DataFrame]:
    """Two schools, two school years, every share kind and storage area."""
    mib = 1024**2
    users = users_frame(
        [
            ("t1", "Teacher", "Anne", "Martin", None, None),  # in both schools
            ("t2", "Teacher", "Paul", "Durand", 100 * mib, None),  # small custom quota
            ("t3", "Teacher", "Lise", "Roux", None, None),  # no school link
            ("p1", "Personnel", "Marc", "Petit", None, None),
            ("s1", "Student", "Léa", "Bernard", None, None),
            ("s2", "Student", "Tom", "Moreau", None, None),
            ("s3", "Student", "Inès", "Laurent", None, None),
            ("sm", "Student", "Noé", "Simon", None, date(2024, 9, 20)),  # left
            ("r1", "Relative", "Julie", "Bernard", None, None),
            ("r2", "Relative", "Karim", "Moreau", 1 * mib, None),
            ("g1", "Guest", "Sophie", "Fabre", None, None),
        ]
    )
    user_structures = table_frame(
        "user_structures",
        [
            ("t1", U1, "feed", False),
            ("t1", U2, "feed", False),
            ("t2", U1, "feed", True),
            ("p1", U2, "feed", False),
            ("s1", U1, "feed", False),
            ("s2", U1, "feed", False),
            ("s3", U2, "feed", False),
            ("sm", U1, "feed", False),
            ("r1", U1, "feed", False),
            ("r2", U1, "feed", False),
            ("g1", U2, "manual", False),
        ],
        ("user_external_id", "structure_uai", "source", "director"),
    )
    structures = pl.DataFrame(
        {
            "external_id": ["e1", "e2"],
            "uai": [U1, U2],
            "name": ["École Jean-Moulin", "=École d'Été"],  # a formula-looking name on purpose
            "type": ["primaire", "elementaire"],
        }
    )
    group_rows = [
        *scolarite_class_groups(CLOSING, U1, "CP-A"),
        *scolarite_class_groups(CLOSING, U2, "CM2-B"),
        *scolarite_class_groups(NEW, U1, "CE1-A"),
        *scolarite_class_groups(OLDER, U1, "GS-A"),
        scolarite_school_group(CLOSING, U1, "all"),
        scolarite_school_group(NEW, U1, "all"),
        {
            "group_id": "manual-1",
            "kind": "manual",
            "school_year": None,
            "structure_uai": None,
            "class_external_id": None,
            "audience": None,
            "name": "Chorale",
            "owner_external_id": "t1",
        },
    ]
    groups = groups_frame(group_rows)
    members = [
        (cp_a(CLOSING, "students"), "s1"),
        (cp_a(CLOSING, "students"), "s2"),
        (cp_a(CLOSING, "students"), "sm"),
        (cp_a(CLOSING, "relatives"), "r1"),
        (cp_a(CLOSING, "relatives"), "r2"),
        (cp_a(CLOSING, "teachers"), "t1"),
        (class_group_id(class_id(CLOSING, U2, "CM2-B"), "students"), "s3"),
        (school_group_id(CLOSING, U1, "all"), "s1"),
        (school_group_id(CLOSING, U1, "all"), "s2"),
        (school_group_id(CLOSING, U1, "all"), "t1"),
        (school_group_id(CLOSING, U1, "all"), "t2"),
        (class_group_id(class_id(NEW, U1, "CE1-A"), "students"), "s1"),
        ("manual-1", "s1"),
        ("manual-1", "s3"),
    ]
    group_members = pairs_frame(("group_id", "user_external_id"), members)
    resources = resources_frame(
        [
            ("doc-1", "t1", "documents", "own", 300 * mib),
            ("doc-2", "t1", "documents", "apps", 50 * mib),
            ("doc-3", "t1", "documents", "trash", 20 * mib),
            ("msg-1", "t1", "messaging", "inbox", 2 * mib),
            ("msg-2", "t1", "messaging", "sent", 3 * mib),
            ("msg-3", "t1", "messaging", "trash", 1 * mib),
            ("blog-1", "t1", "blog", "own", 10 * mib),
            ("nb-1", "t2", "notebook", "own", 70 * mib),
            ("doc-4", "t2", "documents", "own", 15 * mib),  # t2 at 85% of 100 MiB
            ("doc-5", "t3", "documents", "own", 5 * mib),
            ("msg-4", "p1", "messaging", "inbox", 4 * mib),
            ("doc-6", "s1", "documents", "own", 1 * mib),
            ("doc-7", "r2", "documents", "trash", 1 * mib),  # r2 at 100% of 1 MiB
            ("doc-8", "g1", "documents", "own", 2 * mib),
            ("doc-9", "ghost", "documents", "own", 7 * mib),  # owner unknown to the directory
        ]
    )
    closing_cm2 = class_group_id(class_id(CLOSING, U2, "CM2-B"), "students")
    shares = shares_frame(
        [
            ("doc-1", "group", cp_a(CLOSING, "students"), "read"),  # purged
            ("doc-1", "group", cp_a(CLOSING, "relatives"), "read"),  # purged
            ("doc-1", "user", "s1", "contrib"),  # kept: by name
            ("doc-2", "group", school_group_id(CLOSING, U1, "all"), "contrib"),  # purged
            ("blog-1", "group", closing_cm2, "manage"),  # purged
            ("blog-1", "group", "manual-1", "read"),  # kept: manual group
            ("blog-1", "bookmark", "bm-1", "read"),  # kept: bookmark
            ("nb-1", "group", cp_a(NEW, "students"), "read"),  # kept: new year (no such group)
            ("nb-1", "group", class_group_id(class_id(NEW, U1, "CE1-A"), "students"), "read"),
            ("nb-1", "group", class_group_id(class_id(OLDER, U1, "GS-A"), "students"), "read"),
            ("nb-1", "group", cp_a(CLOSING, "teachers"), "manage"),  # purged
            ("doc-5", "group", cp_a(CLOSING, "students"), "read"),  # purged, owner has no school
            ("doc-5", "user", "t1", "manage"),  # kept
        ]
    )
    bookmarks = pl.DataFrame(
        {
            "bookmark_id": ["bm-1", "bm-2", "bm-3"],
            "owner_external_id": ["t1", "t1", "t2"],
            "name": ["CP-A 2023", "Collègues", "Parents"],
        }
    )
    bookmark_members = pairs_frame(
        ("bookmark_id", "member_kind", "member_id"),
        [
            ("bm-1", "user", "s1"),  # still here
            ("bm-1", "user", "sm"),  # missing
            ("bm-1", "user", "nobody"),  # unknown to the directory
            ("bm-1", "group", cp_a(CLOSING, "students")),  # closing-year group
            ("bm-1", "group", "manual-1"),  # manual group: stays
            ("bm-2", "user", "t2"),
            ("bm-2", "group", class_group_id(class_id(NEW, U1, "CE1-A"), "students")),
            ("bm-3", "group", school_group_id(CLOSING, U1, "all")),  # closing-year group
            ("bm-3", "group", class_group_id(class_id(OLDER, U1, "GS-A"), "students")),
        ],
    )
    return {
        "structures": structures,
        "users": users,
        "user_structures": user_structures,
        "groups": groups,
        "group_members": group_members,
        "resources": resources,
        "shares": shares,
        "bookmarks": bookmarks,
        "bookmark_members": bookmark_members,
    }


def sorted_table(conn: Connection, name: str, keys: list[str]) -> pl.DataFrame:
    """A whole table, sorted, to compare before/after."""
    return read_table(conn, schema.metadata.tables[name]).sort(keys)
