"""Reading the directory a plan compares against: the whole of it, or only the rows that a
set of conditions keeps (the part a Delta's records can touch, `tasks.sync.scope`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl
from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Select,
    Table,
    and_,
    not_,
    or_,
    select,
    true,
)

from rentree.infra.arrow_reads import arrow_connection
from rentree.infra.db import cross_join
from rentree.infra.frames import select_frame
from rentree.infra.schema import (
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
from rentree.tasks.sync.changeset import USER_ATTRIBUTES
from rentree.tasks.sync.diff_common import Directory

STRUCTURE_SCHEMA = {c.name: pl.String for c in structures.columns} | {"missing_since": pl.Date}
USER_SCHEMA: dict[str, Any] = {
    "external_id": pl.String,
    "source": pl.String,
    "login": pl.String,
    **USER_ATTRIBUTES,
    "missing_since": pl.Date,
}
LOGINS_SCHEMA = {"login": pl.String}

# the parts of `Directory` read from a table, each by one query
PARTS = (
    "users",
    "logins",
    "other_ids",
    "feed_ids",
    "structure_links",
    "class_links",
    "relations",
    "classes",
    "groups",
    "group_members",
)


def read_directory(
    conn: Connection,
    school_year: str,
    within: Mapping[str, ColumnElement[bool]] | None = None,
    logins: pl.Series | None = None,
    members_of: Table | None = None,
) -> Directory:
    """The tables a plan compares against, one query each. `within` adds a condition to the
    query of a part (a name of `PARTS`); `logins`, when given, stands for the logins in use;
    `members_of`, a staged table of `user_external_id`, limits the memberships read to those
    people, read person by person (SQLite would otherwise go through every managed group and
    probe each of its members)."""
    limits = dict(within or {})
    unknown = set(limits) - set(PARTS)
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not parts of the directory; use {PARTS}.")
    # The whole directory may be read as Arrow (PostgreSQL, `infra.arrow_reads`): a plan
    # reads before its transaction writes (tasks.imports: the plan, then carry_out). A part
    # of it joins the caller's staged tables, which only the caller's connection sees.
    whole = not limits and members_of is None

    def read(part: str, query: Select[Any], schema: Mapping[str, Any]) -> pl.DataFrame:
        return select_frame(conn, query.where(limits.get(part, true())), schema, committed=whole)

    feed_people = users.c.source == "feed"
    managed = and_(
        groups.c.kind == "scolarite",
        groups.c.school_year == school_year,
        not_(and_(groups.c.class_external_id.is_not(None), groups.c.audience == "teachers")),
    )
    in_group = groups.c.group_id == group_members.c.group_id
    members: FromClause = group_members.join(groups, in_group)
    member_limit: list[ColumnElement[bool]] = []
    if members_of is not None:
        members = cross_join(cross_join(members_of, group_members), groups)
        member_limit = [members_of.c.user_external_id == group_members.c.user_external_id, in_group]
    with arrow_connection(conn):
        if logins is None:
            logins = read(
                "logins", select(users.c.login).where(users.c.login.is_not(None)), LOGINS_SCHEMA
            )["login"]
        return Directory(
            school_year=school_year,
            structures=select_frame(conn, select(structures), STRUCTURE_SCHEMA, committed=whole),
            users=read(
                "users", select(*[users.c[c] for c in USER_SCHEMA]).where(feed_people), USER_SCHEMA
            ),
            logins=logins,
            other_ids=read(
                "other_ids",
                select(users.c.external_id).where(~feed_people),
                {"external_id": pl.String},
            )["external_id"],
            feed_ids=read(
                "feed_ids",
                select(user_feed_ids.c.feed_external_id, user_feed_ids.c.user_external_id),
                {"feed_external_id": pl.String, "user_external_id": pl.String},
            ),
            structure_links=read(
                "structure_links",
                select(user_structures),
                {
                    "user_external_id": pl.String,
                    "structure_uai": pl.String,
                    "source": pl.String,
                    "director": pl.Boolean,
                },
            ),
            class_links=read(
                "class_links",
                select(
                    user_classes.c.user_external_id,
                    user_classes.c.class_external_id,
                    user_classes.c.source,
                ).where(user_classes.c.school_year == school_year),
                {
                    "user_external_id": pl.String,
                    "class_external_id": pl.String,
                    "source": pl.String,
                },
            ),
            relations=read(
                "relations",
                select(relations),
                {"student_external_id": pl.String, "relative_external_id": pl.String},
            ),
            classes=read(
                "classes",
                select(classes).where(classes.c.school_year == school_year),
                {c.name: pl.String for c in classes.columns},
            ),
            groups=read(
                "groups",
                select(groups.c.group_id).where(
                    or_(groups.c.school_year == school_year, groups.c.school_year.is_(None))
                ),
                {"group_id": pl.String},
            ),
            group_members=read(
                "group_members",
                select(group_members.c.group_id, group_members.c.user_external_id)
                .select_from(members)
                .where(managed, *member_limit),
                {"group_id": pl.String, "user_external_id": pl.String},
            ),
        )
