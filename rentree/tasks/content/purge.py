"""The share purge ("purge des partages", R5), its pre-purge notice (R6) and its undo.

Shares made to a scolarité group of the closing year stop granting access at rollover; shares
to people, to share bookmarks and to manual groups stay. Resources are never touched (R4):
every statement here reads or writes `shares`, `purge_journal` and `change_log` only.

Everything is set-based: the plan is one query (plus the school names), the apply and the
undo are a handful of `INSERT ... SELECT` / `DELETE ... WHERE (...) IN (SELECT ...)`
statements whatever the number of shares, run inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    String,
    and_,
    column,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    table,
    tuple_,
    update,
)
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ColumnElement

from rentree.infra.db import is_postgresql, read_frame, staging_table
from rentree.infra.reports import write_report
from rentree.infra.schema import (
    change_log,
    group_members,
    purge_journal,
    resources,
    shares,
)
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore

# Who helps a teacher with the pedagogical use of the ENT (domain.md, support routing).
PEDAGOGY_SUPPORT = (
    "conseiller pédagogique numérique de circonscription (ERUN) / "
    "district digital-education adviser (ERUN)"
)

NOTICE_REPORT = "pre-purge-notice"
NOTICE_OWNERS_REPORT = "pre-purge-notice-owners"
NOTICE_SCHOOLS_REPORT = "pre-purge-notice-schools"
PREVIEW_SCHOOLS_REPORT = "share-purge-per-school"
PREVIEW_APPS_REPORT = "share-purge-per-app"

_KEY = ("resource_id", "recipient_kind", "recipient_id")

# One row per share to purge and school of the resource's owner (the notice's rows; the plan
# keeps one per share). The closing year's groups drive the joins: SQLite keeps a CROSS JOIN's
# order, so it walks the closing-year groups and their shares instead of every group share of
# the region; PostgreSQL plans the CROSS JOIN + WHERE as an ordinary inner join.
_PURGEABLE_SQL = """
SELECT s.resource_id, s.recipient_kind, s.recipient_id, s.rights,
       r.owner_external_id, r.app,
       u.last_name AS owner_last_name, u.first_name AS owner_first_name,
       g.name AS group_name, g.structure_uai AS group_structure_uai,
       COALESCE(m.members, 0) AS group_members,
       us.structure_uai AS owner_structure_uai
FROM groups g
CROSS JOIN shares s
LEFT JOIN resources r ON r.resource_id = s.resource_id
LEFT JOIN users u ON u.external_id = r.owner_external_id
LEFT JOIN user_structures us ON us.user_external_id = r.owner_external_id
LEFT JOIN (
    SELECT gm.group_id, COUNT(*) AS members
    FROM group_members gm
    JOIN groups g2 ON g2.group_id = gm.group_id
    WHERE g2.kind = 'scolarite' AND g2.school_year = :year
    GROUP BY gm.group_id
) m ON m.group_id = s.recipient_id
WHERE g.kind = 'scolarite' AND g.school_year = :year
  AND s.recipient_kind = 'group' AND s.recipient_id = g.group_id
