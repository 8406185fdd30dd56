"""The share-bookmark clean-up report ("favoris de partage", R13).

Bookmarks belong to their owner and are never deleted nor changed by the rollover: this only
reads. It lists, per owner, each bookmark member that left: a person marked missing, a person
or group the directory does not know, or a scolarité group of the closing year (or of an
earlier one), with the suggestion to remove it from the bookmark or to rename the bookmark.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Connection, Date, String, column, text

from rentree.infra.db import read_frame

SUPPORT_PEDAGOGY = (
    "conseiller pédagogique numérique de circonscription (ERUN) / "
    "district digital-education adviser (ERUN)"
)

_LEFT_MEMBERS_SQL = """
SELECT b.owner_external_id, b.bookmark_id, b.name AS bookmark_name,
       m.member_kind, m.member_id,
       TRIM(COALESCE(u.first_name, '') || ' ' || COALESCE(u.last_name, '')) AS member_name,
       u.missing_since, NULL AS group_school_year,
       CASE WHEN u.external_id IS NULL THEN 'unknown' ELSE 'missing' END AS reason
FROM bookmark_members m
JOIN bookmarks b ON b.bookmark_id = m.bookmark_id
LEFT JOIN users u ON u.external_id = m.member_id
WHERE m.member_kind = 'user' AND (u.external_id IS NULL OR u.missing_since IS NOT NULL)
UNION ALL
SELECT b.owner_external_id, b.bookmark_id, b.name AS bookmark_name,
       m.member_kind, m.member_id,
       g.name AS member_name,
       NULL AS missing_since, g.school_year AS group_school_year,
       CASE WHEN g.group_id IS NULL THEN 'unknown' ELSE 'closed_year_group' END AS reason
FROM bookmark_members m
JOIN bookmarks b ON b.bookmark_id = m.bookmark_id
LEFT JOIN groups g ON g.group_id = m.member_id
WHERE m.member_kind = 'group'
  AND (g.group_id IS NULL OR (g.kind = 'scolarite' AND g.school_year <= :year))
"""

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


def bookmark_cleanup_report(conn: Connection, closing_year: str) -> pl.DataFrame:
    """Per owner, each bookmark member that left (R13), with what to do about it.

    Groups that left are the scolarité groups of `closing_year` and of any earlier year
    (a bookmark kept for years may still name them), and group ids the directory lacks.
    """
    # Typed text columns, so that SQLite's dates come back as dates like PostgreSQL's.
    query = text(_LEFT_MEMBERS_SQL).columns(
        *(column(name, Date if dtype == pl.Date else String) for name, dtype in _SCHEMA.items())
    )
    rows = conn.execute(query, {"year": closing_year}).fetchall()
    left = pl.DataFrame([tuple(r) for r in rows], schema=_SCHEMA, orient="row")
    owners = read_frame(
        conn,
        "SELECT DISTINCT u.external_id AS owner_external_id, u.last_name AS owner_last_name, "
        "u.first_name AS owner_first_name FROM users u "
        "JOIN bookmarks b ON b.owner_external_id = u.external_id",
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
            pl.lit(SUPPORT_PEDAGOGY).alias("support"),
        )
        .select(COLUMNS)
        .sort(["owner_external_id", "bookmark_id", "member_kind", "member_id"])
    )
