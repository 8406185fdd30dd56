"""R1 in every delivery, whatever its position: through the real import (route, stage, plan,
apply) on hand-written AAF deliveries, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, text

from rentree.infra import schema
from rentree.infra.db import insert_frame
from rentree.infra.naming import class_id, landing_key
from rentree.infra.settings import Settings
from rentree.infra.storage import LocalStore
from rentree.tasks.imports.delivery import import_delivery
from rentree.tasks.imports.outcome import ImportOutcome
from rentree.tasks.rules.attachments.apply import request_attachments
from rentree.tasks.rules.years import freeze_year, record_onde_switch
from tests import aaf_samples as aaf
from tests.sync_builders import CLOSING, NEW

SETTINGS = Settings(database_url="sqlite://", storage_url="unused")
SA, UA = "SA", "0590001A"  # élémentaire: its entry level is CP
SB, UB = "SB", "0590002B"  # maternelle
SCHOOLS = [
    aaf.school(SA, UA, "École Pasteur", "ECOLE ELEMENTAIRE"),
    aaf.school(SB, UB, "École des Lilas", "ECOLE MATERNELLE"),
]
AUGUST = datetime(2024, 8, 26, 2, 0, tzinfo=UTC)
SEPTEMBER = datetime(2024, 9, 3, 2, 0, tzinfo=UTC)
LATE = datetime(2024, 9, 10, 2, 0, tzinfo=UTC)


def pupil(pid: str, ine: str, school: str, code: str, level: str, born: str, rel: str) -> str:
    return aaf.student(
        pid,
        ine,
        f"Nom{pid}",
        f"Prénom{pid}",
        struct=school,
        class_code=code,
        level=level,
        birth=born,
        relatives=(rel,),
    )


INES = {"E1": "1000000001A", "E2": "1000000002A", "E3": "1000000003A", "E4": "1000000004A"}
CLOSING_PUPILS = [
    pupil("E1", INES["E1"], SA, "CE1-A", "CE1", "10/02/2016", "R1"),
    pupil("E2", INES["E2"], SA, "CP-A", "CP", "10/02/2017", "R2"),
    pupil("E3", INES["E3"], SB, "GS-A", "GS", "10/02/2018", "R3"),
    pupil("E4", INES["E4"], SB, "PS-A", "PS", "10/02/2020", "R4"),
]


def relatives(*ids: str) -> list[str]:
    return [aaf.relative(r, f"Nom{r}", f"Parent{r}") for r in ids]


def families(pupils: Sequence[str], *relative_ids: str) -> dict[str, Sequence[str]]:
    """A complete family delivery's files: both schools, these pupils, these relatives."""
    return {"EtabEducNat": SCHOOLS, "Eleve": pupils, "PersRelEleve": relatives(*relative_ids)}


def land(
    store: LocalStore, year: str, day: str, files: dict[str, Sequence[str]], mode: str = "Complet"
) -> None:
    for file_type, records in files.items():
        key = landing_key(year, aaf.name(file_type, day, mode=mode))
        store.write_bytes(key, aaf.document(records))


def imported(
    engine: Engine, store: LocalStore, year: str, day: str, now: datetime
) -> ImportOutcome:
    outcome = import_delivery(engine, store, SETTINGS, year, day, run_id=f"run-{day}", now=now)
    assert outcome.status == "applied", outcome.reason
    return outcome


def rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def validation_report(store: LocalStore, outcome: ImportOutcome) -> pl.DataFrame:
    name = f"validation-report_{outcome.delivery}.parquet"
    key = next(k for k in outcome.report_keys if k.endswith(name))
    return pl.read_parquet(store.root / key)


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    local = LocalStore(tmp_path / "storage")
    local.ensure_layout()
    return local


def closing_year(engine: Engine, store: LocalStore) -> None:
    land(store, CLOSING, "20230911", families(CLOSING_PUPILS, "R1", "R2", "R3", "R4"))
    imported(engine, store, CLOSING, "20230911", datetime(2023, 9, 11, 2, tzinfo=UTC))


