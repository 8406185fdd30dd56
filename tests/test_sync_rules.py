"""Plan and apply, rule by rule (domain.md), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sync_frames import (
    CLOSING,
    NEW,
    deleted,
    delivery,
    modified,
    relative,
    school,
    staff,
    student,
)

from rentree.infra.errors import DatabaseError
from rentree.infra.naming import class_group_id, class_id, school_group_id
from rentree.tasks.intake.stage import StagedDelivery
from rentree.tasks.sync.apply import apply_change_set, directory_fingerprint
from rentree.tasks.sync.changeset import ChangeSet
from rentree.tasks.sync.plan import plan_delivery

NOW = datetime(2024, 9, 5, 2, 0, tzinfo=UTC)
A, B = "0590001A", "0590002B"
SCHOOLS = [school("SA", A), school("SB", B, kind="maternelle")]


def run(engine: Engine, staged: StagedDelivery, today: date = date(2024, 9, 5)) -> ChangeSet:
    with engine.begin() as conn:
        cs = plan_delivery(conn, staged, today=today)
        apply_change_set(conn, cs, f"run-{staged.delivery}", NOW)
    return cs


def pupils_on_4_september(*pupils: dict[str, Any], **options: Any) -> StagedDelivery:
    """The new year's family delivery of 4 September holding only these pupils."""
    return delivery(NEW, date(2024, 9, 4), {"Eleve": list(pupils)}, **options)


def plan(engine: Engine, staged: StagedDelivery, today: date = date(2024, 9, 5)) -> ChangeSet:
    with engine.connect() as conn:
        return plan_delivery(conn, staged, today=today)


def rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def members(engine: Engine, group_id: str) -> set[str]:
    found = rows(
        engine, "SELECT user_external_id FROM group_members WHERE group_id = :g", g=group_id
    )
    return {r[0] for r in found}


def closing_families(engine: Engine) -> None:
    run(
        engine,
        delivery(
            CLOSING,
            date(2023, 9, 10),
            {
                "EtabEducNat": SCHOOLS,
                "Eleve": [
                    student(
                        "E1",
                        "1111111111A",
                        "Durand",
                        "Élodie",
                        "SA",
                        "CM2",
                        "CM2",
                        relatives=["R1"],
                    ),
                    student(
                        "E2",
                        "2222222222B",
                        "Petit",
                        "Léo",
                        "SA",
                        "CP-A",
                        "CP",
                        relatives=["R1", "R2"],
                    ),
                    student(
                        "E3", "3333333333C", "Martin", "Inès", "SB", "GS", "GS", relatives=["R3"]
                    ),
                ],
                "PersRelEleve": [
                    relative("R1", "Durand", "Anne"),
                    relative("R2", "Petit", "Marc"),
                    relative("R3", "Martin", "Zoé"),
                ],
            },
        ),
        today=date(2023, 9, 10),
    )


def test_r1_identity_continuity_keeps_account_when_student_id_changes(engine: Engine) -> None:
    closing_families(engine)
    login_before = rows(engine, "SELECT login FROM users WHERE external_id = 'E2'")[0][0]
    new_year = delivery(
        NEW,
        date(2024, 9, 4),
        {
            "Eleve": [
                # same INE as E2 under a new feed id: the same account (R1)
                student(
                    "E2-NEW",
                    "2222222222B",
                    "Petit",
                    "Léo",
                    "SA",
                    "CE1-A",
                    "CE1",
                    relatives=["R1", "R2"],
                ),
            ]
        },
    )
    cs = run(engine, new_year)
    assert cs.users_created.is_empty()
    assert rows(engine, "SELECT count(*) FROM users WHERE profile = 'Student'")[0][0] == 3
    assert rows(
        engine, "SELECT login, level, missing_since FROM users WHERE external_id = 'E2'"
    ) == [(login_before, "CE1", None)]
    assert rows(
        engine, "SELECT user_external_id FROM user_feed_ids WHERE feed_external_id = 'E2-NEW'"
    ) == [("E2",)]
    assert rows(
        engine,
        "SELECT class_external_id FROM user_classes "
        "WHERE user_external_id = 'E2' AND school_year = :y",
        y=NEW,
    ) == [(class_id(NEW, A, "CE1-A"),)]
    # a later Delta naming the new id reaches the same account
    cs = run(engine, delivery(NEW, date(2024, 9, 6), {"Eleve": [deleted("E2-NEW")]}, mode="Delta"))
    assert cs.users_missing["external_id"].to_list() == ["E2"]


