"""Bench of the share purge, its undo, the storage report and the bookmark report.

A synthetic content set is generated here with numpy and polars (the sizes of operations.md
at region scale: 4,800 schools, 25,000 classes with their scolarité groups for two years,
1.5 million users, 3 million resources, 2 million shares, a third of them to closing-year
scolarité groups), loaded with `insert_frame` into a fresh SQLite database, and into
PostgreSQL too when RENTREE_TEST_POSTGRES_URL is set (that database is emptied first).
The scale follows the bench folder's name (region, small, tiny).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl
from bench_figures import Figure, Timing, figure, timed
from bench_floors import databases
from sqlalchemy import Connection, Engine, and_, delete, func, select, text

from rentree.infra import schema
from rentree.infra.db import insert_frame, vacuum_after_bulk_write
from rentree.infra.settings import Settings
from rentree.infra.storage import LocalStore
from rentree.tasks.content.bookmarks import bookmark_cleanup_report
from rentree.tasks.content.purge.apply import apply_share_purge
from rentree.tasks.content.purge.plan import plan_share_purge
from rentree.tasks.content.purge.undo import undo_share_purge
from rentree.tasks.content.storage_report import storage_report, write_storage_report

CLOSING = "2023-2024"
NEW = "2024-2025"
SCALES = {"region": 1.0, "small": 0.05, "tiny": 0.005}
CHUNK = 250_000
SCHOOL_AUDIENCES = ("students", "relatives", "teachers", "staff")
# Recipient mix of the shares: closing-year groups, new-year groups, people, manual groups,
# bookmarks.
SHARE_MIX = (1 / 3, 0.15, 0.35, 0.09, 1 - 1 / 3 - 0.15 - 0.35 - 0.09)
NOW = datetime(2024, 10, 1, 9, 0, tzinfo=UTC)
# What each share kind of SHARE_MIX is sent to.
RECIPIENT_KINDS = {0: "group", 1: "group", 2: "user", 3: "group", 4: "bookmark"}
# The tables `generate` fills, in the order they are loaded.
CONTENT_TABLES = (
    "structures",
    "classes",
    "users",
    "user_structures",
    "groups",
    "group_members",
    "resources",
    "shares",
    "bookmarks",
    "bookmark_members",
)
T = TypeVar("T")


def _school_uai(index: pl.Expr) -> pl.Expr:
    return index.cast(pl.String).str.zfill(7) + pl.lit("A")


def generate(factor: float, seed: int = 20240901) -> dict[str, pl.DataFrame]:
    """A synthetic directory and content inventory, vectorised, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    n_schools = max(2, round(4_800 * factor))
    n_classes = max(4, round(25_000 * factor))
    n_staff = max(4, round(32_000 * factor))
    n_students = max(8, round(560_000 * factor))
    n_relatives = max(8, round(908_000 * factor))
    n_users = n_staff + n_students + n_relatives
    n_resources = max(20, round(3_000_000 * factor))
    n_shares = max(20, round(2_000_000 * factor))
    n_bookmarks = max(2, round(50_000 * factor))

    structures = pl.DataFrame({"i": np.arange(n_schools)}).select(
        pl.format("s{}", pl.col("i")).alias("external_id"),
        _school_uai(pl.col("i")).alias("uai"),
        pl.format("École {}", pl.col("i")).alias("name"),
        pl.lit("primaire").alias("type"),
    )
    klass = pl.DataFrame({"c": np.arange(n_classes)}).with_columns(
        _school_uai(pl.col("c") % n_schools).alias("uai")
    )
    classes = pl.concat(
        klass.select(
            pl.format("{}:{}:C{}", pl.lit(year), pl.col("uai"), pl.col("c")).alias("external_id"),
            pl.col("uai").alias("structure_uai"),
            pl.lit(year).alias("school_year"),
            pl.format("C{}", pl.col("c")).alias("code"),
            pl.format("Classe {}", pl.col("c")).alias("label"),
            pl.lit("CP").alias("levels"),
        )
        for year in (CLOSING, NEW)
    )
    class_groups = classes.join(
        pl.DataFrame({"audience": ["students", "relatives", "teachers"]}), how="cross"
    ).select(
        pl.format("{}:{}", pl.col("external_id"), pl.col("audience")).alias("group_id"),
        pl.lit("scolarite").alias("kind"),
        pl.col("school_year"),
        pl.col("structure_uai"),
        pl.col("external_id").alias("class_external_id"),
        pl.col("audience"),
        pl.format("{} {}", pl.col("label"), pl.col("audience")).alias("name"),
        pl.lit(None, pl.String).alias("owner_external_id"),
    )
    school_groups = (
        structures.join(pl.DataFrame({"school_year": [CLOSING, NEW]}), how="cross")
        .join(
            pl.DataFrame({"audience": ["students", "relatives", "teachers", "staff"]}), how="cross"
        )
        .select(
            pl.format("{}:{}:{}", pl.col("school_year"), pl.col("uai"), pl.col("audience")).alias(
                "group_id"
            ),
            pl.lit("scolarite").alias("kind"),
            pl.col("school_year"),
            pl.col("uai").alias("structure_uai"),
            pl.lit(None, pl.String).alias("class_external_id"),
            pl.col("audience"),
            pl.format("{} {}", pl.col("name"), pl.col("audience")).alias("name"),
            pl.lit(None, pl.String).alias("owner_external_id"),
        )
    )
    n_manual = max(2, n_staff // 2)
    manual_groups = pl.DataFrame({"i": np.arange(n_manual)}).select(
        pl.format("m{}", pl.col("i")).alias("group_id"),
        pl.lit("manual").alias("kind"),
        pl.lit(None, pl.String).alias("school_year"),
        pl.lit(None, pl.String).alias("structure_uai"),
        pl.lit(None, pl.String).alias("class_external_id"),
        pl.lit(None, pl.String).alias("audience"),
        pl.format("Groupe {}", pl.col("i")).alias("name"),
        pl.format("u{}", pl.col("i") % n_staff).alias("owner_external_id"),
    )
    groups = pl.concat([class_groups, school_groups, manual_groups])

    # Users 0..n_staff-1 are staff, then students, then relatives; each sits in one class.
    index = np.arange(n_users)
    profile = np.where(
        index < n_staff, "Teacher", np.where(index < n_staff + n_students, "Student", "Relative")
    )
    missing = (profile == "Student") & (rng.random(n_users) < 0.03)
    users = pl.DataFrame({"i": index, "profile": profile, "missing": missing}).select(
        pl.format("u{}", pl.col("i")).alias("external_id"),
        pl.col("profile"),
        pl.when(pl.col("profile") == "Student")
        .then(pl.lit("local"))
        .when(pl.col("profile") == "Relative")
        .then(pl.lit("educonnect"))
        .otherwise(pl.lit("academic_sso"))
        .alias("identity"),
        pl.lit("feed").alias("source"),
        pl.when(pl.col("profile") == "Student")
        .then(pl.format("eleve.{}", pl.col("i")))
        .otherwise(pl.lit(None, pl.String))
        .alias("login"),
        pl.format("P{}", pl.col("i")).alias("first_name"),
        pl.format("N{}", pl.col("i")).alias("last_name"),
        pl.lit("none").alias("activation_state"),
        pl.when(pl.col("missing"))
        .then(pl.lit(datetime(2024, 9, 20).date()))
        .otherwise(pl.lit(None, pl.Date))
        .alias("missing_since"),
        (pl.col("i") % n_classes).alias("class_index"),
    )
    placed = users.with_columns(
        _school_uai(pl.col("class_index") % n_schools).alias("structure_uai"),
        pl.format(
            "{}:{}:C{}",
            pl.lit(CLOSING),
            _school_uai(pl.col("class_index") % n_schools),
            pl.col("class_index"),
        ).alias("class_id"),
    )
    second_school = placed.filter(
        (pl.col("profile") == "Teacher") & (pl.col("class_index") % 10 == 0)
    ).select(
        pl.col("external_id").alias("user_external_id"),
        _school_uai((pl.col("class_index") + 1) % n_schools).alias("structure_uai"),
    )
    user_structures = (
        pl.concat(
            [
                placed.select(pl.col("external_id").alias("user_external_id"), "structure_uai"),
                second_school,
            ]
        )
        .unique(["user_external_id", "structure_uai"])
        .with_columns(pl.lit("feed").alias("source"), pl.lit(False).alias("director"))
    )
    audience = (
        pl.when(pl.col("profile") == "Teacher")
        .then(pl.lit("teachers"))
        .when(pl.col("profile") == "Student")
        .then(pl.lit("students"))
        .otherwise(pl.lit("relatives"))
    )
    group_members = pl.concat(
        [
            placed.select(
                pl.format("{}:{}", pl.col("class_id"), audience).alias("group_id"),
                pl.col("external_id").alias("user_external_id"),
            ),
            placed.filter(pl.col("profile") == "Teacher").select(
                pl.format("{}:{}:teachers", pl.lit(CLOSING), pl.col("structure_uai")).alias(
                    "group_id"
                ),
                pl.col("external_id").alias("user_external_id"),
            ),
        ]
    )

    # Resources: half owned by staff, half by families; app and area as a region uses them.
    places = [
        ("messaging", "inbox", 0.30),
        ("messaging", "sent", 0.15),
        ("messaging", "trash", 0.05),
        ("documents", "own", 0.25),
        ("documents", "apps", 0.10),
        ("documents", "trash", 0.05),
        ("blog", "own", 0.05),
        ("notebook", "own", 0.05),
    ]
    pick = rng.choice(len(places), size=n_resources, p=[p for _, _, p in places])
    staff_owned = rng.random(n_resources) < 0.5
    owner = np.where(
        staff_owned,
        rng.integers(0, n_staff, n_resources),
        rng.integers(n_staff, n_users, n_resources),
    )
    size = rng.lognormal(mean=11.5, sigma=1.6, size=n_resources) * np.where(staff_owned, 4, 1)
    resources = pl.DataFrame(
        {
            "i": np.arange(n_resources),
            "owner": owner,
            "app": np.array([a for a, _, _ in places])[pick],
            "area": np.array([b for _, b, _ in places])[pick],
            "size_bytes": size.astype(np.int64),
        }
    ).select(
        pl.format("r{}", pl.col("i")).alias("resource_id"),
        pl.format("u{}", pl.col("owner")).alias("owner_external_id"),
        "app",
        "area",
        "size_bytes",
        pl.lit(datetime(2024, 1, 15, tzinfo=UTC)).alias("created_at"),
    )

    # Shares: a third to closing-year scolarité groups, the rest to people, new-year groups,
    # manual groups and bookmarks.
    kinds = rng.choice(
        5, size=n_shares, p=[1 / 3, 0.15, 0.35, 0.09, 1 - 1 / 3 - 0.15 - 0.35 - 0.09]
    )
    share_class = rng.integers(0, n_classes, n_shares)
    share_audience = np.array(["students", "relatives"])[rng.integers(0, 2, n_shares)]
    shares = (
        pl.DataFrame(
            {
                "resource": rng.integers(0, n_resources, n_shares),
                "kind": kinds,
                "c": share_class,
                "audience": share_audience,
                "user": rng.integers(0, n_users, n_shares),
                "manual": rng.integers(0, n_manual, n_shares),
                "bookmark": rng.integers(0, n_bookmarks, n_shares),
                "rights": np.array(["read", "contrib", "manage"])[
                    rng.choice(3, size=n_shares, p=[0.7, 0.2, 0.1])
                ],
            }
        )
        .with_columns(_school_uai(pl.col("c") % n_schools).alias("uai"))
        .select(
            pl.format("r{}", pl.col("resource")).alias("resource_id"),
            pl.col("kind").replace_strict(RECIPIENT_KINDS).alias("recipient_kind"),
            pl.when(pl.col("kind") == 0)
            .then(pl.format("{}:{}:C{}:{}", pl.lit(CLOSING), "uai", "c", "audience"))
            .when(pl.col("kind") == 1)
            .then(pl.format("{}:{}:C{}:{}", pl.lit(NEW), "uai", "c", "audience"))
            .when(pl.col("kind") == 2)
            .then(pl.format("u{}", "user"))
            .when(pl.col("kind") == 3)
            .then(pl.format("m{}", "manual"))
            .otherwise(pl.format("b{}", "bookmark"))
            .alias("recipient_id"),
            "rights",
        )
        .unique(["resource_id", "recipient_kind", "recipient_id"], keep="first")
    )
    bookmarks = pl.DataFrame({"i": np.arange(n_bookmarks)}).select(
        pl.format("b{}", pl.col("i")).alias("bookmark_id"),
        pl.format("u{}", pl.col("i") % n_staff).alias("owner_external_id"),
        pl.format("Favori {}", pl.col("i")).alias("name"),
    )
    n_bm_members = n_bookmarks * 5
    member_is_group = rng.random(n_bm_members) < 0.3
    bookmark_members = (
        pl.DataFrame(
            {
                "b": rng.integers(0, n_bookmarks, n_bm_members),
                "group": member_is_group,
                "user": rng.integers(n_staff, n_staff + n_students, n_bm_members),
                "c": rng.integers(0, n_classes, n_bm_members),
                "year": np.array([CLOSING, NEW])[rng.integers(0, 2, n_bm_members)],
            }
        )
        .with_columns(_school_uai(pl.col("c") % n_schools).alias("uai"))
        .select(
            pl.format("b{}", "b").alias("bookmark_id"),
            pl.when(pl.col("group"))
            .then(pl.lit("group"))
            .otherwise(pl.lit("user"))
            .alias("member_kind"),
            pl.when(pl.col("group"))
            .then(pl.format("{}:{}:C{}:students", "year", "uai", "c"))
            .otherwise(pl.format("u{}", "user"))
            .alias("member_id"),
        )
        .unique()
    )
    frames = (structures, classes, users.drop("class_index"), user_structures, groups)
    frames += (group_members, resources, shares, bookmarks, bookmark_members)
    return dict(zip(CONTENT_TABLES, frames, strict=True))


def _chunks(frame: pl.DataFrame) -> Iterator[pl.DataFrame]:
    for offset in range(0, frame.height, CHUNK):
        yield frame.slice(offset, CHUNK)


def load(conn: Connection, content: dict[str, pl.DataFrame]) -> int:
    rows = 0
    for name, frame in content.items():
        for part in _chunks(frame):
            rows += insert_frame(conn, schema.metadata.tables[name], part)
    # A directory in service has planner statistics; measure against that, not a cold load.
    conn.execute(text("ANALYZE"))
    return rows


def _reading(engine: Engine, step: Callable[..., T], *args: Any) -> tuple[T, Timing]:
    """`step(conn, *args)` on a connection that only reads, timed."""
    with engine.connect() as conn, timed() as took:
        return step(conn, *args), took


def _writing(engine: Engine, step: Callable[..., T], *args: Any) -> tuple[T, Timing]:
    """`step(conn, *args)` in a transaction that commits, timed (the commit included)."""
    with timed() as took, engine.begin() as conn:
        result = step(conn, *args)
    return result, took


def _closing_year_group_shares() -> Any:
    """The shares to the closing year's scolarité groups: what the purge removes (R5)."""
    closing_groups = select(schema.groups.c.group_id).where(
        schema.groups.c.kind == "scolarite", schema.groups.c.school_year == CLOSING
    )
    return and_(
        schema.shares.c.recipient_kind == "group",
        schema.shares.c.recipient_id.in_(closing_groups),
    )


def purge_floor(engine: Engine) -> tuple[Timing, int]:
    """Reading the shares the purge removes and deleting them, one SELECT and one DELETE in
    one transaction (rolled back): the floor of plan + apply."""
    shares = schema.shares
    with engine.connect() as conn, conn.begin() as transaction:
        with timed() as took:
            read = conn.execute(select(shares).where(_closing_year_group_shares())).all()
            conn.execute(delete(shares).where(_closing_year_group_shares()))
        transaction.rollback()
    return took, len(read)


def storage_floor(engine: Engine) -> Timing:
    """The resources' bytes summed per owner, app and area in one query: the report's floor."""
    resources = schema.resources
    keys = (resources.c.owner_external_id, resources.c.app, resources.c.area)
    with engine.connect() as conn, timed() as took:
        conn.execute(select(*keys, func.sum(resources.c.size_bytes)).group_by(*keys)).all()
    return took


def measure(
    engine: Engine, label: str, content: dict[str, pl.DataFrame], workdir: Path
) -> list[Figure]:
    key = f"purge.{label.lower()}"
    rows, loaded = _writing(engine, lambda conn: load(conn, content))
    # as `rentree content import` leaves the tables it wrote in bulk, after its commit
    with timed() as settled:
        vacuum_after_bulk_write(engine, list(content))
    loaded = loaded + settled
    figures = [figure(f"{key}.content_loaded", f"{label}: content loaded ({rows:,} rows)", loaded)]
    floor, floor_rows = purge_floor(engine)
    the_plan, planned = _reading(engine, plan_share_purge, CLOSING)
    counts, applied = _writing(engine, apply_share_purge, the_plan, "bench-purge", NOW)
    figures += [
        figure(
            f"{key}.share_purge",
            f"{label}: share purge plan + notice + apply (journal + delete): "
            f"{counts['shares_removed']:,} of {content['shares'].height:,} shares removed",
            planned + applied,
            floor,
            f"reading and deleting the same {floor_rows:,} rows, one SELECT + one DELETE",
        ),
        figure(f"{key}.share_purge_plan", f"{label}: purge plan + pre-purge notice", planned),
        figure(f"{key}.share_purge_apply", f"{label}: purge apply", applied),
    ]
    restored, undone = _writing(engine, undo_share_purge, "bench-purge", NOW)
    figures.append(
        figure(f"{key}.purge_undo", f"{label}: purge undo ({restored:,} shares restored)", undone)
    )
    report_floor = storage_floor(engine)
    the_report, reported = _reading(engine, storage_report, Settings())
    figures.append(
        figure(
            f"{key}.storage_report",
            f"{label}: storage report + 3 charts ({content['resources'].height:,} resources, "
            f"{the_report.users.height:,} users, {the_report.schools.height:,} schools)",
            reported,
            report_floor,
            "one GROUP BY of the resources' bytes per owner, app and area",
        )
    )
    _, figures_only = _reading(engine, storage_report, Settings(), False)
    figures.append(
        figure(
            f"{key}.storage_report_figures",
            f"{label}: the same report's figures without the charts (its SQL and polars work)",
            figures_only,
            report_floor,
            "one GROUP BY of the resources' bytes per owner, app and area",
        )
    )
    store = LocalStore(workdir / f"bench_purge_store_{label.lower()}")
    with timed() as written:
        keys = write_storage_report(store, "reports/bench/", the_report)
    figures.append(
        figure(
            f"{key}.report_written", f"{label}: storage report written ({len(keys)} files)", written
        )
    )
    left, cleaned = _reading(engine, bookmark_cleanup_report, CLOSING)
    figures.append(
        figure(
            f"{key}.bookmark_cleanup",
            f"{label}: bookmark clean-up report ({left.height:,} members that left of "
            f"{content['bookmark_members'].height:,})",
            cleaned,
        )
    )
    return figures


def scale_factor(workdir: Path) -> float:
    """The share of a region the bench folder's scale stands for."""
    return SCALES.get(workdir.name, SCALES.get(os.environ.get("BENCH_SCALE", ""), 1.0))


def run(workdir: Path) -> list[Figure]:
    # A machine in service has built matplotlib's font cache once; on a new one the first
    # chart would carry that build (seconds), the first database's storage report with it
    import matplotlib.font_manager  # noqa: F401

    with timed() as took:
        content = generate(scale_factor(workdir))
    total = sum(frame.height for frame in content.values())
    figures = [figure("purge.generated", f"synthetic content generated ({total:,} rows)", took)]
    for label, engine in databases(workdir, "bench_purge"):
        figures += measure(engine, label, content, workdir)
    return figures
