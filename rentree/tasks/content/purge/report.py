"""The share purge's reports: the notice (rows, owners, schools) and the preview."""

from __future__ import annotations

import polars as pl
from sqlalchemy import (
    Connection,
)

from rentree.infra.reports import write_report
from rentree.infra.storage import ObjectStore
from rentree.tasks.content.purge.notice import notice_owners, notice_schools
from rentree.tasks.content.purge.plan import PurgePlan, pre_purge_notice

NOTICE_REPORT = "pre-purge-notice"


NOTICE_OWNERS_REPORT = "pre-purge-notice-owners"


NOTICE_SCHOOLS_REPORT = "pre-purge-notice-schools"


PREVIEW_SCHOOLS_REPORT = "share-purge-per-school"


PREVIEW_APPS_REPORT = "share-purge-per-app"


def write_notice(store: ObjectStore, prefix: str, notice: pl.DataFrame) -> list[str]:
    """Write the notice, its per-owner and its per-school summaries; returns the keys."""
    keys: list[str] = []
    for name, frame in (
        (NOTICE_REPORT, notice),
        (NOTICE_OWNERS_REPORT, notice_owners(notice)),
        (NOTICE_SCHOOLS_REPORT, notice_schools(notice)),
    ):
        written = write_report(store, prefix, name, frame)
        keys += [written.csv_key, written.parquet_key]
    return keys


def write_pre_purge_notice(
    conn: Connection, store: ObjectStore, prefix: str, closing_year: str
) -> list[str]:
    """Compute and write the pre-purge notice (R6, at `freeze`); returns the written keys."""
    return write_notice(store, prefix, pre_purge_notice(conn, closing_year))


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