def test_r2_federated_accounts_get_no_login_and_local_ones_do(engine: Engine) -> None:
    closing_families(engine)
    run(
        engine,
        delivery(NEW, date(2024, 8, 26), {"PersEducNat": [staff("T1", "Roux", "Paul", ["SA"])]}),
    )
    found = dict(
        (r[0], r[1:])
        for r in rows(
            engine,
            "SELECT external_id, identity, login, activation_code, activation_state FROM users",
        )
    )
    assert found["T1"] == ("academic_sso", None, None, "none")
    assert found["R1"] == ("educonnect", None, None, "none")
    identity, login, code, state = found["E1"]
    assert (identity, login, state) == ("local", "elodie.durand", "pending")
    assert code is not None and len(code) == 8


def test_r2_existing_students_keep_their_login(engine: Engine) -> None:
    closing_families(engine)
    before = rows(engine, "SELECT external_id, login, activation_code FROM users ORDER BY 1")
    run(
        engine,
        pupils_on_4_september(
            student("E1", "1111111111A", "Durand-Roy", "Élodie", "SA", "CM1", "CM1"),
            mode="Delta",
        ),
    )
    after = rows(engine, "SELECT external_id, login, activation_code FROM users ORDER BY 1")
    assert after == before
    assert rows(engine, "SELECT last_name FROM users WHERE external_id = 'E1'") == [("Durand-Roy",)]


def test_r3_login_gets_numeric_suffix_when_taken(engine: Engine) -> None:
    closing_families(engine)
    cs = run(
        engine,
        pupils_on_4_september(
            student("E8", "8888888888A", "DURAND", "Elodie", "SA", "CP-A", "CP"),
            student("E9", "9999999999A", "Durand", "Élodie", "SB", "PS", "PS"),
            mode="Delta",
        ),
    )
    logins = dict(cs.users_created.select("external_id", "login").iter_rows())
    assert logins == {"E8": "elodie.durand2", "E9": "elodie.durand3"}


def test_r8_staff_import_keeps_manual_links_and_makes_no_class_link(engine: Engine) -> None:
    closing_families(engine)
    run(
        engine,
        delivery(
            CLOSING,
            date(2023, 9, 1),
            {
                "PersEducNat": [
                    staff("T1", "Roux", "Paul", ["SA"]),
                    staff("P1", "Blanc", "Lou", ["SA"], teacher=False),
                ]
            },
        ),
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_structures (user_external_id, structure_uai, source, director) "
                "VALUES ('T1', '0590002B', 'manual', false)"
            )
        )
    families_before = rows(
        engine,
        "SELECT us.user_external_id, us.structure_uai, us.source FROM user_structures us "
        "JOIN users u ON u.external_id = us.user_external_id "
        "WHERE u.profile IN ('Student', 'Relative') ORDER BY 1, 2",
    )
    cs = run(
        engine,
        delivery(
            NEW,
            date(2024, 8, 26),
            {
                "PersEducNat": [
                    staff("T1", "Roux", "Paul", ["SB"], director_of=["SB"]),
                    staff("P1", "Blanc", "Lou", ["SA"], teacher=False),
                ]
            },
        ),
    )
    assert rows(
        engine,
        "SELECT structure_uai, source, director FROM user_structures "
        "WHERE user_external_id = 'T1' ORDER BY 1",
    ) == [(B, "manual", False)]
    # the manual link survives; the feed move to B is not duplicated over it, A is cut
    assert cs.structure_links_cut.rows() == [("T1", A)]
    assert cs.class_links_made.is_empty()
    assert rows(
        engine,
        "SELECT count(*) FROM user_classes uc JOIN users u ON u.external_id = uc.user_external_id "
        "WHERE u.profile IN ('Teacher', 'Personnel')",
    ) == [(0,)]
    families_after = rows(
        engine,
        "SELECT us.user_external_id, us.structure_uai, us.source FROM user_structures us "
        "JOIN users u ON u.external_id = us.user_external_id "
        "WHERE u.profile IN ('Student', 'Relative') ORDER BY 1, 2",
    )
    assert families_after == families_before
    assert members(engine, school_group_id(NEW, B, "teachers")) == {"T1"}
    assert members(engine, school_group_id(NEW, A, "staff")) == {"P1"}
    assert members(engine, school_group_id(NEW, A, "teachers")) == set()