def until_the_late_entries(engine: Engine, store: LocalStore) -> tuple[str, list[str]]:
    """The closing year (E3 in GS at the maternelle owns a document shared with E1), the
    freeze, the staff, the switch, the teacher's request for the CP class (pending: no pupil
    yet) and the first family delivery without CP nor E3. Returns E3's login and the pupils of
    that delivery."""
    closing_year(engine, store)
    login = rows(engine, "SELECT login FROM users WHERE external_id = 'E3'")[0][0]
    with engine.begin() as conn:
        insert_frame(
            conn,
            schema.resources,
            pl.DataFrame(
                [
                    {
                        "resource_id": "doc-E3",
                        "owner_external_id": "E3",
                        "app": "workspace",
                        "area": "own",
                        "size_bytes": 1000,
                    }
                ]
            ),
        )
        insert_frame(
            conn,
            schema.shares,
            pl.DataFrame(
                [
                    {
                        "resource_id": "doc-E3",
                        "recipient_kind": "user",
                        "recipient_id": "E1",
                        "rights": "read",
                    }
                ]
            ),
        )
        freeze_year(conn, CLOSING, AUGUST)
    land(
        store,
        NEW,
        "20240826",
        {"EtabEducNat": SCHOOLS[:1], "PersEducNat": [aaf.staff("T1", structs=(SA,))]},
    )
    imported(engine, store, NEW, "20240826", AUGUST)
    cp = class_id(NEW, UA, "CP-A")
    with engine.begin() as conn:
        record_onde_switch(conn, NEW, "detected", SEPTEMBER)
        asked = request_attachments(
            conn,
            pl.DataFrame({"teacher_external_id": ["T1"], "class_external_id": [cp]}),
            "attach",
            SEPTEMBER,
        )
    assert asked.pending.height == 1

    # first family delivery: no CP at the élémentaire yet (late entry), E3 absent
    first = [
        pupil("E1", INES["E1"], SA, "CE2-A", "CE2", "10/02/2016", "R1"),
        pupil("E2", INES["E2"], SA, "CE1-A", "CE1", "10/02/2017", "R2"),
        pupil("E4", INES["E4"], SB, "MS-A", "MS", "10/02/2020", "R4"),
        pupil("E7", "1000000007B", SB, "PS-A", "PS", "10/02/2021", "R4"),
    ]
    land(store, NEW, "20240903", families(first, "R1", "R2", "R4"))
    outcome = imported(engine, store, NEW, "20240903", SEPTEMBER)
    assert outcome.late_entries == 1
    assert rows(engine, "SELECT missing_since IS NOT NULL FROM users WHERE external_id = 'E3'") == [
        (True,)
    ]
    return login, first


def test_late_re_registration_keeps_the_account_and_applies_the_late_entries(
    engine: Engine, store: LocalStore
) -> None:
    """E3 leaves the maternelle in GS and comes back in CP of the élémentaire, re-registered
    in ONDE with a new feed id and the same INE, with the late entries of the second complete
    family delivery of the new year: same account (login, productions, shares), the late entry
    arrives and the teacher's pending attachment to the CP class is applied (R1, R10, R12)."""
    login, first = until_the_late_entries(engine, store)
    cp = class_id(NEW, UA, "CP-A")
    # second complete delivery: the late entries, E3 under a new id with the same INE
    late = [
        *first,
        pupil("ONDE-77", INES["E3"], SA, "CP-A", "CP", "10/02/2018", "R3"),
        pupil("E5", "1000000005A", SA, "CP-A", "CP", "10/02/2018", "R5"),
    ]
    land(store, NEW, "20240910", families(late, "R1", "R2", "R3", "R4", "R5"))
    outcome = imported(engine, store, NEW, "20240910", LATE)
    assert outcome.counts["users_created"] == 2  # E5 and R5, nobody else
    assert outcome.counts["identities_linked"] == 1
    assert rows(engine, "SELECT count(*) FROM users WHERE external_id = 'ONDE-77'") == [(0,)]
    assert rows(
        engine, "SELECT login, level, missing_since FROM users WHERE external_id = 'E3'"
    ) == [(login, "CP", None)]
    assert rows(engine, "SELECT user_external_id FROM user_feed_ids") == [("E3",)]
    assert rows(engine, "SELECT owner_external_id FROM resources") == [("E3",)]
    assert rows(engine, "SELECT recipient_id FROM shares WHERE resource_id = 'doc-E3'") == [("E1",)]
    assert set(
        rows(
            engine,
            "SELECT user_external_id, source FROM user_classes WHERE class_external_id = :c",
            c=cp,
        )
    ) == {("E3", "feed"), ("E5", "feed"), ("T1", "manual")}
    assert rows(
        engine, "SELECT structure_uai FROM user_structures WHERE user_external_id = 'E3'"
    ) == [(UA,)]
    assert rows(engine, "SELECT count(*) FROM pending_attachments") == [(0,)]
    assert outcome.late_entries == 0
    assert rows(engine, "SELECT count(*) FROM late_entries WHERE resolved_at IS NULL") == [(0,)]
    # a later Delta naming the new id reaches the same account, and the mark comes back off
    land(
        store,
        NEW,
        "20240917",
        {"Eleve": [aaf.record("Eleve", "ONDE-77", operation="delete")]},
        mode="Delta",
    )
    imported(engine, store, NEW, "20240917", LATE)
    assert rows(engine, "SELECT missing_since IS NOT NULL FROM users WHERE external_id = 'E3'") == [
        (True,)
    ]
    land(store, NEW, "20240918", {"Eleve": [late[4]]}, mode="Delta")
    outcome = imported(engine, store, NEW, "20240918", LATE)
    assert outcome.counts["users_back"] == 1 and outcome.counts["users_created"] == 0
    assert rows(engine, "SELECT missing_since FROM users WHERE external_id = 'E3'") == [(None,)]


