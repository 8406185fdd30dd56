"""The storage report ("libérer de l'espace"): who uses how much space, where, and what
emptying the trashes would free, per user, per school and region-wide, with PNG charts
(`storage_charts`).

The resources table is read once, already summed by owner, app and area in SQL; everything
else is polars. A user linked to several schools counts in each school's figures; the
region-wide figures count each user once. Owners of resources the directory does not know
are counted region-wide only (no school, no quota).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl
from sqlalchemy import BigInteger, Connection, cast, exists, func, select

from rentree.contracts.vocabulary import FAMILY_PROFILES, STAFF_PROFILES
from rentree.infra.arrow_reads import arrow_connection
from rentree.infra.frames import select_frame
from rentree.infra.reports import write_report, write_text
from rentree.infra.schema import resources, user_structures
from rentree.infra.schema import users as users_table
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore
from rentree.tasks.content.purge.notice import PEDAGOGY_SUPPORT, school_names
from rentree.tasks.content.storage_charts import CHART_NAMES, storage_charts
from rentree.tasks.content.storage_places import AREA_COLUMNS, TRASH_COLUMNS, area_of

TOP_USERS_PER_SCHOOL = 50
# who a row of the users' reports is about
_PERSON = ("user_external_id", "profile", "last_name", "first_name")

# Where a user above the alert threshold finds help (domain.md, support routing).
SUPPORT_LOCAL_ACCOUNTS = "administrateur ENT / ENT administrator"

REPORT_NAMES = {
    "users": "storage-users",
    "schools": "storage-schools",
    "region": "storage-region",
    "region_by_app": "storage-region-by-app",
    "schools_by_app": "storage-schools-by-app",
    "above_threshold": "storage-users-above-80pc",
    "top_users": "storage-top-users-per-school",
}
_USAGE_SCHEMA: dict[str, Any] = {
    "owner_external_id": pl.String,
    "app": pl.String,
    "area": pl.String,
    "bytes": pl.Int64,
    "items": pl.Int64,
}


@dataclass(frozen=True)
class StorageReport:
    """The storage figures as frames, and the charts as PNG bytes (name -> bytes)."""

    users: pl.DataFrame
    schools: pl.DataFrame
    region: pl.DataFrame
    region_by_app: pl.DataFrame
    schools_by_app: pl.DataFrame
    above_threshold: pl.DataFrame
    top_users: pl.DataFrame
    charts: dict[str, bytes] = field(default_factory=dict)

    def frames(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in REPORT_NAMES}

    def summary(self) -> dict[str, Any]:
        """Region-wide figures, JSON-able, for the run's summary and artifacts."""
        row = self.region.row(0, named=True) if self.region.height else {}
        return {
            "users": row.get("users", 0),
            "total_bytes": row.get("total_bytes", 0),
            "trash_bytes": row.get("trash_bytes", 0),
            "users_above_80pc": self.above_threshold.height,
            "schools": self.schools.height,
        }


def _sum_areas(frame: pl.DataFrame, by: list[str], users: pl.Expr) -> pl.DataFrame:
    """Area columns, total and trash summed per `by`, with a user count."""
    return frame.group_by(by).agg(
        users.alias("users"),
        *(pl.col(c).sum() for c in AREA_COLUMNS),
        pl.col("total_bytes").sum(),
        pl.col("trash_bytes").sum(),
        pl.col("above_threshold").sum().alias("users_above_80pc"),
    )


