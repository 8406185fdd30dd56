"""Holds (operations.md): a delivery with too many unexpected newly-missing people applies
nothing until an operator approves (exactly that change set, after checking the directory
did not move) or rejects it (quarantine)."""

from __future__ import annotations

from datetime import date

import polars as pl
from sqlalchemy import Engine, select, update

from rentree.infra import schema
from rentree.infra.db import insert_frame
from rentree.infra.naming import archive_key, landing_prefix, parse_feed_name, quarantine_prefix
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore
from rentree.tasks.imports.decisions import approve_hold, reject_hold
from rentree.tasks.rules.holds import evaluate_holds, get_hold, with_expected_relatives
from rentree.tasks.sync.changeset import ChangeSet
from tests.sync_builders import (
    LATER,
    NEW,
    add_structures,
    add_students,
    add_users,
    link_school,
)
from tests.test_imports import (
    SETTINGS,
    U1,
    count,
    directory,
    family_delivery,
    land,
    run,
)


def held_delivery(engine: Engine, store: ObjectStore) -> tuple[str, list[str]]:
    """30 pupils applied, then a complete delivery where a third of them are gone."""
    land(store, NEW, family_delivery("20240902", range(30)))
    assert run(engine, store, NEW, "20240902").status == "applied"
    keys = land(store, NEW, family_delivery("20240909", range(20)))
    outcome = run(engine, store, NEW, "20240909")
    assert outcome.status == "held", outcome.reason
    assert outcome.hold_id is not None
    return outcome.hold_id, keys


def held_file_statuses(engine: Engine) -> set[str]:
    """The ledger statuses of the files of the delivery `held_delivery` holds."""
    with engine.connect() as conn:
        return set(
            conn.scalars(
                select(schema.feed_files.c.status).where(
                    schema.feed_files.c.extraction_date == date(2024, 9, 9)
                )
            )
        )


def missing_people(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.scalars(
                select(schema.users.c.external_id).where(schema.users.c.missing_since.is_not(None))
            )
        )


def test_hold_third_of_school_missing_applies_nothing(engine: Engine, store: ObjectStore) -> None:
    land(store, NEW, family_delivery("20240902", range(30)))
    assert run(engine, store, NEW, "20240902").status == "applied"
    before = directory(engine)
    logged = count(engine, schema.change_log)
    keys = land(store, NEW, family_delivery("20240909", range(20)))
    outcome = run(engine, store, NEW, "20240909")
    assert outcome.status == "held"
    assert f"School {U1}: 10 of 30 students (33.3%)" in outcome.reason
    after = directory(engine)
    for name in before:
        assert before[name].equals(after[name]), name
    assert count(engine, schema.change_log) == logged
    assert all(store.exists(k) for k in keys)
    with engine.connect() as conn:
        hold = get_hold(conn, outcome.hold_id or "")
        recorded = conn.scalar(
            select(schema.feed_files.c.content_hash).where(
                schema.feed_files.c.extraction_date == date(2024, 9, 9)
            )
        )
    assert recorded is None
    assert hold.status == "pending" and hold.kind == "delivery"
    assert hold.fingerprint and hold.change_set_key and hold.summary
    assert hold.summary["missing_unexpected"] == 20  # ten pupils and their ten relatives
    held = ChangeSet.read(store, hold.change_set_key)
    assert held.users_missing.height == 20
    # the nightly re-run does not hold it twice, and does not apply it
    again = run(engine, store, NEW, "20240909")
    assert again.status == "held" and again.hold_id == outcome.hold_id
    assert count(engine, schema.holds) == 1
    assert missing_people(engine) == set()


def test_hold_approval_applies_exactly_the_change_set(engine: Engine, store: ObjectStore) -> None:
    hold_id, keys = held_delivery(engine, store)
    with engine.connect() as conn:
        held = ChangeSet.read(store, get_hold(conn, hold_id).change_set_key or "")
    decision = approve_hold(engine, store, SETTINGS, hold_id, "alice", "run-approve", LATER)
    assert decision.hold.status == "approved" and decision.hold.decided_by == "alice"
    assert decision.outcome is not None and decision.outcome.status == "applied"
    assert missing_people(engine) == set(held.users_missing["external_id"])
    assert not any(store.exists(k) for k in keys)
    assert all(store.exists(archive_key(NEW, parse_feed_name(k))) for k in keys)
    assert held_file_statuses(engine) == {"applied"}
    land(store, NEW, family_delivery("20240909", range(20)))
    assert run(engine, store, NEW, "20240909").status == "already_applied"


