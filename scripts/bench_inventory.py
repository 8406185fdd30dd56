"""Bench of the content import and the directory export (`make bench` loads this module).

With the generator's region inventory in `workdir/region/content`, the people, schools and
scolarité groups it names are first put into a fresh SQLite directory straight from the ids
the inventory uses (the feeds are not imported here), then the inventory is imported and
the whole directory exported. Without it, a synthetic inventory of the same order (1M
people, 1M productions, 2M shares at region scale; a tenth for other scales) is generated
and measured the same way.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from rentree.contracts.content import INVENTORY_TABLES
from rentree.infra import schema
from rentree.infra.db import insert_frame
from rentree.infra.engine import make_engine
from rentree.infra.migrate import upgrade
from rentree.infra.storage import LocalStore
from rentree.tasks.content.export import write_export
from rentree.tasks.content.inventory.apply import import_content
from rentree.tasks.content.inventory.read import read_inventory

REGION_PEOPLE = 1_000_000
REGION_RESOURCES = 1_000_000
REGION_SHARES = 2_000_000
SCHOOLS = 4_800


def synthetic_inventory(folder: Path, people: int, resources: int, shares: int) -> pl.Series:
    """Write an inventory of productions and shares; returns the feed people it relies on."""
    folder.mkdir(parents=True, exist_ok=True)
    person_ids = "P" + pl.int_range(0, people, eager=True).cast(pl.String)
    rid = pl.int_range(0, resources, eager=True)
    apps = pl.Series(["documents", "messaging", "blog"])
    areas = {"documents": "own", "messaging": "inbox", "blog": "own"}
    app = apps.gather(rid % 3)
    pl.DataFrame(
        {
            "resource_id": "R" + rid.cast(pl.String),
            "owner_external_id": "P" + ((rid * 7919) % people).cast(pl.String),
            "app": app,
            "area": app.replace_strict(areas),
            "size_bytes": (rid * 104_729) % 50_000_000,
            "created_at": pl.datetime_range(
                pl.datetime(2023, 9, 1, time_zone="UTC"),
                pl.datetime(2024, 6, 30, time_zone="UTC"),
                interval="1m",
                eager=True,
            ).gather(rid % 400_000),
        }
    ).write_parquet(folder / "resources.parquet")
    sid = pl.int_range(0, shares, eager=True)
    pl.DataFrame(
        {
            "resource_id": "R" + (sid % resources).cast(pl.String),
            "recipient_kind": pl.Series(["user"] * shares),
            "recipient_id": "P" + ((sid * 31 + sid // resources) % people).cast(pl.String),
            "rights": pl.Series(["read", "contrib", "manage"]).gather(sid % 3),
        }
    ).write_parquet(folder / "shares.parquet")
    return person_ids


def _names_used(content: Path) -> dict[str, pl.Series]:
    """Every user, school and group id the inventory names, read from its own files."""
    users: list[pl.Series] = []
    groups: list[pl.Series] = []
    schools: list[pl.Series] = []
    for name in INVENTORY_TABLES:
        path = content / f"{name}.parquet"
        if not path.exists():
            continue
        frame = pl.read_parquet(path)
        for column in ("owner_external_id", "user_external_id"):
            if column in frame.columns:
                users.append(frame[column])
        if name == "users":
            users.append(frame["external_id"])
        if "structure_uai" in frame.columns:
            schools.append(frame["structure_uai"])
        for kind_column, id_column in (
            ("recipient_kind", "recipient_id"),
            ("member_kind", "member_id"),
        ):
            if kind_column in frame.columns:
                users.append(frame.filter(pl.col(kind_column) == "user")[id_column])
                groups.append(frame.filter(pl.col(kind_column) == "group")[id_column])
        if name == "group_members":
            groups.append(frame["group_id"])
    if (content / "groups.parquet").exists():
        own_groups = pl.read_parquet(content / "groups.parquet")["group_id"]
        groups = [g.filter(~g.is_in(own_groups.implode())) for g in groups]
    if (content / "users.parquet").exists():
        guests = pl.read_parquet(content / "users.parquet")["external_id"]
        users = [u.filter(~u.is_in(guests.implode())) for u in users]

    def unique(parts: list[pl.Series]) -> pl.Series:
        return (
            pl.concat([p.cast(pl.String) for p in parts]).drop_nulls().unique()
            if parts
            else pl.Series([], dtype=pl.String)
        )

    return {"users": unique(users), "groups": unique(groups), "schools": unique(schools)}


def seed_directory(engine: Engine, content: Path, people: pl.Series | None) -> int:
    """What the feeds would have brought: the people, schools and groups the inventory names."""
    names = _names_used(content)
    users = names["users"] if people is None else pl.concat([names["users"], people]).unique()
    schools = (
        names["schools"]
        if names["schools"].len()
        else pl.Series([f"{i:07d}A" for i in range(SCHOOLS)])
    )
    with engine.begin() as conn:
        insert_frame(
            conn,
            schema.structures,
            pl.DataFrame({"external_id": "S" + schools, "uai": schools}).with_columns(
                pl.col("uai").alias("name"), pl.lit("primaire").alias("type")
            ),
        )
        insert_frame(
            conn,
            schema.users,
            pl.DataFrame({"external_id": users}).with_columns(
                pl.lit("Teacher").alias("profile"),
                pl.lit("feed").alias("source"),
                pl.lit("academic_sso").alias("identity"),
                pl.lit("").alias("first_name"),
                pl.col("external_id").alias("last_name"),
                pl.lit("none").alias("activation_state"),
            ),
        )
        insert_frame(
            conn,
            schema.groups,
            pl.DataFrame({"group_id": names["groups"]}).with_columns(
                pl.lit("scolarite").alias("kind"), pl.col("group_id").alias("name")
            ),
        )
    return users.len()


def run(workdir: Path) -> list[tuple[str, str]]:
    bench = workdir / "inventory-bench"
    shutil.rmtree(bench, ignore_errors=True)
    bench.mkdir(parents=True)
    region_content = workdir / "region" / "content"
    if region_content.is_dir() and any(region_content.glob("*.parquet")):
        content, source = region_content, "generated region inventory"
        people = None
    else:
        factor = 1 if workdir.name == "region" else 10
        content, source = bench / "content", "synthetic inventory"
        people = synthetic_inventory(
            content, REGION_PEOPLE // factor, REGION_RESOURCES // factor, REGION_SHARES // factor
        )
    engine = make_engine(f"sqlite:///{bench / 'rentree.db'}")
    upgrade(engine)
    store = LocalStore(bench / "storage")
    store.ensure_layout()
    in_directory = seed_directory(engine, content, people)

    started = time.perf_counter()
    inventory = read_inventory(content)
    with engine.begin() as conn:
        outcome = import_content(conn, store, inventory)
    imported_in = time.perf_counter() - started
    rows = sum(t.rows for t in outcome.tables)

    started = time.perf_counter()
    with engine.connect() as conn:
        summary = write_export(conn, bench / "export")
    exported_in = time.perf_counter() - started
    exported = sum(summary.rows.values())
    engine.dispose()
    return [
        ("inventory source", f"{source} ({in_directory:,} people in the directory, SQLite)"),
        (
            "content import",
            f"{rows:,} rows in {imported_in:.1f} s ({rows / imported_in:,.0f} rows/s), "
            f"{outcome.rejected:,} rejected",
        ),
        (
            "export (Parquet)",
            f"{exported:,} rows in {exported_in:.1f} s ({exported / exported_in:,.0f} rows/s)",
        ),
    ]