def test_r8_director_flag_follows_the_feed(engine: Engine) -> None:
    run(engine, delivery(NEW, date(2024, 8, 20), {"EtabEducNat": SCHOOLS}))
    run(
        engine,
        delivery(
            NEW,
            date(2024, 8, 26),
            {"PersEducNat": [staff("T1", "Roux", "Paul", ["SA", "SB"], director_of=["SB"])]},
        ),
    )
    assert rows(
        engine,
        "SELECT structure_uai, director FROM user_structures "
        "WHERE user_external_id = 'T1' ORDER BY 1",
    ) == [(A, False), (B, True)]
    run(
        engine,
        delivery(
            NEW, date(2024, 8, 27), {"PersEducNat": [staff("T1", "Roux", "Paul", ["SA", "SB"])]}
        ),
    )
    assert rows(
        engine,
        "SELECT structure_uai, director FROM user_structures "
        "WHERE user_external_id = 'T1' ORDER BY 1",
    ) == [(A, False), (B, False)]


def test_family_import_moves_students_and_builds_classes_and_groups(engine: Engine) -> None:
    closing_families(engine)
    run(
        engine,
        delivery(
            NEW,
            date(2024, 9, 4),
            {
                "EtabEducNat": SCHOOLS,
                "Eleve": [
                    student(
                        "E2", "2222222222B", "Petit", "Léo", "SB", "MIX", "CE1", relatives=["R2"]
                    ),
                    student(
                        "E4", "4444444444D", "Roy", "Lina", "SB", "MIX", "CP", relatives=["R2"]
                    ),
                ],
                "PersRelEleve": [relative("R2", "Petit", "Marc"), relative("R1", "Durand", "Anne")],
            },
        ),
    )
    mix = class_id(NEW, B, "MIX")
    assert rows(engine, "SELECT levels FROM classes WHERE external_id = :c", c=mix) == [("CP,CE1",)]
    assert rows(
        engine, "SELECT structure_uai FROM user_structures WHERE user_external_id = 'E2'"
    ) == [(B,)]
    assert rows(
        engine, "SELECT relative_external_id FROM relations WHERE student_external_id = 'E2'"
    ) == [("R2",)]
    # relatives' schools are their children's: R1 has no child present any more except E1
    assert rows(
        engine, "SELECT structure_uai FROM user_structures WHERE user_external_id = 'R2'"
    ) == [(B,)]
    assert members(engine, class_group_id(mix, "students")) == {"E2", "E4"}
    assert members(engine, class_group_id(mix, "relatives")) == {"R2"}
    assert members(engine, school_group_id(NEW, B, "students")) == {"E2", "E4"}
    assert members(engine, school_group_id(NEW, B, "relatives")) == {"R2"}
    assert members(engine, class_group_id(mix, "teachers")) == set()
    assert rows(
        engine, "SELECT count(*) FROM groups WHERE group_id = :g", g=class_group_id(mix, "teachers")
    ) == [(1,)]
    # last year's class links and groups are left as they were
    assert members(engine, school_group_id(CLOSING, A, "students")) == {"E1", "E2"}


