"""The share-bookmark clean-up report ("favoris de partage", R13).

Bookmarks belong to their owner and are never deleted nor changed by the rollover: this only
reads. It lists, per owner, each bookmark member that left: a person marked missing, a person
or group the directory does not know, or a scolarité group of the closing year (or of an
earlier one), with the suggestion to remove it from the bookmark or to rename the bookmark.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import CompoundSelect, Connection, and_, case, func, null, or_, select, union_all

from rentree.infra.frames import read_frame, select_frame
from rentree.infra.schema import bookmark_members, bookmarks, groups, users
from rentree.tasks.content.purge.notice import PEDAGOGY_SUPPORT

_SCHEMA: dict[str, Any] = {
    "owner_external_id": pl.String,
    "bookmark_id": pl.String,
    "bookmark_name": pl.String,
    "member_kind": pl.String,
    "member_id": pl.String,
    "member_name": pl.String,
    "missing_since": pl.Date,
    "group_school_year": pl.String,
    "reason": pl.String,
}

COLUMNS = (
    "owner_external_id",
    "owner_last_name",
    "owner_first_name",
    "bookmark_id",
    "bookmark_name",
    "member_kind",
    "member_id",
    "member_name",
    "reason",
    "missing_since",
    "group_school_year",
    "suggestion_fr",
    "suggestion_en",
    "support",
)


def _left_members(closing_year: str) -> CompoundSelect:
    """Bookmark members that left: people missing or unknown, then groups unknown or
    scolarité groups of `closing_year` or earlier."""
    b, m, u, g = bookmarks.c, bookmark_members.c, users.c, groups.c
    members = bookmark_members.join(bookmarks, b.bookmark_id == m.bookmark_id)
    bookmark = (b.owner_external_id, b.bookmark_id, b.name.label("bookmark_name"))
    full_name = func.coalesce(u.first_name, "") + " " + func.coalesce(u.last_name, "")
    people = (
        select(
            *bookmark,
            m.member_kind,
            m.member_id,
            func.trim(full_name).label("member_name"),
            u.missing_since,
            null().label("group_school_year"),
            case((u.external_id.is_(None), "unknown"), else_="missing").label("reason"),
        )
        .select_from(members.outerjoin(users, u.external_id == m.member_id))
        .where(m.member_kind == "user", or_(u.external_id.is_(None), u.missing_since.is_not(None)))
    )
    closed = and_(g.kind == "scolarite", g.school_year <= closing_year)
    group_rows = (
        select(
            *bookmark,
            m.member_kind,
            m.member_id,
            g.name.label("member_name"),
            null().label("missing_since"),
            g.school_year.label("group_school_year"),
            case((g.group_id.is_(None), "unknown"), else_="closed_year_group").label("reason"),
        )
        .select_from(members.outerjoin(groups, g.group_id == m.member_id))
        .where(m.member_kind == "group", or_(g.group_id.is_(None), closed))
    )
    return union_all(people, group_rows)


def bookmark_cleanup_report(conn: Connection, closing_year: str) -> pl.DataFrame:
    """Per owner, each bookmark member that left (R13), with what to do about it.

    Groups that left are the scolarité groups of `closing_year` and of any earlier year
    (a bookmark kept for years may still name them), and group ids the directory lacks.
    """
    left = select_frame(conn, _left_members(closing_year), _SCHEMA)
    owner = users.c
    owners = read_frame(
        conn,
        select(
            owner.external_id.label("owner_external_id"),
            owner.last_name.label("owner_last_name"),
            owner.first_name.label("owner_first_name"),
        )
        .distinct()
        .join_from(users, bookmarks, bookmarks.c.owner_external_id == owner.external_id),
        schema_overrides={
            "owner_external_id": pl.String,
            "owner_last_name": pl.String,
            "owner_first_name": pl.String,
        },
    )
    name = pl.when(pl.col("member_name").fill_null("") == "").then(pl.col("member_id"))
    member = name.otherwise(pl.col("member_name"))
    since = pl.col("missing_since").dt.strftime("%d/%m/%Y")
    since_en = pl.col("missing_since").dt.strftime("%Y-%m-%d")
    bookmark = pl.col("bookmark_name")
    why_fr = (
        pl.when(pl.col("reason") == "missing")
        .then(pl.format("« {} » a quitté l'ENT (absent des annuaires depuis le {})", member, since))
        .when(pl.col("reason") == "closed_year_group")
        .then(
            pl.format(
                "« {} » est un groupe de scolarité de l'année {}, qui ne sert plus",
                member,
                pl.col("group_school_year"),
            )
        )
        .otherwise(pl.format("« {} » n'existe plus dans l'annuaire", member))
    )
    why_en = (
        pl.when(pl.col("reason") == "missing")
        .then(
            pl.format(
                "'{}' has left the ENT (missing from the directory since {})", member, since_en
            )
        )
        .when(pl.col("reason") == "closed_year_group")
        .then(
            pl.format(
                "'{}' is a scolarité group of the {} school year, no longer in use",
                member,
                pl.col("group_school_year"),
            )
        )
        .otherwise(pl.format("'{}' is no longer in the directory", member))
    )
    return (
        left.join(owners, on="owner_external_id", how="left")
        .with_columns(
            pl.format(
                "{} : retirez-le du favori de partage « {} », ou renommez ce favori si vous le "
                "gardez pour l'année qui vient (Annuaire, onglet « Gérer mes favoris de "
                "partage »).",
                why_fr,
                bookmark,
            ).alias("suggestion_fr"),
            pl.format(
                "{}: remove it from the share bookmark '{}', or rename the bookmark if you keep "
                'it for the coming year (Directory, tab "Manage my share bookmarks").',
                why_en,
                bookmark,
            ).alias("suggestion_en"),
            pl.lit(PEDAGOGY_SUPPORT).alias("support"),
        )
        .select(COLUMNS)
        .sort(["owner_external_id", "bookmark_id", "member_kind", "member_id"])
    )