def test_a_run_for_the_late_school_only_brings_the_re_registered_pupil_back(
    engine: Engine, store: LocalStore
) -> None:
    """The manual re-run for the school with the late entries: the returning pupil's mark
    clears and their level changes with their new links, so that the late entry is resolved
    and the teacher's pending attachment applies (R1, R10, R12)."""
    _, first = until_the_late_entries(engine, store)
    late = [*first, pupil("ONDE-77", INES["E3"], SA, "CP-A", "CP", "10/02/2018", "R3")]
    land(store, NEW, "20240910", families(late, "R1", "R2", "R3", "R4"))
    outcome = import_delivery(
        engine, store, SETTINGS, NEW, "20240910", run_id="late", now=LATE, schools=[UA]
    )
    assert outcome.status == "applied", outcome.reason
    assert rows(engine, "SELECT level, missing_since FROM users WHERE external_id = 'E3'") == [
        ("CP", None)
    ]
    cp = class_id(NEW, UA, "CP-A")
    linked = "SELECT user_external_id FROM user_classes WHERE class_external_id = :c"
    assert set(rows(engine, linked, c=cp)) == {("E3",), ("T1",)}
    assert rows(engine, "SELECT count(*) FROM pending_attachments") == [(0,)]
    assert outcome.late_entries == 0


def test_delta_re_registration_deletes_the_old_id_and_adds_the_new_one(
    engine: Engine, store: LocalStore
) -> None:
    """A Delta that deletes the old id and adds the new id (same INE) keeps the person present
    in the same account: the delete of an account named alive in the delivery is dropped."""
    closing_year(engine, store)
    land(
        store,
        CLOSING,
        "20231002",
        {
            "Eleve": [
                aaf.record("Eleve", "E2", operation="delete"),
                pupil("E2-BIS", INES["E2"], SA, "CP-A", "CP", "10/02/2017", "R2"),
            ]
        },
        mode="Delta",
    )
    outcome = imported(engine, store, CLOSING, "20231002", SEPTEMBER)
    assert outcome.counts["users_created"] == 0 and outcome.counts["users_missing"] == 0
    assert rows(engine, "SELECT missing_since FROM users WHERE external_id = 'E2'") == [(None,)]
    assert rows(engine, "SELECT feed_external_id, user_external_id FROM user_feed_ids") == [
        ("E2-BIS", "E2")
    ]


def test_an_ine_moved_between_two_ids_refuses_both_records_with_the_reason(
    engine: Engine, store: LocalStore
) -> None:
    """E1's INE arrives on a new id while E1's own id comes with another INE: nobody can tell
    which is right, both records are refused (validation report, with the rule), neither
    account is changed nor marked missing, and nothing is created."""
    closing_year(engine, store)
    pupils = [
        pupil("E1", "1000000099A", SA, "CE1-A", "CE1", "10/02/2016", "R1"),
        pupil("NEW-1", INES["E1"], SA, "CE1-A", "CE1", "10/02/2016", "R1"),
        *CLOSING_PUPILS[1:],
    ]
    land(store, CLOSING, "20231002", families(pupils, "R1", "R2", "R3", "R4"))
    before = rows(engine, "SELECT * FROM users WHERE external_id = 'E1'")
    outcome = imported(engine, store, CLOSING, "20231002", SEPTEMBER)
    assert "2 record(s) refused" in outcome.reason
    assert outcome.counts["users_created"] == 0 and outcome.counts["users_missing"] == 0
    assert rows(engine, "SELECT * FROM users WHERE external_id = 'E1'") == before
    assert rows(engine, "SELECT count(*) FROM user_feed_ids") == [(0,)]
    report = validation_report(store, outcome)
    assert sorted(report.select("record_id", "rule", "severity").rows()) == [
        ("E1", "ine_moved", "record"),
        ("NEW-1", "ine_moved", "record"),
    ]
    assert report["support_channel"].to_list() == ["the ENT administrator"] * 2
    assert all("INE" in m for m in report["message_en"].to_list())