"""

_PURGEABLE_SCHEMA: dict[str, Any] = {
    "resource_id": pl.String,
    "recipient_kind": pl.String,
    "recipient_id": pl.String,
    "rights": pl.String,
    "owner_external_id": pl.String,
    "app": pl.String,
    "owner_last_name": pl.String,
    "owner_first_name": pl.String,
    "group_name": pl.String,
    "group_structure_uai": pl.String,
    "group_members": pl.Int64,
    "owner_structure_uai": pl.String,
}

NOTICE_COLUMNS = (
    "structure_uai",
    "school_name",
    "school_source",
    "owner_external_id",
    "owner_last_name",
    "owner_first_name",
    "resource_id",
    "app",
    "group_id",
    "group_name",
    "group_members",
    "rights",
    "message_fr",
    "message_en",
    "support",
)


class PurgeRunError(ValueError):
    """A purge run id that cannot be applied or undone; the message is one sentence."""


@dataclass(frozen=True)
class PurgePlan:
    """What the share purge of a closing year would remove, computed without writing.

    `shares` holds one row per share to remove (the share's key and rights, the resource's
    owner and app, the recipient group's school); `per_school` counts them per school of the
    recipient group (each share once), `per_app` per application; `notice` is the pre-purge
    notice (R6) of exactly those shares.
    """

    closing_year: str
    shares: pl.DataFrame
    per_school: pl.DataFrame
    per_app: pl.DataFrame
    notice: pl.DataFrame

    @property
    def total(self) -> int:
        return self.shares.height

    def summary(self) -> dict[str, Any]:
        """JSON-able figures for holds, artifacts and the run's summary."""
        return {
            "closing_year": self.closing_year,
            "shares": self.total,
            "owners": self.shares["owner_external_id"].drop_nulls().n_unique(),
            "resources": self.shares["resource_id"].n_unique(),
            "groups": self.shares["recipient_id"].n_unique(),
            "schools": self.per_school.height,
            "per_app": dict(zip(self.per_app["app"], self.per_app["shares"], strict=True)),
        }


def _purgeable_shares(conn: Connection, closing_year: str) -> pl.DataFrame:
    """Each share to purge, once per school its owner is linked to."""
    return read_frame(
        conn, _PURGEABLE_SQL, {"year": closing_year}, schema_overrides=_PURGEABLE_SCHEMA
    )


def _school_names(conn: Connection) -> pl.DataFrame:
    return read_frame(
        conn,
        "SELECT uai AS structure_uai, name AS school_name FROM structures",
        schema_overrides={"structure_uai": pl.String, "school_name": pl.String},
    )


def _notice(closing_year: str, purgeable: pl.DataFrame, school_names: pl.DataFrame) -> pl.DataFrame:
    """One row per share and school of its owner (R6), with the two ways to keep the share.

    An owner linked to several schools sees the share under each of them, so that each
    school's director can relay the notice; an owner with no school link (or a share whose
    resource is unknown) is listed under the recipient group's school (`school_source`).
    """
    rows = purgeable.with_columns(
        pl.coalesce("owner_structure_uai", "group_structure_uai").alias("structure_uai"),
        pl.when(pl.col("owner_structure_uai").is_null())
        .then(pl.lit("group"))
        .otherwise(pl.lit("owner"))
        .alias("school_source"),
    )
    owner = pl.coalesce(
        pl.concat_str(
            [pl.col("owner_first_name"), pl.col("owner_last_name")], separator=" "
        ).str.strip_chars(),
        pl.col("owner_external_id"),
        pl.lit("?"),
    )
    return (
        rows.join(school_names, on="structure_uai", how="left")
        .rename({"recipient_id": "group_id"})
        .with_columns(
            pl.format(
                "{} : votre partage de « {} » ({}) au groupe « {} » ({} membres) sera retiré "
                "par la purge des partages de l'année {}. Pour le garder, partagez-le à chaque "
                "personne par son nom (« maintenir un partage »), ou partagez-le à "
                "l'enseignant de l'année prochaine en lui confiant les droits de gestion.",
                owner,
                pl.col("resource_id"),
                pl.col("app").fill_null("?"),
                pl.col("group_name"),
                pl.col("group_members"),
                pl.lit(closing_year),
            ).alias("message_fr"),
            pl.format(
                "{}: your share of '{}' ({}) with the group '{}' ({} members) will be removed "
                "by the share purge of the {} school year. To keep it, share it with each "
                'person by name ("maintenir un partage"), or share it with next year\'s '
                "teacher with management rights.",
                owner,
                pl.col("resource_id"),
                pl.col("app").fill_null("?"),
                pl.col("group_name"),
                pl.col("group_members"),
                pl.lit(closing_year),
            ).alias("message_en"),
            pl.lit(PEDAGOGY_SUPPORT).alias("support"),
        )
        .select(NOTICE_COLUMNS)
        .sort(["structure_uai", "owner_external_id", "resource_id", "group_id"], nulls_last=True)
    )


def pre_purge_notice(conn: Connection, closing_year: str) -> pl.DataFrame:
    """The pre-purge notice (R6): per school and owner, each share the purge will remove."""
    return _notice(closing_year, _purgeable_shares(conn, closing_year), _school_names(conn))


def _notice_owners(notice: pl.DataFrame) -> pl.DataFrame:
    return (
        notice.group_by(
            "structure_uai",
            "school_name",
            "owner_external_id",
            "owner_last_name",
            "owner_first_name",
        )
        .agg(
            pl.len().alias("shares"),
            pl.col("resource_id").n_unique().alias("resources"),
            pl.col("group_id").n_unique().alias("groups"),
        )
        .sort(["structure_uai", "owner_external_id"], nulls_last=True)
    )


def _notice_schools(notice: pl.DataFrame) -> pl.DataFrame:
    return (
        notice.group_by("structure_uai", "school_name")
        .agg(
            pl.col("owner_external_id").n_unique().alias("owners"),
            pl.len().alias("shares"),
            pl.col("resource_id").n_unique().alias("resources"),
        )
        .sort("structure_uai", nulls_last=True)
    )


def write_notice(store: ObjectStore, prefix: str, notice: pl.DataFrame) -> list[str]:
    """Write the notice, its per-owner and its per-school summaries; returns the keys."""
    keys: list[str] = []
    for name, frame in (
        (NOTICE_REPORT, notice),
        (NOTICE_OWNERS_REPORT, _notice_owners(notice)),
        (NOTICE_SCHOOLS_REPORT, _notice_schools(notice)),
    ):
        written = write_report(store, prefix, name, frame)
        keys += [written.csv_key, written.parquet_key]
    return keys


def write_pre_purge_notice(
    conn: Connection, store: ObjectStore, prefix: str, closing_year: str
) -> list[str]:
    """Compute and write the pre-purge notice (R6, at `freeze`); returns the written keys."""
    return write_notice(store, prefix, pre_purge_notice(conn, closing_year))


def plan_share_purge(conn: Connection, closing_year: str) -> PurgePlan:
    """What the purge of `closing_year` would remove (R5); reads only."""
    purgeable = _purgeable_shares(conn, closing_year)
    per_share = purgeable.unique(list(_KEY), keep="first").sort(list(_KEY))
    per_school = (
        per_share.group_by(pl.col("group_structure_uai").alias("structure_uai"))
        .agg(
            pl.len().alias("shares"),
            pl.col("owner_external_id").drop_nulls().n_unique().alias("owners"),
            pl.col("resource_id").n_unique().alias("resources"),
            pl.col("recipient_id").n_unique().alias("groups"),
        )
        .sort("structure_uai", nulls_last=True)
    )
    per_app = (
        per_share.group_by(pl.col("app").fill_null("unknown"))
        .agg(pl.len().alias("shares"))
        .sort("app")
    )
    return PurgePlan(
        closing_year=closing_year,
        shares=per_share.select(*_KEY, "rights", "owner_external_id", "app", "group_structure_uai"),
        per_school=per_school,
        per_app=per_app,
        notice=_notice(closing_year, purgeable, _school_names(conn)),
    )


def write_purge_preview(store: ObjectStore, prefix: str, plan: PurgePlan) -> list[str]:
    """The preview: the notice of exactly the planned shares, with counts per school and app."""
    keys = write_notice(store, prefix, plan.notice)
    for name, frame in (
        (PREVIEW_SCHOOLS_REPORT, plan.per_school),
        (PREVIEW_APPS_REPORT, plan.per_app),
    ):
        written = write_report(store, prefix, name, frame)
        keys += [written.csv_key, written.parquet_key]
    return keys


def purge_needs_hold(plan: PurgePlan, settings: Settings) -> str | None:
    """The reason to hold the purge for approval (operations.md), or None to go ahead."""
    limit = settings.hold_purge_max_shares
    if plan.total <= limit:
        return None
    return (
        f"The share purge of {plan.closing_year} would remove {plan.total:,} shares, more than "
        f"the threshold of {limit:,} (RENTREE_HOLD_PURGE_MAX_SHARES); approve or reject it "
        "in the Prefect UI."
    )


# -- apply and undo ----------------------------------------------------------------------------


def _json_pairs(conn: Connection, *pairs: tuple[str, ColumnElement[Any]]) -> ColumnElement[Any]:
    """A JSON object built by the database itself, so change_log rows are one INSERT ... SELECT."""
    builder = func.json_build_object if is_postgresql(conn) else func.json_object
    args: list[Any] = []
    for name, value in pairs:
        args += [literal(name, String), value]
    return builder(*args)


def _log_shares(
    conn: Connection,
    run_id: str,
    now: datetime,
    operation: str,
    where: ColumnElement[bool],
    *,
    before: bool,
) -> None:
    """One change_log row per journal row matching `where`, written in one statement."""
    j = purge_journal.c
    state = _json_pairs(conn, ("rights", j.rights))
    entity_id = j.resource_id + literal("|") + j.recipient_kind + literal("|") + j.recipient_id
    conn.execute(
        insert(change_log).from_select(
            ["run_id", "at", "entity", "entity_id", "operation", "before", "after"],
            select(
                literal(run_id, String),
                literal(now, DateTime(timezone=True)),
                literal("share", String),
                entity_id,
                literal(operation, String),
                state if before else null(),
                null() if before else state,
            ).where(where),
        )
    )


def _rows_written(conn: Connection, statement: Executable) -> int:
    """Run an INSERT ... SELECT and say how many rows it wrote (psycopg needs asking for it)."""
    result = conn.execute(statement.execution_options(preserve_rowcount=True))
    return int(result.rowcount)


def _journal_has(conn: Connection, run_id: str) -> bool:
    found = conn.execute(
        select(func.count()).select_from(purge_journal).where(purge_journal.c.run_id == run_id)
    ).scalar_one()
    return bool(found)


def apply_share_purge(
    conn: Connection,
    plan: PurgePlan,
    run_id: str,
    now: datetime,
    keep_for_members: bool = False,
) -> dict[str, int]:
    """Remove the planned shares that still exist, journalled under `run_id` (R5).

    Runs inside the caller's transaction. With `keep_for_members`, each removed group share
    becomes a read-only share to each member the group has now, unless that member already
    has a share of the resource (the existing one, at least as strong, is kept) or owns it;
    those derived shares are journalled too, so that an undo removes them.
    """
    if _journal_has(conn, run_id):
        raise PurgeRunError(
            f"Run {run_id} already purged shares; start a new run to purge again, "
            f"or undo run {run_id} first."
        )
    counts = {"shares_planned": plan.total, "shares_removed": 0, "member_shares_created": 0}
    if plan.total == 0:
        return counts
    tmp_name = staging_table(conn, "share_purge", plan.shares.select(_KEY), list(_KEY))
    tmp = table(tmp_name, *(column(k, String) for k in _KEY))
    s, j = shares.c, purge_journal.c
    removed = _rows_written(
        conn,
        insert(purge_journal).from_select(
            [*_KEY, "rights", "run_id", "school_year", "purged_at", "derived"],
            select(
                s.resource_id,
                s.recipient_kind,
                s.recipient_id,
                s.rights,
                literal(run_id, String),
                literal(plan.closing_year, String),
                literal(now, DateTime(timezone=True)),
                literal(False, Boolean),
            ).select_from(shares.join(tmp, and_(*(tmp.c[k] == s[k] for k in _KEY)))),
        ),
    )
    purged = and_(j.run_id == run_id, j.derived.is_(False))
    _log_shares(conn, run_id, now, "purge", purged, before=True)
    conn.execute(
        delete(shares).where(
            tuple_(s.resource_id, s.recipient_kind, s.recipient_id).in_(
                select(j.resource_id, j.recipient_kind, j.recipient_id).where(purged)
            )
        )
    )
    counts["shares_removed"] = removed
    if keep_for_members:
        counts["member_shares_created"] = _share_with_members(conn, plan, run_id, now)
    return counts


def _share_with_members(conn: Connection, plan: PurgePlan, run_id: str, now: datetime) -> int:
    j, gm, r, s = purge_journal.c, group_members.c, resources.c, shares.c
    already_shared = exists().where(
        s.resource_id == j.resource_id,
        s.recipient_kind == "user",
        s.recipient_id == gm.user_external_id,
    )
    members = (
        select(
            j.resource_id,
            literal("user", String),
            gm.user_external_id,
            literal("read", String),
            literal(run_id, String),
            literal(plan.closing_year, String),
            literal(now, DateTime(timezone=True)),
            literal(True, Boolean),
        )
        .distinct()
        .select_from(
            purge_journal.join(group_members, gm.group_id == j.recipient_id).join(
                resources, r.resource_id == j.resource_id
            )
        )
        .where(
            j.run_id == run_id,
            j.derived.is_(False),
            gm.user_external_id != r.owner_external_id,
            ~already_shared,
        )
    )
    created = _rows_written(
        conn,
        insert(purge_journal).from_select(
            [*_KEY, "rights", "run_id", "school_year", "purged_at", "derived"],
            members,
        ),
    )
    derived = and_(j.run_id == run_id, j.derived.is_(True))
    conn.execute(
        insert(shares).from_select(
            [*_KEY, "rights"],
            select(j.resource_id, j.recipient_kind, j.recipient_id, j.rights).where(derived),
        )
    )
    _log_shares(conn, run_id, now, "member_share", derived, before=False)
    return created


def undo_share_purge(conn: Connection, run_id: str, now: datetime) -> int:
    """Put back exactly the shares run `run_id` removed and remove those it derived.

    Returns how many shares were restored; undoing a run already undone, or a run that
    removed nothing (or an unknown run id: the journal is the only record), restores nothing.
    """
    j, s = purge_journal.c, shares.c
    pending = and_(j.run_id == run_id, j.undone_at.is_(None))
    derived = and_(pending, j.derived.is_(True))
    purged = and_(pending, j.derived.is_(False))
    _log_shares(conn, run_id, now, "member_unshare", derived, before=True)
    conn.execute(
        delete(shares).where(
            tuple_(s.resource_id, s.recipient_kind, s.recipient_id).in_(
                select(j.resource_id, j.recipient_kind, j.recipient_id).where(derived)
            )
        )
    )
    # A share re-made meanwhile with the same key is the owner's newer choice: keep it.
    same_key = exists().where(
        s.resource_id == j.resource_id,
        s.recipient_kind == j.recipient_kind,
        s.recipient_id == j.recipient_id,
    )
    restored = _rows_written(
        conn,
        insert(shares).from_select(
            [*_KEY, "rights"],
            select(j.resource_id, j.recipient_kind, j.recipient_id, j.rights).where(
                purged, ~same_key
            ),
        ),
    )
    _log_shares(conn, run_id, now, "restore", purged, before=False)
    conn.execute(
        update(purge_journal).where(pending).values(undone_at=literal(now, DateTime(timezone=True)))
    )
    return restored