def test_r11_absent_from_complete_is_marked_missing_then_back(engine: Engine) -> None:
    closing_families(engine)
    new_year = pupils_on_4_september(
        student("E2", "2222222222B", "Petit", "Léo", "SA", "CE1", "CE1")
    )
    cs = run(engine, new_year, today=date(2024, 9, 4))
    missing = {r["external_id"]: r for r in cs.users_missing.iter_rows(named=True)}
    assert set(missing) == {"E1", "E3"}
    # E1 was in CM2 of a primaire, E3 in GS of a maternelle: both expected leavers
    assert missing["E1"]["expected_leaver"] and missing["E3"]["expected_leaver"]
    assert missing["E1"]["structure_uai"] == A
    marked = rows(
        engine,
        "SELECT external_id, missing_since FROM users WHERE missing_since IS NOT NULL ORDER BY 1",
    )
    assert [(i, str(d)) for i, d in marked] == [("E1", "2024-09-04"), ("E3", "2024-09-04")]
    # nothing deleted; links kept
    assert rows(engine, "SELECT count(*) FROM users WHERE profile = 'Student'") == [(3,)]
    assert rows(
        engine, "SELECT structure_uai FROM user_structures WHERE user_external_id = 'E1'"
    ) == [(A,)]
    # a second complete delivery does not re-date the mark
    again = delivery(
        NEW,
        date(2024, 9, 6),
        {"Eleve": [student("E2", "2222222222B", "Petit", "Léo", "SA", "CE1", "CE1")]},
    )
    cs = run(engine, again, today=date(2024, 9, 6))
    assert cs.users_missing.is_empty()
    back = delivery(
        NEW,
        date(2024, 9, 9),
        {
            "Eleve": [
                student("E2", "2222222222B", "Petit", "Léo", "SA", "CE1", "CE1"),
                student("E1", "1111111111A", "Durand", "Élodie", "SA", "CM2", "CM2"),
            ]
        },
    )
    cs = run(engine, back, today=date(2024, 9, 9))
    assert cs.users_back["external_id"].to_list() == ["E1"]
    assert rows(engine, "SELECT missing_since FROM users WHERE external_id = 'E1'") == [(None,)]


def test_r11_rejected_records_are_not_marked_missing(engine: Engine) -> None:
    closing_families(engine)
    staged = pupils_on_4_september(
        student("E2", "2222222222B", "Petit", "Léo", "SA", "CE1", "CE1"),
        rejected=["E1"],
    )
    cs = plan(engine, staged)
    assert cs.users_missing["external_id"].to_list() == ["E3"]


def test_r11_unexpected_missing_is_not_an_expected_leaver(engine: Engine) -> None:
    closing_families(engine)
    cs = plan(
        engine,
        pupils_on_4_september(student("E1", "1111111111A", "Durand", "Élodie", "SA", "CM2", "CM2")),
    )
    missing = dict(cs.users_missing.select("external_id", "expected_leaver").iter_rows())
    assert missing == {"E2": False, "E3": True}
    assert cs.summary()["missing_unexpected"] == 1


def test_delta_modify_replaces_only_named_attributes(engine: Engine) -> None:
    closing_families(engine)
    modify = modified(relative("R1", "", "", email="anne@example.org"), "ENTPersonMail")
    cs = run(engine, delivery(CLOSING, date(2023, 10, 1), {"PersRelEleve": [modify]}, mode="Delta"))
    assert cs.users_updated.select("external_id", "changed").rows() == [("R1", ["email"])]
    assert rows(
        engine, "SELECT first_name, last_name, email FROM users WHERE external_id = 'R1'"
    ) == [("Anne", "Durand", "anne@example.org")]
    # a Delta marks nobody missing for being absent
    assert cs.users_missing.is_empty()


def test_delta_modify_of_classes_moves_only_the_class_link(engine: Engine) -> None:
    closing_families(engine)
    modify = modified(student("E2", "", "", "", None, "CP-B", None), "ENTPersonClasses")
    cs = run(engine, delivery(CLOSING, date(2023, 10, 1), {"Eleve": [modify]}, mode="Delta"))
    assert cs.class_links_made["class_external_id"].to_list() == [class_id(CLOSING, A, "CP-B")]
    assert cs.relations_cut.is_empty() and cs.structure_links_cut.is_empty()
    assert rows(engine, "SELECT level, last_name FROM users WHERE external_id = 'E2'") == [
        ("CP", "Petit")
    ]


def test_delta_delete_marks_missing(engine: Engine) -> None:
    closing_families(engine)
    cs = run(
        engine,
        delivery(CLOSING, date(2023, 10, 1), {"Eleve": [deleted("E3")]}, mode="Delta"),
        today=date(2023, 10, 1),
    )
    assert cs.users_missing["external_id"].to_list() == ["E3"]
    assert [
        str(r[0]) for r in rows(engine, "SELECT missing_since FROM users WHERE external_id = 'E3'")
    ] == ["2023-10-01"]
    assert rows(engine, "SELECT count(*) FROM users WHERE external_id = 'E3'") == [(1,)]


