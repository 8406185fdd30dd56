"""The storage report ("libérer de l'espace"): who uses how much space, where, and what
emptying the trashes would free, per user, per school and region-wide, with PNG charts.

The resources table is read once, already summed by owner, app and area in SQL; everything
else is polars. A user linked to several schools counts in each school's figures; the
region-wide figures count each user once. Owners of resources the directory does not know
are counted region-wide only (no school, no quota).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Connection, Select, select

from rentree.contracts.vocabulary import FAMILY_PROFILES, STAFF_PROFILES
from rentree.infra.db import read_frame
from rentree.infra.reports import write_report, write_text
from rentree.infra.schema import users as users_table
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore

# (column, app, area): the places domain.md names; `other_apps` is everything else.
AREAS: tuple[tuple[str, str, str], ...] = (
    ("messaging_inbox", "messaging", "inbox"),
    ("messaging_sent", "messaging", "sent"),
    ("messaging_trash", "messaging", "trash"),
    ("documents_own", "documents", "own"),
    ("documents_apps", "documents", "apps"),
    ("documents_trash", "documents", "trash"),
)
OTHER_APPS = "other_apps"
AREA_COLUMNS: tuple[str, ...] = (*(c for c, _, _ in AREAS), OTHER_APPS)
AREA_LABELS = {
    "messaging_inbox": "Messagerie : reçus / inbox",
    "messaging_sent": "Messagerie : envoyés / sent",
    "messaging_trash": "Messagerie : corbeille / trash",
    "documents_own": "Documents : mes dossiers / own",
    "documents_apps": "Documents ajoutés dans les applis / added in the apps",
    "documents_trash": "Documents : corbeille / trash",
    "other_apps": "Autres applis / other apps",
}
TRASH_COLUMNS = ("messaging_trash", "documents_trash")
# Users above this share of their quota are listed (operations.md).
QUOTA_ALERT_RATIO = 0.8
TOP_USERS_PER_SCHOOL = 50
CHART_SCHOOLS = 20

# Where a user above the alert threshold finds help (domain.md, support routing).
SUPPORT_LOCAL_ACCOUNTS = "administrateur ENT / ENT administrator"
SUPPORT_PEDAGOGY = (
    "conseiller pédagogique numérique de circonscription (ERUN) / "
    "district digital-education adviser (ERUN)"
)

REPORT_NAMES = {
    "users": "storage-users",
    "schools": "storage-schools",
    "region": "storage-region",
    "region_by_app": "storage-region-by-app",
    "schools_by_app": "storage-schools-by-app",
    "above_threshold": "storage-users-above-80pc",
    "top_users": "storage-top-users-per-school",
}
CHART_NAMES = {
    "region_by_area": "storage-region-by-area.png",
    "schools_by_area": "storage-schools-by-area.png",
    "quota_use": "storage-quota-use.png",
}

_USAGE_SQL = """
SELECT owner_external_id, app, area,
       CAST(SUM(size_bytes) AS BIGINT) AS bytes, COUNT(*) AS items
