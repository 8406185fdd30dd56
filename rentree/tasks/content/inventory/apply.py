"""Applying the plan in the caller's transaction, its reports and its run record."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy import Connection, update

from rentree.contracts.content import (
    UTC_DATETIME,
    primary_key,
    table,
)
from rentree.infra.db import STATISTICS_ROWS, insert_frame
from rentree.infra.naming import reports_prefix, school_year_of
from rentree.infra.reports import WrittenReport, write_report
from rentree.infra.runs import record_run
from rentree.infra.staging import staging_table
from rentree.infra.storage import ObjectStore
from rentree.tasks.content.inventory.plan import (
    PURGED_SCHEMA,
    ContentPlan,
    TablePlan,
    plan_content_import,
)
from rentree.tasks.content.inventory.read import InventoryFile
from rentree.tasks.planned import apply_unless_dry_run
from rentree.tasks.rules.years import current_years

FLOW_NAME = "content-import"
REPORT_PHASE = "content-import"


@dataclass(frozen=True)
class TableOutcome:
    table: str
    rows: int
    imported: int
    updated: int
    unchanged: int
    rejected: int
    purged: int = 0  # shares a share purge removed: skipped, not an error


@dataclass(frozen=True)
class ContentImport:
    run_id: str
    dry_run: bool
    tables: tuple[TableOutcome, ...]
    rejects: pl.DataFrame
    reports: tuple[WrittenReport, ...]
    ignored_columns: dict[str, tuple[str, ...]]
    purged_shares: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PURGED_SCHEMA))

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tables)

    @property
    def bulk_written(self) -> list[str]:
        """The tables this import added or changed at least `STATISTICS_ROWS` rows of
        (none for a dry run)."""
        if self.dry_run:
            return []
        return [t.table for t in self.tables if t.imported + t.updated >= STATISTICS_ROWS]

    @property
    def purged(self) -> int:
        return self.purged_shares.height

    def counts(self) -> pl.DataFrame:
        return pl.DataFrame(
            [vars(t) for t in self.tables],
            schema={
                "table": pl.String,
                "rows": pl.Int64,
                "imported": pl.Int64,
                "updated": pl.Int64,
                "unchanged": pl.Int64,
                "rejected": pl.Int64,
                "purged": pl.Int64,
            },
        )


def _apply_table(conn: Connection, plan: TablePlan, now: dt.datetime) -> None:
    name = plan.table
    tbl = table(name)
    new = plan.new
    if name == "users":
        new = new.with_columns(pl.col("created_at").fill_null(pl.lit(now, dtype=UTC_DATETIME)))
    insert_frame(conn, tbl, new)
    if plan.changed.is_empty():
        return
    key = primary_key(name)
    values = [c for c in plan.provided if c not in key]
    changed = plan.changed.select(key + values)
    if name == "users" and "updated_at" not in values:
        values.append("updated_at")
        changed = changed.with_columns(pl.lit(now, dtype=UTC_DATETIME).alias("updated_at"))
    staged = staging_table(conn, f"changed_{name}", changed, key, like=tbl)
    conn.execute(
        update(tbl)
        .where(*(tbl.c[k] == staged.c[k] for k in key))
        .values({c: staged.c[c] for c in values})
    )


def new_run_id(now: dt.datetime) -> str:
    return f"{FLOW_NAME}-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def import_content(
    conn: Connection,
    store: ObjectStore,
    inventory: list[InventoryFile],
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> ContentImport:
    """Import the inventory in one transaction (the caller's), write the reports, record the
    run. With `dry_run` the directory is left as it is; the reports say what would happen."""
    now = now or dt.datetime.now(dt.UTC)
    run_id = new_run_id(now)
    plan = plan_content_import(conn, inventory)

    def apply(planned: ContentPlan) -> None:
        for table_plan in planned.tables:
            _apply_table(conn, table_plan, now)

    apply_unless_dry_run(plan, apply, dry_run=dry_run)
    outcome = ContentImport(
        run_id=run_id,
        dry_run=dry_run,
        tables=tuple(
            TableOutcome(
                table=t.table,
                rows=t.rows,
                imported=t.new.height,
                updated=t.changed.height,
                unchanged=t.unchanged,
                rejected=t.rejected,
                purged=t.purged.height,
            )
            for t in plan.tables
        ),
        rejects=plan.rejects,
        reports=(),
        ignored_columns={t.table: t.ignored for t in plan.tables if t.ignored},
        purged_shares=pl.concat([t.purged for t in plan.tables]),
    )
    # under the year the directory is in (the inventory is that year's content), not the
    # calendar's; a directory that holds no year yet files it under today's
    year = current_years(conn)[1] or school_year_of(now.date())
    prefix = reports_prefix(year, REPORT_PHASE, run_id)
    reports = (
        write_report(store, prefix, "rejects", outcome.rejects),
        write_report(store, prefix, "counts", outcome.counts()),
        write_report(store, prefix, "purged_shares", outcome.purged_shares),
    )
    record_run(
        conn,
        run_id=run_id,
        flow=FLOW_NAME,
        school_year=year,
        started_at=now,
        status="completed",
        dry_run=dry_run,
        summary={
            "tables": [vars(t) for t in outcome.tables],
            "rejects_report": reports[0].csv_key,
        },
    )
    return ContentImport(
        run_id=outcome.run_id,
        dry_run=outcome.dry_run,
        tables=outcome.tables,
        rejects=outcome.rejects,
        reports=reports,
        ignored_columns=outcome.ignored_columns,
        purged_shares=outcome.purged_shares,
    )