def test_rerun_same_delivery_is_empty(engine: Engine) -> None:
    closing_families(engine)
    staged = delivery(
        NEW,
        date(2024, 9, 4),
        {
            "EtabEducNat": SCHOOLS,
            "PersEducNat": [staff("T1", "Roux", "Paul", ["SA"], director_of=["SA"])],
            "Eleve": [
                student(
                    "E2", "2222222222B", "Petit", "Léo", "SB", "MIX", "CE1", relatives=["R2", "R9"]
                )
            ],
            "PersRelEleve": [relative("R2", "Petit", "Marc")],
        },
    )
    run(engine, staged)
    snapshot = {
        t: rows(engine, f"SELECT * FROM {t} ORDER BY 1, 2")
        for t in (
            "users",
            "user_structures",
            "user_classes",
            "relations",
            "classes",
            "groups",
            "group_members",
        )
    }
    again = plan(engine, staged, today=date(2024, 9, 7))
    assert again.is_empty(), {k: v for k, v in again.counts().items() if v}
    run(engine, staged, today=date(2024, 9, 7))
    assert snapshot == {t: rows(engine, f"SELECT * FROM {t} ORDER BY 1, 2") for t in snapshot}


def test_apply_is_one_transaction(engine: Engine) -> None:
    closing_families(engine)
    staged = delivery(
        NEW,
        date(2024, 9, 4),
        {
            "EtabEducNat": [*SCHOOLS, school("SC", "0590003C")],
            "Eleve": [student("E5", "5555555555E", "Roy", "Lina", "SC", "CP", "CP")],
        },
    )
    before = {
        t: rows(engine, f"SELECT count(*) FROM {t}")
        for t in ("structures", "users", "groups", "change_log", "feed_files")
    }
    with engine.connect() as conn:
        cs = plan_delivery(conn, staged, today=date(2024, 9, 4))
    # a unique violation midway: the new student's login already belongs to a Guest now
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (external_id, profile, source, identity, login, first_name, "
                "last_name, activation_state) VALUES ('G1', 'Guest', 'manual', 'local', "
                "'lina.roy', 'Lina', 'Roy', 'active')"
            )
        )
    before["users"] = [(before["users"][0][0] + 1,)]
    # COPY on PostgreSQL and executemany on SQLite: one sentence, no value of the rows
    with pytest.raises(DatabaseError, match=r"unique|UNIQUE") as caught, engine.begin() as conn:
        apply_change_set(conn, cs, "run-x", NOW)
    assert "lina.roy" not in str(caught.value).lower() and caught.value.kind == "IntegrityError"
    after = {t: rows(engine, f"SELECT count(*) FROM {t}") for t in before}
    assert after == before


def test_fingerprint_moves_with_the_directory(engine: Engine) -> None:
    with engine.connect() as conn:
        first = directory_fingerprint(conn, NEW)
        assert directory_fingerprint(conn, NEW) == first
    closing_families(engine)
    with engine.connect() as conn:
        assert directory_fingerprint(conn, NEW) != first


def test_apply_logs_every_change_and_records_files(engine: Engine) -> None:
    closing_families(engine)
    staged = delivery(
        NEW, date(2024, 8, 26), {"PersEducNat": [staff("T1", "Roux", "Paul", ["SA"])]}
    )
    cs = run(engine, staged)
    changes = sum(cs.counts().values())
    assert rows(engine, "SELECT count(*) FROM change_log WHERE run_id = 'run-20240826'") == [
        (changes,)
    ]
    assert rows(
        engine,
        "SELECT status, run_id FROM feed_files WHERE content_hash = :h",
        h=staged.files[0].content_hash,
    ) == [("applied", "run-20240826")]
    # activation codes are secrets: never in the log
    codes = [
        r[0]
        for r in rows(engine, "SELECT activation_code FROM users WHERE activation_code IS NOT NULL")
    ]
    logged = " ".join(str(r[0]) for r in rows(engine, "SELECT after FROM change_log"))
    assert codes and not any(code in logged for code in codes)


def test_r11_missing_marks_limited_to_the_schools_of_a_partial_import(engine: Engine) -> None:
    closing_families(engine)
    staged = pupils_on_4_september(
        student("E1", "1111111111A", "Durand", "Élodie", "SA", "CM2", "CM2")
    )
    with engine.connect() as conn:
        cs = plan_delivery(conn, staged, today=date(2024, 9, 4), schools=[B])
    assert cs.users_missing["external_id"].to_list() == ["E3"]