FROM resources
GROUP BY owner_external_id, app, area
"""
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


def _area_of(app: pl.Expr, area: pl.Expr) -> pl.Expr:
    places = {f"{app_name}/{area_name}": name for name, app_name, area_name in AREAS}
    return (
        pl.concat_str([app, area], separator="/")
        .replace_strict(places, default=OTHER_APPS, return_dtype=pl.String)
        .fill_null(OTHER_APPS)
    )


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
    wide = usage.group_by("owner_external_id").agg(
        *(pl.col("bytes").filter(pl.col("place") == c).sum().alias(c) for c in AREA_COLUMNS),
        pl.col("items").sum().alias("items"),
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


def _typed_frame(conn: Connection, query: Select[Any], schema: dict[str, Any]) -> pl.DataFrame:
    """A Core query's rows (typed by SQLAlchemy: SQLite's dates come back as dates)."""
    rows = conn.execute(query).fetchall()
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def storage_report(conn: Connection, settings: Settings, with_charts: bool = True) -> StorageReport:
    """Space per user, school and region by app and area, quota use, what emptying the
    trashes would free, users above 80% of their quota, and the top 50 users per school."""
    usage = read_frame(conn, _USAGE_SQL, schema_overrides=_USAGE_SCHEMA).with_columns(
        _area_of(pl.col("app"), pl.col("area")).alias("place")
    )
    people = _typed_frame(
        conn,
        select(
            users_table.c.external_id.label("user_external_id"),
            users_table.c.profile,
            users_table.c.last_name,
            users_table.c.first_name,
            users_table.c.quota_bytes,
            users_table.c.missing_since,
        ),
        {
            "user_external_id": pl.String,
            "profile": pl.String,
            "last_name": pl.String,
            "first_name": pl.String,
            "quota_bytes": pl.Int64,
            "missing_since": pl.Date,
        },
    )
    links = read_frame(
        conn,
        "SELECT user_external_id, structure_uai FROM user_structures",
        schema_overrides={"user_external_id": pl.String, "structure_uai": pl.String},
    )
    schools_named = read_frame(
        conn,
        "SELECT uai AS structure_uai, name AS school_name FROM structures",
        schema_overrides={"structure_uai": pl.String, "school_name": pl.String},
    )
    per_user = _per_user(usage, people, settings)
    user_schools = links.group_by("user_external_id").agg(
        pl.col("structure_uai").sort().alias("schools")
    )
    users = (
        per_user.join(user_schools, on="user_external_id", how="left")
        .select(
            "user_external_id",
            "profile",
            "last_name",
            "first_name",
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

    in_schools = users.join(links, on="user_external_id", how="inner")
    schools = (
        _sum_areas(in_schools, ["structure_uai"], pl.len())
        .join(schools_named, on="structure_uai", how="left")
        .select("structure_uai", "school_name", pl.exclude("structure_uai", "school_name"))
        .sort("structure_uai")
    )
    region = _sum_areas(users.with_columns(pl.lit("region").alias("scope")), ["scope"], pl.len())

    region_by_app = (
        usage.group_by("app", "area")
        .agg(
            pl.col("bytes").sum(),
            pl.col("items").sum(),
            pl.col("owner_external_id").n_unique().alias("users"),
        )
        .sort("app", "area")
    )
    schools_by_app = (
        usage.join(links, left_on="owner_external_id", right_on="user_external_id", how="inner")
        .group_by("structure_uai", "app", "area")
        .agg(
            pl.col("bytes").sum(),
            pl.col("items").sum(),
            pl.col("owner_external_id").n_unique().alias("users"),
        )
        .sort("structure_uai", "app", "area")
    )
    above = (
        users.filter(pl.col("above_threshold"))
        .with_columns(
            pl.when(pl.col("profile").is_in(["Student", "Guest"]))
            .then(pl.lit(SUPPORT_LOCAL_ACCOUNTS))
            .otherwise(pl.lit(SUPPORT_PEDAGOGY))
            .alias("support")
        )
        .select(
            "user_external_id",
            "profile",
            "last_name",
            "first_name",
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
            "user_external_id",
            "profile",
            "last_name",
            "first_name",
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
    return replace(report, charts=storage_charts(report))


# -- charts ------------------------------------------------------------------------------------


def _unit(largest: float) -> tuple[float, str]:
    for size, name in ((1024**4, "TiB"), (1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
        if largest >= size:
            return float(size), name
    return 1.0, "bytes"


def storage_charts(report: StorageReport, schools_shown: int = CHART_SCHOOLS) -> dict[str, bytes]:
    """Space by area region-wide (bar), per school for the largest schools (stacked bars),
    and the distribution of quota use (histogram), as PNG bytes."""
    # The Agg canvas is bound to each figure explicitly: no pyplot, no global backend switch,
    # no figure left registered anywhere once the bytes are out.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def png(figure: Figure) -> bytes:
        buffer = io.BytesIO()
        FigureCanvasAgg(figure).print_png(buffer)
        return buffer.getvalue()

    labels = [AREA_LABELS[c] for c in AREA_COLUMNS]
    region_row = report.region.row(0, named=True) if report.region.height else {}
    region_values = [float(region_row.get(c) or 0) for c in AREA_COLUMNS]
    scale, unit = _unit(max(region_values, default=0.0))

    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(labels, [v / scale for v in region_values], color="#3b6ea8")
    ax.invert_yaxis()
    ax.set_xlabel(f"Espace occupé / space used ({unit})")
    ax.set_title("Espace par zone, région / space by area, region-wide")
    charts = {"region_by_area": png(fig)}

    largest = report.schools.sort(["total_bytes", "structure_uai"], descending=[True, False]).head(
        schools_shown
    )
    scale, unit = _unit(float(largest.select(pl.col("total_bytes").max()).item() or 0))
    fig = Figure(figsize=(12, 6), layout="constrained")
    ax = fig.add_subplot()
    names = largest["structure_uai"].to_list()
    bottom = [0.0] * len(names)
    for column, label in zip(AREA_COLUMNS, labels, strict=True):
        values = [v / scale for v in largest[column].cast(pl.Float64).to_list()]
        ax.bar(names, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel(f"Espace occupé / space used ({unit})")
    ax.set_title(
        f"Espace par zone, les {len(names)} écoles les plus chargées / "
        f"space by area, the {len(names)} largest schools"
    )
    ax.tick_params(axis="x", labelrotation=60)
    ax.legend(fontsize="small")
    charts["schools_by_area"] = png(fig)

    # Binned here, so that drawing costs the same for ten users or a million.
    use = report.users["quota_use"].drop_nulls().clip(upper_bound=1.2).to_numpy() * 100
    counts, edges = np.histogram(use, bins=np.arange(0, 125, 5))
    fig = Figure(figsize=(10, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.stairs(counts, edges, fill=True, color="#6a9f58")
    ax.axvline(QUOTA_ALERT_RATIO * 100, color="#c0392b", linestyle="--", label="80 %")
    ax.set_xlabel("Part du quota utilisée / share of quota used (%, 120 = 120 % ou plus / or more)")
    ax.set_ylabel("Utilisateurs / users")
    ax.set_title("Utilisation des quotas / quota use")
    ax.legend()
    charts["quota_use"] = png(fig)
    return charts


def write_storage_report(store: ObjectStore, prefix: str, report: StorageReport) -> list[str]:
    """Each frame as CSV + Parquet, each chart as PNG, under `prefix`; returns the keys."""
    keys: list[str] = []
    for attribute, name in REPORT_NAMES.items():
        written = write_report(store, prefix, name, getattr(report, attribute))
        keys += [written.csv_key, written.parquet_key]
    for chart, png_bytes in report.charts.items():
        keys.append(write_text(store, prefix, CHART_NAMES[chart], png_bytes))
    return keys
