"""The share purge's plan (R5): the shares to scolarite groups of the closing year (reads only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Connection, and_, func, select

from rentree.infra.db import cross_join
from rentree.infra.frames import select_frame
from rentree.infra.schema import group_members, groups, resources, shares, user_structures, users
from rentree.infra.settings import Settings
from rentree.infra.staging import staging_table
from rentree.tasks.content.purge.notice import notice_rows, school_names

SHARE_KEY = ("resource_id", "recipient_kind", "recipient_id")


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


_SHARE_SCHEMA = {
    k: _PURGEABLE_SCHEMA[k]
    for k in ("resource_id", "recipient_id", "rights", "owner_external_id", "app")
}


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
    """Each share to purge, once per school its owner is linked to (the notice's rows; the
    plan keeps one per share)."""
    g, s, r = groups.c, shares.c, resources.c
    closing = and_(g.kind == "scolarite", g.school_year == closing_year)
    # The closing year's groups drive the join: SQLite keeps a CROSS JOIN's order, so it
    # walks the closing-year groups and their shares instead of every group share of the
    # region
    purged = select_frame(
        conn,
        select(s.resource_id, s.recipient_id, s.rights, r.owner_external_id, r.app)
        .select_from(
            cross_join(groups, shares).outerjoin(resources, r.resource_id == s.resource_id)
        )
        .where(closing, s.recipient_kind == "group", s.recipient_id == g.group_id),
        _SHARE_SCHEMA,
    )
    # The groups, their members and the owners each in a query of their own, joined here: a
    # name or a school is read once per group or owner (a region's owners are half as many
    # as the shares), not looked up again for every share.
    return (
        purged.with_columns(pl.lit("group").alias("recipient_kind"))
        .join(_closing_groups(conn, closing), on="recipient_id", how="left")
        .join(_owners(conn, purged), on="owner_external_id", how="left")
        .with_columns(pl.col("group_members").fill_null(0))
        .select(list(_PURGEABLE_SCHEMA))
    )


def _closing_groups(conn: Connection, closing: ColumnElement[bool]) -> pl.DataFrame:
    """recipient_id, group_name, group_structure_uai, group_members of the closing year's
    groups (members counted from group_members' primary key)."""
    g, gm = groups.c, group_members.c
    members = select_frame(
        conn,
        select(gm.group_id.label("recipient_id"), func.count().label("group_members"))
        .where(gm.group_id.in_(select(g.group_id).where(closing)))
        .group_by(gm.group_id),
        {"recipient_id": pl.String, "group_members": pl.Int64},
    )
    named = select_frame(
        conn,
        select(
            g.group_id.label("recipient_id"),
            g.name.label("group_name"),
            g.structure_uai.label("group_structure_uai"),
        ).where(closing),
        {"recipient_id": pl.String, "group_name": pl.String, "group_structure_uai": pl.String},
    )
    return named.join(members, on="recipient_id", how="left")


def _owners(conn: Connection, purged: pl.DataFrame) -> pl.DataFrame:
    """owner_external_id, names and owner_structure_uai (a row per school link) of the
    owners of the purged shares' resources, through a staged list of them."""
    u, us = users.c, user_structures.c
    owners = purged.select(pl.col("owner_external_id").drop_nulls().unique())
    staged = staging_table(conn, "purge_owners", owners, ["owner_external_id"])
    return select_frame(
        conn,
        select(
            staged.c.owner_external_id,
            u.last_name.label("owner_last_name"),
            u.first_name.label("owner_first_name"),
            us.structure_uai.label("owner_structure_uai"),
        ).select_from(
            staged.outerjoin(users, u.external_id == staged.c.owner_external_id).outerjoin(
                user_structures, us.user_external_id == staged.c.owner_external_id
            )
        ),
        {
            "owner_external_id": pl.String,
            "owner_last_name": pl.String,
            "owner_first_name": pl.String,
            "owner_structure_uai": pl.String,
        },
    )


def plan_share_purge(conn: Connection, closing_year: str) -> PurgePlan:
    """What the purge of `closing_year` would remove (R5); reads only."""
    purgeable = _purgeable_shares(conn, closing_year)
    per_share = purgeable.unique(list(SHARE_KEY), keep="first").sort(list(SHARE_KEY))
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
        shares=per_share.select(
            *SHARE_KEY, "rights", "owner_external_id", "app", "group_structure_uai"
        ),
        per_school=per_school,
        per_app=per_app,
        notice=notice_rows(closing_year, purgeable, school_names(conn)),
    )


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


def pre_purge_notice(conn: Connection, closing_year: str) -> pl.DataFrame:
    """The pre-purge notice (R6): per school and owner, each share the purge will remove."""
    return notice_rows(closing_year, _purgeable_shares(conn, closing_year), school_names(conn))