def test_hold_approval_rechecks_when_directory_moved(engine: Engine, store: ObjectStore) -> None:
    hold_id, _ = held_delivery(engine, store)
    # the directory moves (a manual account appears): the delivery is planned again and,
    # still above the threshold, held again under a new hold
    with engine.begin() as conn:
        add_users(conn, [("G1", "Guest")])
    decision = approve_hold(engine, store, SETTINGS, hold_id, "alice", "run-a1", LATER)
    assert decision.hold.status == "superseded"
    assert decision.outcome is not None and decision.outcome.status == "held"
    new_hold = decision.outcome.hold_id
    assert new_hold is not None and new_hold != hold_id
    assert missing_people(engine) == set()
    # the directory moves again: the ten pupils and their relatives were marked missing
    # meanwhile; planned again, the delivery is under the thresholds and applies
    with engine.begin() as conn:
        gone = [f"{p}{n:04d}" for n in range(20, 30) for p in ("E", "R")]
        conn.execute(
            update(schema.users)
            .where(schema.users.c.external_id.in_(gone))
            .values(missing_since=date(2024, 9, 5))
        )
    decision = approve_hold(engine, store, SETTINGS, new_hold, "bob", "run-a2", LATER)
    assert decision.hold.status == "approved" and decision.hold.decided_by == "bob"
    assert decision.outcome is not None and decision.outcome.status == "applied"
    assert not store.list(landing_prefix(NEW))
    assert held_file_statuses(engine) == {"applied"}


def test_hold_rejection_quarantines(engine: Engine, store: ObjectStore) -> None:
    hold_id, keys = held_delivery(engine, store)
    before = directory(engine)
    decision = reject_hold(engine, store, hold_id, "carol", "run-reject", LATER)
    assert decision.hold.status == "rejected" and decision.hold.decided_by == "carol"
    assert not any(store.exists(k) for k in keys)
    target = quarantine_prefix(NEW, "20240909")
    quarantined = store.list(target)
    assert {k.rsplit("/", 1)[-1] for k in keys} <= {k.rsplit("/", 1)[-1] for k in quarantined}
    assert "Rejected by carol" in store.read_bytes(f"{target}rejection.txt").decode()
    after = directory(engine)
    for name in before:
        assert before[name].equals(after[name]), name
    assert held_file_statuses(engine) == {"quarantined"}
    assert count(engine, schema.change_log) > 0  # the first delivery's, untouched


def test_hold_thresholds_count_only_unexpected_leavers(engine: Engine) -> None:
    with engine.begin() as conn:
        add_structures(conn, [(U1, "elementaire", None), ("0590009Z", "elementaire", None)])
        cm2 = add_students(conn, NEW, U1, "CM2", "CM2", 20)
        ce1 = add_students(conn, NEW, U1, "CE1", "CE1", 20)
        small = add_students(conn, NEW, "0590009Z", "CP", "CP", 3)
        add_users(conn, [("T1", "Teacher"), ("R1", "Relative"), ("R2", "Relative")])
        link_school(conn, ["T1"], U1)
        insert_frame(
            conn,
            schema.relations,
            pl.DataFrame(
                {
                    "student_external_id": [cm2[0], cm2[1], ce1[0]],
                    "relative_external_id": ["R1", "R2", "R2"],
                }
            ),
        )

    def missing(ids: list[str], leaver: bool, uai: str | None = U1, profile: str = "Student"):
        return pl.DataFrame(
            {
                "external_id": ids,
                "profile": [profile] * len(ids),
                "structure_uai": [uai] * len(ids),
                "expected_leaver": [leaver] * len(ids),
            }
        )

    def change_set(*frames: pl.DataFrame) -> ChangeSet:
        return ChangeSet(NEW, "20240909", (), "f", users_missing=pl.concat(frames))

    school_only = Settings(hold_region_missing_ratio=1.0, hold_school_min_people=4)
    with engine.connect() as conn:
        # all CM2 pupils leaving are expected, and so is R1 whose only child leaves;
        # R2 keeps a child in CE1: an unexpected leaver
        leaving = change_set(missing(cm2, True), missing(["R1", "R2"], False, None, "Relative"))
        flagged = with_expected_relatives(conn, leaving.users_missing)
        expected = dict(flagged.select("external_id", "expected_leaver").iter_rows())
        assert expected["R1"] is True and expected["R2"] is False
        assert evaluate_holds(conn, change_set(missing(cm2, True)), school_only) == []
        # two of 40 (5%) is not more than 5%; three is
        assert evaluate_holds(conn, change_set(missing(ce1[:2], False)), school_only) == []
        reasons = evaluate_holds(conn, change_set(missing(ce1[:3], False)), school_only)
        assert len(reasons) == 1 and reasons[0].startswith(f"School {U1}: 3 of 40 students")
        # a school under the minimum population is not held on its own ratio
        lost = change_set(missing(small, False, "0590009Z"))
        assert evaluate_holds(conn, lost, school_only) == []
        # region-wide: 3 of 43 students is above 2% once the region is big enough (10 x 4)
        region = evaluate_holds(
            conn, change_set(missing(ce1[:3], False)), Settings(hold_school_min_people=4)
        )
        assert any(r.startswith("Region-wide: 3 of 43 students") for r in region)
        # with the default minimum (20 per school, 200 region-wide) the region is too small
        default = evaluate_holds(conn, change_set(missing(ce1[:3], False)), Settings())
        assert default == [reasons[0]]