def _per_user(usage: pl.DataFrame, people: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    # each place's bytes as a column first, then plain sums per owner (a filter inside the
    # aggregation would run once per owner and place)
    wide = (
        usage.with_columns(
            pl.when(pl.col("place") == c).then(pl.col("bytes")).otherwise(0).alias(c)
            for c in AREA_COLUMNS
        )
        .group_by("owner_external_id")
        .agg(*(pl.col(c).sum() for c in AREA_COLUMNS), pl.col("items").sum())
    )
    default_quota = (
        pl.when(pl.col("profile").is_in(STAFF_PROFILES))
        .then(pl.lit(settings.quota_staff_bytes))
        .when(pl.col("profile").is_in(FAMILY_PROFILES))
        .then(pl.lit(settings.quota_family_bytes))
        .otherwise(pl.lit(None, pl.Int64))
    )
    total = pl.sum_horizontal(*AREA_COLUMNS)
    return (
        wide.rename({"owner_external_id": "user_external_id"})
        .join(people, on="user_external_id", how="left")
        .with_columns(
            total.alias("total_bytes"),
            pl.sum_horizontal(*TRASH_COLUMNS).alias("trash_bytes"),
            pl.coalesce(pl.col("quota_bytes"), default_quota).alias("quota_bytes"),
            pl.when(pl.col("quota_bytes").is_not_null())
            .then(pl.lit("user"))
            .when(default_quota.is_not_null())
            .then(pl.lit("default"))
            .otherwise(pl.lit(None, pl.String))
            .alias("quota_source"),
        )
        .with_columns(
            (pl.col("total_bytes") / pl.col("quota_bytes")).alias("quota_use"),
            # exact integer comparison: 5 * used > 4 * quota
            (pl.col("total_bytes") * 5 > pl.col("quota_bytes") * 4)
            .fill_null(False)
            .alias("above_threshold"),
        )
    )


def _by_app(usage: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Bytes, items and users per app and area (and per `by`), from `usage` as the GROUP BY
    gives it (joined with the school links for a school's figures)."""
    return (
        usage.group_by(*by, "app", "area")
        .agg(
            pl.col("bytes").sum(),
            pl.col("items").sum(),
            # usage holds one row per owner, app and area (and a school link is one per
            # owner and school): a group's rows are its users, no distinct count needed
            pl.len().alias("users"),
        )
        .sort(*by, "app", "area")
    )


def _owners(conn: Connection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Who owns resources, and their schools: only owners are read (the report is about
    them), in one query of a row per school link (a user with none has one row, no school),
    split here into the people and their links."""
    u, us, r = users_table.c, user_structures.c, resources.c
    rows = select_frame(
        conn,
        select(
            u.external_id.label("user_external_id"),
            u.profile,
            u.last_name,
            u.first_name,
            u.quota_bytes,
            u.missing_since,
            us.structure_uai,
        )
        .select_from(users_table.outerjoin(user_structures, us.user_external_id == u.external_id))
        .where(exists().where(r.owner_external_id == u.external_id)),
        {
            "user_external_id": pl.String,
            "profile": pl.String,
            "last_name": pl.String,
            "first_name": pl.String,
            "quota_bytes": pl.Int64,
            "missing_since": pl.Date,
            "structure_uai": pl.String,
        },
        committed=True,
    )
    people = rows.drop("structure_uai").unique("user_external_id", keep="any")
    links = rows.select("user_external_id", "structure_uai").drop_nulls("structure_uai")
    return people, links


def storage_report(conn: Connection, settings: Settings, with_charts: bool = True) -> StorageReport:
    """Space per user, school and region by app and area, quota use, what emptying the
    trashes would free, users above 80% of their quota, and the top 50 users per school."""
    r = resources.c
    # the report only reads: its two large reads may come as Arrow (infra.arrow_reads)
    with arrow_connection(conn):
        usage = select_frame(
            conn,
            select(
                r.owner_external_id,
                r.app,
                r.area,
                cast(func.sum(r.size_bytes), BigInteger).label("bytes"),
                func.count().label("items"),
            ).group_by(r.owner_external_id, r.app, r.area),
            _USAGE_SCHEMA,
            committed=True,
        ).with_columns(area_of(pl.col("app"), pl.col("area")).alias("place"))
        people, links = _owners(conn)
    schools_named = school_names(conn)
    per_user = _per_user(usage, people, settings)
    # a group keeps its rows' order: links sorted once give each user's schools sorted
    user_schools = (
        links.sort("structure_uai")
        .group_by("user_external_id")
        .agg(pl.col("structure_uai").alias("schools"))
    )
    users = (
        per_user.join(user_schools, on="user_external_id", how="left")
        .select(
            *_PERSON,
            "schools",
            "missing_since",
            *AREA_COLUMNS,
            "total_bytes",
            "trash_bytes",
            "items",
            "quota_bytes",
            "quota_source",
            "quota_use",
            "above_threshold",
        )
        .sort("user_external_id")
    )

    # a user's row once per school link, with only what the school figures and the top
    # users use (no list of schools carried through the join)
    in_schools = users.select(
        *_PERSON,
        *AREA_COLUMNS,
        "total_bytes",
        "trash_bytes",
        "quota_bytes",
        "quota_use",
        "above_threshold",
    ).join(links, on="user_external_id", how="inner")
    schools = (
        _sum_areas(in_schools, ["structure_uai"], pl.len())
        .join(schools_named, on="structure_uai", how="left")
        .select("structure_uai", "school_name", pl.exclude("structure_uai", "school_name"))
        .sort("structure_uai")
    )
    region = _sum_areas(users.with_columns(pl.lit("region").alias("scope")), ["scope"], pl.len())

    region_by_app = _by_app(usage, [])
    schools_by_app = _by_app(
        usage.join(links, left_on="owner_external_id", right_on="user_external_id", how="inner"),
        ["structure_uai"],
    )
    above = (
        users.filter(pl.col("above_threshold"))
        .with_columns(
            pl.when(pl.col("profile").is_in(["Student", "Guest"]))
            .then(pl.lit(SUPPORT_LOCAL_ACCOUNTS))
            .otherwise(pl.lit(PEDAGOGY_SUPPORT))
            .alias("support")
        )
        .select(
            *_PERSON,
            "schools",
            "total_bytes",
            "trash_bytes",
            "quota_bytes",
            "quota_use",
            "support",
        )
        .sort(["quota_use", "user_external_id"], descending=[True, False])
    )
    top = (
        in_schools.sort(
            ["structure_uai", "total_bytes", "user_external_id"], descending=[False, True, False]
        )
        .with_columns((pl.int_range(pl.len()).over("structure_uai") + 1).alias("rank"))
        .filter(pl.col("rank") <= TOP_USERS_PER_SCHOOL)
        .select(
            "structure_uai",
            "rank",
            *_PERSON,
            "total_bytes",
            "trash_bytes",
            "quota_bytes",
            "quota_use",
        )
    )
    report = StorageReport(
        users=users,
        schools=schools,
        region=region.drop("scope"),
        region_by_app=region_by_app,
        schools_by_app=schools_by_app,
        above_threshold=above,
        top_users=top,
    )
    if not with_charts:
        return report
    return replace(report, charts=storage_charts(report.region, report.schools, report.users))


def write_storage_report(store: ObjectStore, prefix: str, report: StorageReport) -> list[str]:
    """Each frame as CSV + Parquet, each chart as PNG, under `prefix`; returns the keys."""
    keys: list[str] = []
    for attribute, name in REPORT_NAMES.items():
        written = write_report(store, prefix, name, getattr(report, attribute))
        keys += [written.csv_key, written.parquet_key]
    for chart, png_bytes in report.charts.items():
        keys.append(write_text(store, prefix, CHART_NAMES[chart], png_bytes))
    return keys
