"""retire-missing (R11's second half) on the plain steps: grace periods counted from the mark,
the notice written first and its wait honoured, deactivation then retirement, productions
never deleted (R4), guests and manual links never touched, transition marks counted once
confirmed, holds above the thresholds, and an exact undo of each stage."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, func, select

from rentree.infra import schema
from rentree.infra.staging import staging_table
from rentree.infra.storage import ObjectStore
from rentree.tasks.content.status import directory_status
from rentree.tasks.rules.retirement.apply import (
    RetirementRunError,
    apply_retirement,
    not_noticed,
    relations_of,
    undo_retirement,
)
from rentree.tasks.rules.retirement.plan import (
    plan_retirement,
    retirement_hold_reasons,
    write_retirement_plan,
)
from rentree.tasks.rules.retirement.rules import RetirementRules
from rentree.tasks.rules.retirement.stages import retirement_stages, stage_totals
from tests.content_builders import NEW, U1, inserted
from tests.retirement_builders import (
    NEW_CE1,
    RULES,
    at,
    days_after_mark,
    directory,
    ids,
    retirement_region,
    run_once,
    undo_each_stage_gives_back,
)


@pytest.fixture
def region(engine: Engine) -> dict[str, pl.DataFrame]:
    return inserted(engine, retirement_region())


def user(engine: Engine, external_id: str) -> dict[str, object] | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(schema.users).where(schema.users.c.external_id == external_id)
        ).first()
    return None if row is None else row._asdict()


def test_grace_periods_are_counted_from_the_mark(engine: Engine, region: object) -> None:
    with engine.connect() as conn:
        early = plan_retirement(conn, RULES, days_after_mark(89), at(days_after_mark(89)), NEW)
        due = plan_retirement(conn, RULES, days_after_mark(90), at(days_after_mark(90)), NEW)
    assert early.count("to_notice") == 0
    assert ids(due.ids("to_notice")) == {"sm", "t2"}
    run_once(engine, days_after_mark(90), "notice")
    run_once(engine, days_after_mark(104), "deactivate")
    # deactivated, but both grace periods (90 + 90 days from the mark) are not over yet
    plan, _ = run_once(engine, days_after_mark(179), "too-early")
    assert plan.count("to_retire") == 0 and plan.count("deactivated") == 2
    plan, counts = run_once(engine, days_after_mark(180), "retire")
    assert ids(plan.ids("to_retire")) == {"sm", "t2"} and counts["retired"] == 2
    assert user(engine, "sm") is None and user(engine, "t2") is None


def test_notice_is_written_first_and_the_wait_honoured(
    engine: Engine, region: object, store: ObjectStore
) -> None:
    first, counts = run_once(engine, days_after_mark(91), "notice")
    assert counts["notices_recorded"] == 2 and counts["deactivated"] == 0
    notice = first.notice
    # the owner of a production shared with sm by name, and the recipients of t2's shares
    owners = notice.filter(pl.col("role") == "owner")
    assert set(zip(owners["notified_id"], owners["person_external_id"], strict=True)) == {
        ("t1", "sm")
    }
    recipients = notice.filter(pl.col("role") == "recipient")
    assert ("user", "s2", "nb-1") in set(
        zip(
            recipients["notified_kind"],
            recipients["notified_id"],
            recipients["resource_id"],
            strict=True,
        )
    )
    assert set(recipients["person_external_id"]) == {"t2"}
    assert notice["message_fr"].str.contains("sera désactivé").all()
    assert notice["message_en"].str.contains("will be deactivated").all()
    t2_support = notice.filter(pl.col("person_external_id") == "t2")["support"]
    assert t2_support.str.contains("incident").all()
    keys = write_retirement_plan(store, "reports/x/retire-missing/notice/", first)
    assert "reports/x/retire-missing/notice/retirement-notice.csv" in keys
    csv = store.read_bytes("reports/x/retire-missing/notice/retirement-notice.csv").decode()
    assert "ABCD2345" not in csv
    # 13 days later: still waiting; 14 days after the notice: deactivated
    waiting, counts = run_once(engine, days_after_mark(104), "wait")
    assert waiting.count("waiting") == 2 and counts["deactivated"] == 0
    assert user(engine, "sm")["deactivated_at"] is None  # type: ignore[index]
    _, counts = run_once(engine, days_after_mark(105), "deactivate")
    assert counts["deactivated"] == 2
    sm = user(engine, "sm")
    assert sm is not None and sm["deactivated_at"] is not None
    assert sm["activation_code"] is None and sm["login"] == "noé.simon"
    with engine.connect() as conn:
        groups_of_sm = set(
            conn.scalars(
                select(schema.group_members.c.group_id).where(
                    schema.group_members.c.user_external_id == "sm"
                )
            )
        )
        logged = conn.scalar(
            select(func.count()).where(
                schema.change_log.c.run_id == "deactivate",
                schema.change_log.c.operation == "deactivate",
            )
        )
    # out of the current year's scolarité group, still in last year's (the purge's job)
    assert NEW_CE1 not in groups_of_sm and groups_of_sm
    assert logged == 2


def test_stage_2_removes_links_but_no_production(
    engine: Engine, region: dict[str, pl.DataFrame]
) -> None:
    run_once(engine, days_after_mark(90), "notice")
    run_once(engine, days_after_mark(104), "deactivate")
    with engine.connect() as conn:
        before = directory(conn)
    plan, counts = run_once(engine, days_after_mark(180), "retire")
    with engine.connect() as conn:
        after = directory(conn)
    gone = {"sm", "t2"}
    assert_frame_equal(after["resources"], before["resources"])
    # shares of their productions stay; shares made to them by name go
    assert after["shares"].filter(pl.col("resource_id").is_in(["nb-1", "doc-4"])).height == (
        before["shares"]
        .filter(pl.col("resource_id").is_in(["nb-1", "doc-4"]))
        .filter(~((pl.col("recipient_kind") == "user") & pl.col("recipient_id").is_in(gone)))
        .height
    )
    assert after["shares"].filter(pl.col("recipient_id").is_in(gone)).is_empty()
    for name, col in (
        ("user_structures", "user_external_id"),
        ("group_members", "user_external_id"),
        ("relations", "student_external_id"),
    ):
        assert after[name].filter(pl.col(col).is_in(gone)).is_empty(), name
    assert after["bookmark_members"].filter(pl.col("member_id").is_in(gone)).is_empty()
    assert after["bookmarks"].equals(before["bookmarks"])
    assert ids(after["users"]) == ids(before["users"]) - gone
    # the handover lists t2's productions and who they are shared with
    handover = plan.handover
    assert set(handover["resource_id"]) == {"nb-1", "doc-4"}
    assert ("user", "s2") in set(
        zip(handover["shared_with_kind"], handover["shared_with_id"], strict=True)
    )
    assert counts["shares_to_them"] == 1 and counts["bookmark_entries"] == 2


def test_guests_and_manual_links_are_never_touched(
    engine: Engine, region: dict[str, pl.DataFrame]
) -> None:
    plan, _ = run_once(engine, days_after_mark(90), "notice")
    run_once(engine, days_after_mark(104), "deactivate")
    run_once(engine, days_after_mark(400), "retire")
    assert ids(plan.ids("kept")) == {"p1"}
    for kept in ("g1", "p1"):
        account = user(engine, kept)
        assert account is not None and account["deactivated_at"] is None
    with engine.connect() as conn:
        manual = conn.scalar(
            select(func.count()).where(schema.user_structures.c.source == "manual")
        )
    assert manual == 2


def test_transition_marks_wait_for_the_new_years_complete_delivery(
    engine: Engine, region: object
) -> None:
    frozen = datetime(2024, 7, 5, 8, 0, tzinfo=UTC)
    switched = datetime(2024, 9, 25, 8, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            schema.school_years.insert(),
            [
                {"school_year": "2023-2024", "phase": "frozen", "frozen_at": frozen,
                 "onde_switched_at": None},
                {"school_year": NEW, "phase": "switched", "frozen_at": None,
                 "onde_switched_at": switched},
            ],
        )  # fmt: skip
    day = days_after_mark(100)
    with engine.connect() as conn:
        plan = plan_retirement(conn, RULES, day, at(day), NEW)
    assert ids(plan.ids("unconfirmed")) == {"sm", "t2"} and plan.count("to_notice") == 0
    with engine.begin() as conn:
        conn.execute(
            schema.feed_files.insert().values(
                content_hash="h-eleve", file_name="ENT_Complet_20241001_Eleve_0000.xml",
                school_year=NEW, file_type="Eleve", mode="Complet",
                extraction_date=datetime(2024, 10, 1).date(), chunk=0, status="applied",
                recorded_at=datetime(2024, 10, 1, 20, 0, tzinfo=UTC),
            )
        )  # fmt: skip
    with engine.connect() as conn:
        plan = plan_retirement(conn, RULES, day, at(day), NEW)
    # the pupils' complete file after the switch confirms sm; t2 waits for a staff one
    assert ids(plan.ids("to_notice")) == {"sm"} and ids(plan.ids("unconfirmed")) == {"t2"}


def test_hold_above_the_threshold(engine: Engine, region: object) -> None:
    run_once(engine, days_after_mark(90), "notice")
    strict = RetirementRules(school_ratio=0.05, school_min_people=3)
    with engine.connect() as conn:
        day = days_after_mark(104)
        plan = plan_retirement(conn, strict, day, at(day), NEW)
        reasons = retirement_hold_reasons(conn, plan)
        loose = plan_retirement(
            conn, RetirementRules(school_ratio=0.5, school_min_people=3), day, at(day), NEW
        )
        none = retirement_hold_reasons(conn, loose)
    assert plan.changes == 2
    assert any(reason.startswith(f"School {U1}:") for reason in reasons)
    assert none == []


def test_undo_of_each_stage_is_exact(engine: Engine, region: object) -> None:
    undone = undo_each_stage_gives_back(engine)
    assert undone["accounts_restored"] == 2
    now = at(days_after_mark(181))
    with engine.begin() as conn:
        assert undo_retirement(conn, "deactivate", now)["accounts_reactivated"] == 0
    with engine.begin() as conn, pytest.raises(RetirementRunError):
        plan = plan_retirement(conn, RULES, days_after_mark(200), now, NEW)
        apply_retirement(conn, plan, "retire", now)


def test_stage_counts_per_school(engine: Engine, region: object) -> None:
    with engine.connect() as conn:
        # p1 is marked too (kept for good by a manual link); g1 is a manual account
        assert stage_totals(conn)["marked_missing"] == 3
    run_once(engine, days_after_mark(90), "notice")
    with engine.connect() as conn:
        assert stage_totals(conn)["notified"] == 2
    run_once(engine, days_after_mark(104), "deactivate")
    with engine.begin() as conn:
        stages = retirement_stages(conn)
        assert stages.filter(pl.col("structure_uai") == U1)["deactivated"].to_list() == [2]
    run_once(engine, days_after_mark(180), "retire")
    with engine.connect() as conn:
        stages = retirement_stages(conn)
        totals = stage_totals(conn)
    assert stages.filter(pl.col("structure_uai") == U1)["retired"].to_list() == [2]
    assert totals == {"marked_missing": 1, "notified": 0, "deactivated": 0, "retired": 2}
    with engine.connect() as conn:
        status = directory_status(conn)["retirement"]
    assert status["totals"] == totals
    assert {"structure_uai": U1, "marked_missing": 1, "notified": 0, "deactivated": 0,
            "retired": 2} in status["per_school"]  # fmt: skip


def test_dry_run_plan_changes_nothing(engine: Engine, region: object) -> None:
    with engine.connect() as conn:
        before = directory(conn)
        plan_retirement(conn, RULES, days_after_mark(300), at(days_after_mark(300)), NEW)
        after = directory(conn)
    for name, frame in after.items():
        assert_frame_equal(frame, before[name])


def test_the_people_of_a_retirement_run_are_joined_not_probed_per_row_on_postgresql(
    postgres_engine: Engine,
) -> None:
    """Either side of a relation may retire, and a notice is written once: an OR of two IN
    lists made PostgreSQL probe the whole list for each relation once it outgrew work_mem (a
    quarter of an hour and more at a region's 190,000 people), as a NOT IN does for each
    person; both conditions plan as joins of the staged people."""
    people = pl.DataFrame({"external_id": [f"P{i:06d}" for i in range(200_000)]})
    with postgres_engine.connect() as conn, conn.begin() as transaction:
        staged = staging_table(conn, "retiring_people", people, ["external_id"])
        ids = staged.c.external_id
        plans = []
        for query in (
            select(schema.relations).where(relations_of(ids)),
            select(ids).where(not_noticed(ids)),
        ):
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            plans.append("\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}")))
        transaction.rollback()
    for plan in plans:
        assert "SubPlan" not in plan, plan
