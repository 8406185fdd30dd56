"""R13: the bookmark clean-up report lists each bookmark member that left (missing or unknown
people, closed-year scolarité groups), and the bookmarks themselves stay untouched."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy import Engine

from rentree.infra.naming import class_group_id, class_id, school_group_id
from rentree.tasks.content.bookmarks import bookmark_cleanup_report
from tests.content_builders import (
    CLOSING,
    NEW,
    U1,
    cp_a,
    sorted_table,
)


@pytest.mark.usefixtures("small_region_rows")
def test_members_that_left_are_listed_and_bookmarks_are_unchanged(engine: Engine) -> None:
    with engine.connect() as conn:
        before = sorted_table(conn, "bookmarks", ["bookmark_id"])
        members_before = sorted_table(
            conn, "bookmark_members", ["bookmark_id", "member_kind", "member_id"]
        )
        report = bookmark_cleanup_report(conn, CLOSING)
        after = sorted_table(conn, "bookmarks", ["bookmark_id"])
        members_after = sorted_table(
            conn, "bookmark_members", ["bookmark_id", "member_kind", "member_id"]
        )
    assert after.equals(before) and members_after.equals(members_before)

    listed = set(report.select("bookmark_id", "member_id", "reason").rows())
    older_group = class_group_id(class_id("2022-2023", U1, "GS-A"), "students")
    assert listed == {
        ("bm-1", "sm", "missing"),
        ("bm-1", "nobody", "unknown"),
        ("bm-1", cp_a(CLOSING, "students"), "closed_year_group"),
        ("bm-3", school_group_id(CLOSING, U1, "all"), "closed_year_group"),
        ("bm-3", older_group, "closed_year_group"),
    }
    new_group = class_group_id(class_id(NEW, U1, "CE1-A"), "students")
    assert new_group not in set(report["member_id"])
    assert "manual-1" not in set(report["member_id"])

    sm = report.filter(pl.col("member_id") == "sm").row(0, named=True)
    assert sm["owner_external_id"] == "t1" and sm["owner_last_name"] == "Martin"
    assert sm["member_name"] == "Noé Simon"
    assert "20/09/2024" in sm["suggestion_fr"] and "CP-A 2023" in sm["suggestion_fr"]
    assert "retirez-le" in sm["suggestion_fr"] and "renommez" in sm["suggestion_fr"]
    assert "rename the bookmark" in sm["suggestion_en"]
    group = report.filter(pl.col("member_id") == cp_a(CLOSING, "students")).row(0, named=True)
    assert CLOSING in group["suggestion_fr"] and group["group_school_year"] == CLOSING
    assert report["support"].str.contains("ERUN").all()


def test_no_bookmark_gives_an_empty_report_with_its_columns(engine: Engine) -> None:
    with engine.connect() as conn:
        report = bookmark_cleanup_report(conn, CLOSING)
    assert report.is_empty()
    assert "suggestion_fr" in report.columns and "owner_external_id" in report.columns
