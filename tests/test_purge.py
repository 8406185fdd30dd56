"""The share purge (R5) removes exactly the shares to closing-year scolarité groups, never a
resource (R4), can be undone exactly, and its pre-purge notice (R6) lists exactly those shares."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from rentree.infra import schema
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore
from rentree.tasks.content.purge.apply import apply_share_purge
from rentree.tasks.content.purge.plan import (
    PurgeRunError,
    plan_share_purge,
    pre_purge_notice,
    purge_needs_hold,
)
from rentree.tasks.content.purge.report import write_pre_purge_notice, write_purge_preview
from rentree.tasks.content.purge.undo import undo_share_purge
from tests.content_builders import (
    CLOSING,
    U1,
    U2,
    sorted_table,
)

NOW = datetime(2024, 10, 1, 9, 0, tzinfo=UTC)
LATER = datetime(2024, 10, 2, 9, 0, tzinfo=UTC)
SHARE_KEY = ["resource_id", "recipient_kind", "recipient_id"]
RESOURCE_KEY = ["resource_id"]


def closing_group_ids(content: dict[str, pl.DataFrame]) -> set[str]:
    groups = content["groups"]
    return set(
        groups.filter((pl.col("kind") == "scolarite") & (pl.col("school_year") == CLOSING))[
            "group_id"
        ]
    )


def expected_purged(content: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The shares R5 removes, computed from the inserted rows without the code under test."""
    closing = closing_group_ids(content)
    rows = [
        row
        for row in content["shares"].iter_rows(named=True)
        if row["recipient_kind"] == "group" and row["recipient_id"] in closing
    ]
    return pl.DataFrame(rows, schema=content["shares"].schema).sort(SHARE_KEY)


def purge(engine: Engine, run_id: str = "run-1", keep_for_members: bool = False) -> dict[str, int]:
    with engine.begin() as conn:
        plan = plan_share_purge(conn, CLOSING)
        return apply_share_purge(conn, plan, run_id, NOW, keep_for_members=keep_for_members)