def test_a_known_id_carrying_another_accounts_ine_is_refused(
    engine: Engine, store: LocalStore
) -> None:
    closing_year(engine, store)
    land(
        store,
        CLOSING,
        "20231002",
        {"Eleve": [aaf.record("Eleve", "E1", {"ENTEleveINE": INES["E4"]}, operation="modify")]},
        mode="Delta",
    )
    outcome = imported(engine, store, CLOSING, "20231002", SEPTEMBER)
    assert outcome.counts["users_updated"] == 0
    assert rows(engine, "SELECT ine FROM users WHERE external_id = 'E1'") == [(INES["E1"],)]
    assert "1 record(s) refused" in outcome.reason


def test_a_feed_id_taken_by_a_manual_account_or_another_profile_is_refused(
    engine: Engine, store: LocalStore
) -> None:
    """A pupil whose feed id is already a Guest's (manual account) or a relative's id is
    refused with the reason instead of failing the whole apply on the users' primary key;
    the manual account is not touched (R2: never by the feeds)."""
    closing_year(engine, store)
    with engine.begin() as conn:
        insert_frame(
            conn,
            schema.users,
            pl.DataFrame(
                [
                    {
                        "external_id": "G1",
                        "profile": "Guest",
                        "source": "manual",
                        "identity": "local",
                        "login": "famille.accueil",
                        "first_name": "Famille",
                        "last_name": "Accueil",
                        "activation_state": "active",
                    }
                ]
            ),
        )
    guest = rows(engine, "SELECT * FROM users WHERE external_id = 'G1'")
    land(
        store,
        CLOSING,
        "20231002",
        {
            "Eleve": [
                pupil("G1", "1000000007A", SA, "CP-A", "CP", "10/02/2017", "R2"),
                pupil("R1", "1000000008A", SA, "CP-A", "CP", "10/02/2017", "R2"),
                pupil("E6", "1000000006A", SA, "CP-A", "CP", "10/02/2017", "R2"),
            ]
        },
        mode="Delta",
    )
    outcome = imported(engine, store, CLOSING, "20231002", SEPTEMBER)
    assert outcome.counts["users_created"] == 1  # E6 only
    assert rows(engine, "SELECT * FROM users WHERE external_id = 'G1'") == guest
    assert rows(engine, "SELECT profile FROM users WHERE external_id = 'R1'") == [("Relative",)]
    report = validation_report(store, outcome)
    assert sorted(report.select("record_id", "rule").rows()) == [
        ("G1", "id_of_another_account"),
        ("R1", "id_of_another_account"),
    ]


def test_a_modify_of_an_id_nobody_holds_makes_no_link(engine: Engine, store: LocalStore) -> None:
    """Found by the model: a Delta modifying a pupil the directory never got (their add was
    rejected) made school and class links of a person that does not exist."""
    closing_year(engine, store)
    before = rows(engine, "SELECT count(*) FROM user_structures")
    modified = {
        "ENTEleveINE": "1000000009A",
        "ENTPersonStructRattach": SB,
        "ENTPersonClasses": f"{SB}$x$y$MS-A$Classe MS-A",
        "ENTEleveNiveau": "MS",
        "ENTEleveAutoriteParentale": ["R4$1"],
    }
    change = aaf.record("Eleve", "E9", modified, operation="modify")
    land(store, CLOSING, "20231002", {"Eleve": [change]}, mode="Delta")
    outcome = imported(engine, store, CLOSING, "20231002", SEPTEMBER)
    assert not any(outcome.counts.get(k) for k in outcome.counts if k != "change_log")
    assert rows(engine, "SELECT count(*) FROM user_structures") == before
    assert rows(engine, "SELECT count(*) FROM user_classes WHERE user_external_id = 'E9'") == [(0,)]
    assert rows(engine, "SELECT count(*) FROM relations WHERE student_external_id = 'E9'") == [(0,)]
