"""R10: a teacher is attached to a class only once a student of that class is in the ENT;
until then the request is pending, and it is applied by itself when a student arrives."""

from __future__ import annotations

from datetime import date

import polars as pl
from sqlalchemy import Connection, Engine, select

from rentree.infra import schema
from rentree.infra.naming import class_group_id, class_id
from rentree.tasks.rules.attachments.apply import request_attachments
from rentree.tasks.rules.attachments.decide import NO_STUDENT, UNKNOWN_CLASS
from rentree.tasks.rules.attachments.on_arrival import apply_pending_attachments
from rentree.tasks.rules.attachments.school_team import attach_school_team
from tests.sync_builders import (
    LATER,
    NEW,
    NOW,
    add_class,
    add_structures,
    add_students,
    add_users,
    link_school,
)

UAI = "0590001A"


def requests(*pairs: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"teacher_external_id": [t for t, _ in pairs], "class_external_id": [c for _, c in pairs]}
    )


def teacher_links(conn: Connection) -> set[tuple[str, str, str]]:
    rows = conn.execute(
        select(
            schema.user_classes.c.user_external_id,
            schema.user_classes.c.class_external_id,
            schema.user_classes.c.source,
        ).where(schema.user_classes.c.user_external_id.like("T%"))
    )
    return {tuple(r) for r in rows}  # type: ignore[misc]


def group_members(conn: Connection, group: str) -> set[str]:
    return set(
        conn.scalars(
            select(schema.group_members.c.user_external_id).where(
                schema.group_members.c.group_id == group
            )
        )
    )


def pending(conn: Connection) -> dict[tuple[str, str], str]:
    rows = conn.execute(select(schema.pending_attachments))
    return {(r.teacher_external_id, r.class_external_id): r.reason for r in rows}


def setup(conn: Connection) -> tuple[str, str]:
    add_structures(conn, [(UAI, "primaire", None)])
    add_users(conn, [("T1", "Teacher"), ("T2", "Teacher"), ("P1", "Personnel")])
    add_users(conn, [("T9", "Teacher")], missing_since=date(2024, 9, 1))
    link_school(conn, ["T1", "T2", "P1"], UAI)
    with_student = class_id(NEW, UAI, "CP-A")
    add_students(conn, NEW, UAI, "CP-A", "CP", 2)
    empty = add_class(conn, NEW, UAI, "CE1-A", "CE1")
    return with_student, empty


def test_r10_attachment_pending_until_a_student_arrives(engine: Engine) -> None:
    with engine.begin() as conn:
        with_student, empty = setup(conn)
        result = request_attachments(
            conn,
            requests(
                ("T1", with_student),
                ("T1", empty),
                ("T2", class_id(NEW, UAI, "CM2-Z")),
                ("NOBODY", with_student),
                ("P1", with_student),
                ("T9", with_student),
                ("T2", "not-a-class"),
            ),
            "run-1",
            NOW,
        )
    assert set(result.attached.select("teacher_external_id", "class_external_id").rows()) == {
        ("T1", with_student)
    }
    reasons = {(r[0], r[1]): r[2] for r in result.pending.rows()}
    assert reasons[("T1", empty)] == NO_STUDENT
    assert "not in the ENT yet" in reasons[("T2", class_id(NEW, UAI, "CM2-Z"))]
    assert "missing" in reasons[("T9", with_student)]
    refused = {(r[0], r[1]): r[2] for r in result.refused.rows()}
    assert "no person" in refused[("NOBODY", with_student)]
    assert "not a teacher" in refused[("P1", with_student)]
    assert "not a class id" in refused[("T2", "not-a-class")]
    assert not result.all_attached
    with engine.connect() as conn:
        assert teacher_links(conn) == {("T1", with_student, "manual")}
        assert group_members(conn, class_group_id(with_student, "teachers")) == {"T1"}
        assert group_members(conn, class_group_id(empty, "teachers")) == set()
        assert set(pending(conn)) == set(reasons)
    # nothing changes while the class has no student
    with engine.begin() as conn:
        again = apply_pending_attachments(conn, NEW, "run-2", LATER)
    assert again.attached.is_empty()
    # a student arrives: the pending attachment is applied by itself
    with engine.begin() as conn:
        add_students(conn, NEW, UAI, "CE1-A", "CE1", 1)
        after = apply_pending_attachments(conn, NEW, "run-3", LATER)
    assert after.attached.select("teacher_external_id", "class_external_id").rows() == [
        ("T1", empty)
    ]
    with engine.connect() as conn:
        assert ("T1", empty, "manual") in teacher_links(conn)
        assert group_members(conn, class_group_id(empty, "teachers")) == {"T1"}
        assert ("T1", empty) not in pending(conn)
        logged = conn.scalar(
            select(schema.change_log.c.entity_id).where(
                schema.change_log.c.run_id == "run-3",
                schema.change_log.c.entity == "user_class",
            )
        )
    assert logged == f"T1|{empty}"
    # asking again is harmless: already attached, no second link, no log
    with engine.begin() as conn:
        repeat = request_attachments(conn, requests(("T1", empty)), "run-4", LATER)
        assert repeat.attached["reason"].to_list() == ["already attached"]
        assert (
            conn.scalar(
                select(schema.change_log.c.change_id).where(schema.change_log.c.run_id == "run-4")
            )
            is None
        )


def test_r10_whole_team_to_every_class(engine: Engine) -> None:
    with engine.begin() as conn:
        with_student, empty = setup(conn)
        result = attach_school_team(conn, UAI, NEW, "run-1", NOW)
    # the whole teaching team (feed link, present teachers) to every class of the school year
    assert set(result.attached.select("teacher_external_id", "class_external_id").rows()) == {
        ("T1", with_student),
        ("T2", with_student),
    }
    assert set(result.pending.select("teacher_external_id", "class_external_id").rows()) == {
        ("T1", empty),
        ("T2", empty),
    }
    assert result.refused.is_empty()


def test_r10_a_class_id_that_cannot_exist_is_refused_with_its_reason(engine: Engine) -> None:
    """Only a well-formed class of the current year whose school the ENT knows may wait for
    its first pupil; a malformed id, an unknown school or a closed year is refused."""
    closed = "2023-2024"
    with engine.begin() as conn:
        setup(conn)
        conn.execute(
            schema.school_years.insert(),
            [
                {"school_year": closed, "phase": "frozen", "frozen_at": NOW},
                {"school_year": NEW, "phase": "family-import", "frozen_at": None},
            ],
        )
        add_class(conn, closed, UAI, "CP-Z", "CP")
        asked = requests(
            ("T1", "CP-A"),
            ("T1", class_id(NEW, "0599999X", "CP-A")),
            ("T1", class_id(closed, UAI, "CP-Z")),
            ("T1", class_id("2031-2032", UAI, "CP-A")),
            ("T2", class_id(NEW, UAI, "CM2-B")),
        )
        result = request_attachments(conn, asked, "run-1", NOW)
        refused = {r["class_external_id"]: r["reason"] for r in result.refused.to_dicts()}
        assert "not a class id" in refused["CP-A"]
        assert "no school with this class id's UAI" in refused[class_id(NEW, "0599999X", "CP-A")]
        assert f"not of the current school year ({NEW})" in refused[class_id(closed, UAI, "CP-Z")]
        assert "not of the current school year" in refused[class_id("2031-2032", UAI, "CP-A")]
        # a well-formed class of the current year, not in the ENT yet: it waits (R10)
        assert pending(conn) == {("T2", class_id(NEW, UAI, "CM2-B")): UNKNOWN_CLASS}