def test_purge_removes_closing_year_scolarite_group_shares_only(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    with engine.connect() as conn:
        shares_before = sorted_table(conn, "shares", SHARE_KEY)
        resources_before = sorted_table(conn, "resources", RESOURCE_KEY)
    purged = expected_purged(small_region_rows)
    assert purged.height == 6

    counts = purge(engine)

    assert counts["shares_removed"] == purged.height
    assert counts["member_shares_created"] == 0
    with engine.connect() as conn:
        shares_after = sorted_table(conn, "shares", SHARE_KEY)
        resources_after = sorted_table(conn, "resources", RESOURCE_KEY)
    closing = closing_group_ids(small_region_rows)
    assert shares_after.filter(
        (pl.col("recipient_kind") == "group") & pl.col("recipient_id").is_in(list(closing))
    ).is_empty()
    assert shares_after.equals(shares_before.join(purged, on=SHARE_KEY, how="anti"))
    assert resources_after.equals(resources_before)


def test_purge_journals_and_logs_every_removed_share(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    purge(engine)
    with engine.connect() as conn:
        journal = sorted_table(conn, "purge_journal", SHARE_KEY)
        logged = conn.execute(
            select(func.count())
            .select_from(schema.change_log)
            .where(schema.change_log.c.run_id == "run-1", schema.change_log.c.operation == "purge")
        ).scalar_one()
    assert journal.select(*SHARE_KEY, "rights").equals(expected_purged(small_region_rows))
    assert journal["derived"].to_list() == [False] * journal.height
    assert set(journal["school_year"]) == {CLOSING}
    assert logged == journal.height


def test_undo_restores_exactly_the_removed_rows(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    with engine.connect() as conn:
        before = sorted_table(conn, "shares", SHARE_KEY)
    purge(engine)
    with engine.begin() as conn:
        restored = undo_share_purge(conn, "run-1", LATER)
    with engine.connect() as conn:
        after = sorted_table(conn, "shares", SHARE_KEY)
        journal = sorted_table(conn, "purge_journal", SHARE_KEY)
    assert restored == expected_purged(small_region_rows).height
    assert after.equals(before)
    assert journal["undone_at"].null_count() == 0


def undo_changes_nothing(engine: Engine, run_id: str) -> None:
    """Undoing `run_id` now restores no share and leaves the shares as they are."""
    with engine.connect() as conn:
        before = sorted_table(conn, "shares", SHARE_KEY)
    with engine.begin() as conn:
        assert undo_share_purge(conn, run_id, LATER) == 0
    with engine.connect() as conn:
        assert sorted_table(conn, "shares", SHARE_KEY).equals(before)


def test_undo_twice_is_harmless(engine: Engine, small_region_rows: dict[str, pl.DataFrame]) -> None:
    purge(engine)
    with engine.begin() as conn:
        undo_share_purge(conn, "run-1", LATER)
    undo_changes_nothing(engine, "run-1")


def test_undo_of_a_run_that_removed_nothing_changes_nothing(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    undo_changes_nothing(engine, "nope")


def test_applying_twice_under_one_run_id_is_refused(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    purge(engine)
    with engine.begin() as conn, pytest.raises(PurgeRunError, match="already purged"):
        apply_share_purge(conn, plan_share_purge(conn, CLOSING), "run-1", NOW)


def test_a_second_purge_finds_nothing_left(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    purge(engine)
    with engine.connect() as conn:
        assert plan_share_purge(conn, CLOSING).total == 0


def expected_member_shares(content: dict[str, pl.DataFrame]) -> set[tuple[str, str]]:
    """(resource, member) pairs the keep-for-members option must share read-only."""
    owners = dict(content["resources"].select("resource_id", "owner_external_id").iter_rows())
    members: dict[str, set[str]] = {}
    for group_id, user in content["group_members"].iter_rows():
        members.setdefault(group_id, set()).add(user)
    existing = {
        (r, who)
        for r, kind, who, _ in content["shares"].iter_rows()
        if kind == "user"  # any existing share to that person is kept as it is
    }
    pairs = set()
    for resource, _, group_id, _ in expected_purged(content).iter_rows():
        for user in members.get(group_id, set()):
            if user != owners.get(resource) and (resource, user) not in existing:
                pairs.add((resource, user))
    return pairs


def test_keep_for_members_shares_read_only_to_the_members_and_undo_removes_them(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    with engine.connect() as conn:
        before = sorted_table(conn, "shares", SHARE_KEY)
    counts = purge(engine, keep_for_members=True)
    expected = expected_member_shares(small_region_rows)
    assert ("doc-1", "s1") not in expected  # s1 already had a contrib share: kept, no duplicate
    with engine.connect() as conn:
        after = sorted_table(conn, "shares", SHARE_KEY)
    created = after.join(before, on=SHARE_KEY, how="anti")
    assert counts["member_shares_created"] == len(expected) == created.height
    assert set(created.select("resource_id", "recipient_id").iter_rows()) == expected
    assert set(created["recipient_kind"]) == {"user"}
    assert set(created["rights"]) == {"read"}
    s1_doc1 = after.filter((pl.col("resource_id") == "doc-1") & (pl.col("recipient_id") == "s1"))
    assert s1_doc1["rights"].to_list() == ["contrib"]

    with engine.begin() as conn:
        undo_share_purge(conn, "run-1", LATER)
    with engine.connect() as conn:
        assert sorted_table(conn, "shares", SHARE_KEY).equals(before)


def test_a_purge_above_the_threshold_is_held(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    with engine.connect() as conn:
        plan = plan_share_purge(conn, CLOSING)
    assert purge_needs_hold(plan, Settings()) is None
    assert purge_needs_hold(plan, Settings(hold_purge_max_shares=plan.total)) is None
    reason = purge_needs_hold(plan, Settings(hold_purge_max_shares=plan.total - 1))
    assert reason is not None
    assert f"remove {plan.total} shares" in reason and CLOSING in reason


def test_pre_purge_notice_lists_exactly_the_shares_the_purge_removes(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    with engine.connect() as conn:
        notice = pre_purge_notice(conn, CLOSING)
    purge(engine)
    with engine.connect() as conn:
        journal = sorted_table(conn, "purge_journal", SHARE_KEY)
    listed = set(notice.select("resource_id", "group_id").iter_rows())
    removed = set(journal.select("resource_id", "recipient_id").iter_rows())
    assert (
        listed
        == removed
        == set(expected_purged(small_region_rows).select("resource_id", "recipient_id").rows())
    )


def test_pre_purge_notice_places_each_share_under_its_owners_schools(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    with engine.connect() as conn:
        notice = pre_purge_notice(conn, CLOSING)
    doc1 = notice.filter(pl.col("resource_id") == "doc-1")
    # t1 teaches in both schools: each school lists the share.
    assert sorted(set(doc1["structure_uai"])) == [U1, U2]
    assert set(doc1["school_source"]) == {"owner"}
    # t3 has no school link: the share is listed under the group's school.
    doc5 = notice.filter(pl.col("resource_id") == "doc-5")
    assert doc5.select("structure_uai", "school_source").rows() == [(U1, "group")]
    students = doc1.filter(pl.col("group_id").str.ends_with("CP-A:students"))
    assert set(students["group_members"]) == {3}
    message = students["message_fr"][0]
    assert "maintenir un partage" in message and "droits de gestion" in message
    assert "management rights" in students["message_en"][0]
    assert notice["support"].str.contains("ERUN").all()


def test_pre_purge_notice_is_written_formula_safe(
    engine: Engine, store: ObjectStore, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    with engine.connect() as conn:
        keys = write_pre_purge_notice(conn, store, "reports/2023-2024/freeze/run-9/", CLOSING)
        notice = pre_purge_notice(conn, CLOSING)
    assert len(keys) == 6 and all(store.exists(k) for k in keys)
    csv_key = next(k for k in keys if k.endswith("pre-purge-notice.csv"))
    text = store.read_bytes(csv_key).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("structure_uai;school_name;")
    assert ";'=École d'Été;" in text
    parquet = pl.read_parquet(io.BytesIO(store.read_bytes(csv_key.replace(".csv", ".parquet"))))
    assert parquet.equals(notice)
    owners_key = next(k for k in keys if k.endswith("pre-purge-notice-owners.parquet"))
    owners = pl.read_parquet(io.BytesIO(store.read_bytes(owners_key)))
    t1_u1 = owners.filter((pl.col("owner_external_id") == "t1") & (pl.col("structure_uai") == U1))
    assert t1_u1["shares"].to_list() == [4]


def test_purge_preview_counts_per_school_and_app(
    engine: Engine, store: ObjectStore, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    with engine.connect() as conn:
        plan = plan_share_purge(conn, CLOSING)
    per_school = dict(plan.per_school.select("structure_uai", "shares").iter_rows())
    assert per_school == {U1: 5, U2: 1}
    assert dict(plan.per_app.iter_rows()) == {"blog": 1, "documents": 4, "notebook": 1}
    assert plan.summary()["shares"] == 6
    keys = write_purge_preview(store, "reports/2024-2025/share-purge/run-1/", plan)
    assert any(k.endswith("share-purge-per-school.csv") for k in keys)
    assert all(store.exists(k) for k in keys)
