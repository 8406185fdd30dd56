"""Importing deliveries end to end (route, stage, plan, holds, apply, move), on hand-written
AAF deliveries: dry runs, re-runs, failures, schools filter, R7/R9 through the import."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl
import pytest
from sqlalchemy import Connection, Engine, func, select

from rentree.infra import schema
from rentree.infra.frames import read_table
from rentree.infra.naming import held_prefix, landing_key, landing_prefix, reports_prefix
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore
from rentree.tasks.content.status import directory_status
from rentree.tasks.imports import apply as import_apply
from rentree.tasks.imports import outcome as imports
from rentree.tasks.imports.decisions import approve_hold
from rentree.tasks.imports.delivery import import_delivery
from rentree.tasks.imports.pending import import_pending
from rentree.tasks.rules.holds import get_hold
from rentree.tasks.rules.years import freeze_year, record_onde_switch
from rentree.tasks.sync.apply import directory_fingerprint
from tests import aaf_samples as aaf
from tests.sync_builders import CLOSING, LATER, NEW, NOW

S1, U1 = "S1", "0590001A"
S2, U2 = "S2", "0590002B"
SETTINGS = Settings(database_url="sqlite://", storage_url="unused")
DIRECTORY_TABLES = (
    schema.structures,
    schema.users,
    schema.user_structures,
    schema.user_classes,
    schema.relations,
    schema.classes,
    schema.groups,
    schema.group_members,
)


def pupils(
    school: str, numbers: Sequence[int], level: str = "CE1", code: str = "CE1-A"
) -> list[str]:
    return [
        aaf.student(
            f"E{n:04d}",
            f"{n:010d}A",
            f"Nom{n}",
            f"Prénom{n}",
            struct=school,
            class_code=code,
            level=level,
            birth="15/04/2016",
            relatives=(f"R{n:04d}",),
        )
        for n in numbers
    ]


def relatives(numbers: Sequence[int]) -> list[str]:
    return [aaf.relative(f"R{n:04d}", f"Nom{n}", f"Parent{n}") for n in numbers]


def family_delivery(day: str, s1: Sequence[int], s2: Sequence[int] = ()) -> dict[str, bytes]:
    """Structures, pupils (CE1) of S1 and S2 and their relatives, all complete."""
    return {
        aaf.name("EtabEducNat", day): aaf.document(
            [aaf.school(S1, U1), aaf.school(S2, U2, "École Pasteur", "ECOLE ELEMENTAIRE")]
        ),
        aaf.name("Eleve", day): aaf.document(pupils(S1, s1) + pupils(S2, s2, code="CE1-B")),
        aaf.name("PersRelEleve", day): aaf.document(relatives([*s1, *s2])),
    }


def staff_delivery(day: str) -> dict[str, bytes]:
    return {
        aaf.name("EtabEducNat", day): aaf.document([aaf.school(S1, U1)]),
        aaf.name("PersEducNat", day): aaf.document([aaf.staff("T1", structs=(S1,))]),
    }


def land(store: ObjectStore, year: str, files: dict[str, bytes]) -> list[str]:
    keys = []
    for name, content in files.items():
        key = landing_key(year, name)
        store.write_bytes(key, content)
        keys.append(key)
    return keys


def directory(engine: Engine) -> dict[str, pl.DataFrame]:
    with engine.connect() as conn:
        frames = {t.name: read_table(conn, t) for t in DIRECTORY_TABLES}
    return {
        name: frame.drop([c for c in ("created_at", "updated_at") if c in frame.columns]).sort(
            frame.columns[0], *frame.columns[1:2]
        )
        for name, frame in frames.items()
    }


def count(engine: Engine, table: schema.Table) -> int:  # type: ignore[name-defined]
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def run(engine: Engine, store: ObjectStore, year: str, day: str, **kwargs: object):
    return import_delivery(
        engine, store, SETTINGS, year, day, run_id=f"run-{day}", now=NOW, **kwargs
    )


def test_dry_run_commits_nothing(engine: Engine, store: ObjectStore) -> None:
    keys = land(store, NEW, family_delivery("20240902", range(5)))
    outcome = run(engine, store, NEW, "20240902", dry_run=True)
    assert outcome.status == "dry_run", outcome.reason
    assert outcome.counts["users_created"] == 10
    for table in (*DIRECTORY_TABLES, schema.feed_files, schema.change_log, schema.holds):
        assert count(engine, table) == 0, table.name
    assert all(store.exists(k) for k in keys)
    prefix = reports_prefix(NEW, "family-import", "run-20240902")
    written = store.list(prefix)
    assert any(k.endswith("users_created.parquet") for k in written)
    assert any(k.endswith("summary.json") for k in written)


def test_dry_run_of_a_bad_delivery_leaves_landing_quarantine_and_database(
    engine: Engine, store: ObjectStore
) -> None:
    files = family_delivery("20240902", range(5))
    files[aaf.name("Eleve", "20240902")] = b"this is not XML"
    keys = land(store, NEW, files)
    outcome = run(engine, store, NEW, "20240902", dry_run=True)
    assert outcome.status == "quarantined", outcome.reason
    assert outcome.reason.startswith("Dry run, nothing moved")
    assert {k: store.read_bytes(k) for k in keys} == {
        landing_key(NEW, name): content for name, content in files.items()
    }
    assert store.list("quarantine/") == []
    for table in (*DIRECTORY_TABLES, schema.feed_files, schema.change_log, schema.holds):
        assert count(engine, table) == 0, table.name
    # its report is among the run's reports, and the same delivery really run is quarantined
    assert all(
        k.startswith(reports_prefix(NEW, "family-import", "run-20240902"))
        for k in outcome.report_keys
    )
    assert run(engine, store, NEW, "20240902").status == "quarantined"
    assert not any(store.exists(k) for k in keys)
    assert count(engine, schema.feed_files) == 3


def test_rerun_same_delivery_changes_nothing(engine: Engine, store: ObjectStore) -> None:
    keys = land(store, NEW, family_delivery("20240902", range(5), range(100, 103)))
    first = run(engine, store, NEW, "20240902")
    assert first.status == "applied", first.reason
    assert not any(store.exists(k) for k in keys)
    before = directory(engine)
    logged = count(engine, schema.change_log)
    # the same files land again (a re-sent delivery): nothing changes
    land(store, NEW, family_delivery("20240902", range(5), range(100, 103)))
    again = run(engine, store, NEW, "20240902")
    assert again.status == "already_applied", again.reason
    assert not store.list(landing_prefix(NEW))
    assert (
        import_pending(engine, store, SETTINGS, NEW, imports.FAMILY_IMPORT_TYPES, run_id="r3") == []
    )
    after = directory(engine)
    for name in before:
        assert before[name].equals(after[name]), name
    assert count(engine, schema.change_log) == logged


def test_a_failed_apply_is_set_aside_and_blocks_only_what_depends_on_it(
    engine: Engine, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    schools = family_delivery("20240826", [])
    land(store, NEW, {k: v for k, v in schools.items() if "EtabEducNat" in k})
    assert run(engine, store, NEW, "20240826").status == "applied"
    before = directory(engine)
    families = family_delivery("20240902", range(5))
    keys = land(store, NEW, {k: v for k, v in families.items() if "EtabEducNat" not in k})

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("row E0001 0000000001A Nom1 Prénom1 code ABCD-1234")

    monkeypatch.setattr(import_apply, "late_entry_watch", broken)
    failed = run(engine, store, NEW, "20240902")
    assert failed.status == "failed", failed.reason
    assert "set aside" in failed.reason and "RuntimeError" in failed.reason
    assert "E0001" not in failed.reason and "ABCD" not in failed.reason  # no record value
    # rolled back: the directory is as before, the files wait in landing/, recorded failed
    after_failure = directory(engine)
    for name in before:
        assert before[name].equals(after_failure[name]), name
    with engine.connect() as conn:
        ledger = conn.execute(
            select(schema.feed_files.c.status).where(
                schema.feed_files.c.file_name.in_([k.rsplit("/", 1)[-1] for k in keys])
            )
        ).all()
    assert [r.status for r in ledger] == ["failed", "failed"]
    with engine.connect() as conn:
        shown = directory_status(conn)["school_years"]
    assert [
        (f["delivery"], "RuntimeError" in f["reason"]) for f in shown[0]["failed_deliveries"]
    ] == [("20240902", True)]
    assert all(store.exists(k) for k in keys)
    monkeypatch.undo()
    # the next runs: it stays set aside; a later delivery of other types goes on, a later
    # one of its types waits behind it (applied first, it would leave this one out of order)
    opening = aaf.document([aaf.school("S3", "0590003C", "École Curie")])
    land(store, NEW, {aaf.name("EtabEducNat", "20240905", mode="Delta"): opening})
    land(store, NEW, family_delivery("20240909", range(6)))
    after = import_pending(engine, store, SETTINGS, NEW, imports.FAMILY_IMPORT_TYPES, run_id="n2")
    statuses = {o.delivery: o.status for o in after}
    assert statuses == {"20240902": "failed", "20240905": "applied", "20240909": "skipped"}, [
        o.reason for o in after
    ]
    assert "waits behind the delivery 20240902" in after[-1].reason
    # an operator retries it once the cause is fixed: it applies, then the later Complet
    retried = import_pending(
        engine, store, SETTINGS, NEW, imports.FAMILY_IMPORT_TYPES, run_id="n3", retry_failed=True
    )
    assert [o.status for o in retried] == ["applied", "applied"], [o.reason for o in retried]


def test_a_failed_delivery_whose_files_change_is_tried_again(
    engine: Engine, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    land(store, NEW, family_delivery("20240902", range(5)))

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("broken")

    monkeypatch.setattr(import_apply, "late_entry_watch", broken)
    assert run(engine, store, NEW, "20240902").status == "failed"
    monkeypatch.undo()
    assert run(engine, store, NEW, "20240902").status == "failed"  # the same files: aside
    land(store, NEW, family_delivery("20240902", range(4)))  # delivered again, other content
    assert run(engine, store, NEW, "20240902").status == "applied"
    with engine.connect() as conn:
        statuses = set(conn.scalars(select(schema.feed_files.c.status)))
    assert statuses == {"applied"}


def test_r7_and_r9_through_the_import(engine: Engine, store: ObjectStore) -> None:
    # the first year a directory holds is simply imported
    land(store, CLOSING, family_delivery("20230904", range(3)))
    assert run(engine, store, CLOSING, "20230904").status == "applied"
    with engine.begin() as conn:
        freeze_year(conn, CLOSING, NOW)
    # a closing-year file after the freeze is held (R7)
    land(store, CLOSING, family_delivery("20240705", range(4)))
    frozen = run(engine, store, CLOSING, "20240705")
    assert frozen.status == "held" and "R7" in frozen.reason
    assert len(store.list(held_prefix(CLOSING))) == 2  # the structures file was applied before
    # new year: staff applies, families wait for the switch (R9)
    land(store, NEW, staff_delivery("20240826"))
    land(store, NEW, family_delivery("20240903", range(1, 4)))
    staff = import_pending(
        engine, store, SETTINGS, NEW, imports.STAFF_TYPES, run_id="staff", now=NOW
    )
    assert [o.status for o in staff] == ["applied"]
    families = import_pending(
        engine, store, SETTINGS, NEW, imports.FAMILY_IMPORT_TYPES, run_id="fam", now=NOW
    )
    statuses = {o.delivery: o.status for o in families}
    # its structures only (here the very same bytes as last year: already applied)
    assert statuses["20240903"] in ("applied", "already_applied")
    assert any("R9" in o.reason for o in families)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(schema.users.c.external_id == "E0003")) == 0
    with engine.begin() as conn:
        record_onde_switch(conn, NEW, "operator", LATER)
    families = import_pending(
        engine, store, SETTINGS, NEW, imports.FAMILY_IMPORT_TYPES, run_id="fam2", now=LATER
    )
    assert [o.status for o in families] == ["applied"], [o.reason for o in families]
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(schema.users.c.external_id == "E0003")) == 1
        phase = conn.scalar(
            select(schema.school_years.c.phase).where(schema.school_years.c.school_year == NEW)
        )
    assert phase == "family-import"


def test_schools_filter_touches_only_those_schools(engine: Engine, store: ObjectStore) -> None:
    land(store, NEW, family_delivery("20240902", range(5), range(100, 105)))
    assert run(engine, store, NEW, "20240902").status == "applied"
    # next delivery: S1 lost two pupils, S2 gained one
    keys = land(store, NEW, family_delivery("20240909", range(3), range(100, 106)))
    outcome = run(engine, store, NEW, "20240909", schools=[U2])
    assert outcome.status == "applied", outcome.reason
    with engine.connect() as conn:
        missing = conn.scalar(select(func.count()).where(schema.users.c.missing_since.is_not(None)))
        added = conn.scalar(
            select(func.count()).where(schema.users.c.external_id.in_(["E0105", "R0105"]))
        )
        files = conn.scalar(select(func.count()).select_from(schema.feed_files))
    assert missing == 0  # nobody marked missing outside the selected school
    assert added == 2  # the new pupil and the relative that follows them
    assert files == 3  # only the first delivery's files are recorded
    assert all(store.exists(k) for k in keys)  # the full run applies the rest later
    full = run(engine, store, NEW, "20240909")
    assert full.status == "applied"
    assert full.counts["users_missing"] == 4  # two pupils and their two relatives
    assert full.counts["users_created"] == 0


def test_interrupted_move_is_completed_by_the_next_run(
    engine: Engine, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = land(store, NEW, family_delivery("20240902", range(5)))
    real_move = import_apply.move_files

    def failing(store_: ObjectStore, moves: Sequence[tuple[str, str]]) -> None:
        if any(dst.startswith("archive/") for _, dst in moves):
            raise OSError("storage unreachable")
        real_move(store_, moves)

    monkeypatch.setattr(import_apply, "move_files", failing)
    applied = run(engine, store, NEW, "20240902")
    # committed before the move: applied (not a failure), the files still wait
    assert applied.status == "applied" and "the next run moves them" in applied.reason
    assert count(engine, schema.feed_files) == 3
    assert all(store.exists(k) for k in keys)
    before = directory(engine)
    monkeypatch.undo()
    again = run(engine, store, NEW, "20240902")
    assert again.status == "already_applied"
    assert not any(store.exists(k) for k in keys)
    after = directory(engine)
    for name in before:
        assert before[name].equals(after[name]), name


def test_staff_import_reads_no_pupil_file(engine: Engine, store: ObjectStore) -> None:
    day = "20240826"
    files = {**staff_delivery(day), **family_delivery(day, range(3))}
    broken = aaf.name("Eleve", day)
    files[broken] = b"<ficAlimMENESR><addRequest>"  # truncated: would reject the delivery
    land(store, CLOSING, files)
    checked: list[str] = []

    def recording_map(function, paths, names, contexts):  # type: ignore[no-untyped-def]
        checked.extend(names)
        return map(function, paths, names, contexts)

    staff = import_pending(
        engine, store, SETTINGS, CLOSING, imports.STAFF_TYPES, run_id="r1", map_files=recording_map
    )
    assert [o.status for o in staff] == ["applied"], [o.reason for o in staff]
    assert sorted(checked) == sorted([aaf.name("EtabEducNat", day), aaf.name("PersEducNat", day)])
    # the pupil files were not read: the broken one waits in landing/ for the family import
    assert store.exists(landing_key(CLOSING, broken))
    family = import_pending(
        engine, store, SETTINGS, CLOSING, imports.FAMILY_IMPORT_TYPES, run_id="r2"
    )
    assert [o.status for o in family] == ["quarantined"], [o.reason for o in family]


def test_the_same_bytes_as_two_feed_types_are_two_files_of_the_ledger(
    engine: Engine, store: ObjectStore
) -> None:
    """Two empty Delta files (Eleve, PersRelEleve) are the very same bytes: each is
    recorded and archived, neither taken for the other (ledger key: academy, type, bytes)."""
    land(store, NEW, family_delivery("20240902", range(2)))
    assert run(engine, store, NEW, "20240902").status == "applied"
    empty = aaf.document([])
    day = "20240909"
    keys = land(
        store,
        NEW,
        {
            aaf.name("Eleve", day, mode="Delta"): empty,
            aaf.name("PersRelEleve", day, mode="Delta"): empty,
        },
    )
    applied = run(engine, store, NEW, day)
    assert applied.status == "applied", applied.reason
    with engine.connect() as conn:
        names = set(
            conn.scalars(
                select(schema.feed_files.c.file_name).where(
                    schema.feed_files.c.status == "applied",
                    schema.feed_files.c.extraction_date
                    == select(func.max(schema.feed_files.c.extraction_date)).scalar_subquery(),
                )
            )
        )
    assert names == {k.rsplit("/", 1)[-1] for k in keys}
    assert not any(store.exists(k) for k in keys)


def test_only_pupil_and_school_deliveries_watch_late_entries(
    engine: Engine, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R12 follows the pupils and the schools: a staff delivery applies without watching
    # (reading the year's class links), a pupils delivery watches in its transaction
    watched: list[str] = []
    watch = import_apply.late_entry_watch

    def counted(conn: Connection, year: str, now: datetime) -> pl.DataFrame:
        watched.append(year)
        return watch(conn, year, now)

    monkeypatch.setattr(import_apply, "late_entry_watch", counted)
    land(store, NEW, staff_delivery("20240826"))  # its schools (EtabEducNat) are watched
    assert run(engine, store, NEW, "20240826").status == "applied"
    assert watched == [NEW]
    watched.clear()
    hires = [aaf.staff("T1", structs=(S1,)), aaf.staff("T2", structs=(S1,))]
    land(store, NEW, {aaf.name("PersEducNat", "20240827"): aaf.document(hires)})
    staff = run(engine, store, NEW, "20240827")
    assert staff.status == "applied", staff.reason
    assert watched == []
    land(store, NEW, family_delivery("20240902", range(3)))
    families = run(engine, store, NEW, "20240902")
    assert families.status == "applied", families.reason
    assert watched == [NEW]


def test_a_held_delta_keeps_the_fingerprint_of_the_directory_it_was_planned_on(
    engine: Engine, store: ObjectStore
) -> None:
    # a Delta's plan takes no fingerprint; its hold takes it in the same transaction, so an
    # approval finds the directory unmoved and applies the held change set as it is
    land(store, NEW, family_delivery("20240902", range(10)))
    assert run(engine, store, NEW, "20240902").status == "applied"
    strict = Settings(hold_school_missing_ratio=0.1, hold_school_min_people=1)
    gone = [aaf.record("Eleve", f"E{n:04d}", operation="delete") for n in range(4)]
    land(store, NEW, {aaf.name("Eleve", "20240905", mode="Delta"): aaf.document(gone)})
    held = import_delivery(engine, store, strict, NEW, "20240905", run_id="run-delta", now=NOW)
    assert held.status == "held", held.reason
    with engine.connect() as conn:
        hold = get_hold(conn, held.hold_id or "")
        assert hold.fingerprint and hold.fingerprint == directory_fingerprint(conn, NEW)
    decision = approve_hold(engine, store, strict, hold.hold_id, "alice", "run-ok", NOW)
    assert decision.outcome is not None and decision.outcome.status == "applied"
    assert decision.outcome.counts["users_missing"] == 4
