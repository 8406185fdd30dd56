"""The generated tiny region through the whole import cycle: the closing year, the freeze,
the new year's staff, the families held until the switch (R9), the late entries (R12) and
the teacher attachments kept pending until a pupil arrives (R10); then every re-run leaves
the export byte-identical."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from rentree.infra import schema
from rentree.infra.naming import landing_key
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore
from rentree.synthetic import GeneratedRegion, generate_region
from rentree.tasks.content.export import write_export
from rentree.tasks.imports.delivery import import_delivery
from rentree.tasks.imports.outcome import FAMILY_IMPORT_TYPES, STAFF_TYPES
from rentree.tasks.imports.pending import import_pending
from rentree.tasks.rules.attachments.apply import request_attachments
from rentree.tasks.rules.years import freeze_year, record_onde_switch

SETTINGS = Settings(database_url="sqlite://", storage_url="unused")
AUGUST = datetime(2025, 8, 25, 2, 0, tzinfo=UTC)
SEPTEMBER = datetime(2025, 9, 4, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> GeneratedRegion:
    return generate_region("tiny", tmp_path_factory.mktemp("tiny") / "region")


def upload(store: ObjectStore, region: GeneratedRegion, year: str) -> None:
    for path in sorted((region.out / "landing" / year).iterdir()):
        store.upload(path, landing_key(year, path.name))


def export_bytes(engine: Engine, folder: Path) -> dict[str, bytes]:
    with engine.connect() as conn:
        summary = write_export(conn, folder)
    return {t.table: Path(t.file).read_bytes() for t in summary.tables}


def scalar(engine: Engine, statement: object) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(statement) or 0)  # type: ignore[call-overload]


def open_late_entries(engine: Engine, year: str) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(schema.late_entries.c.structure_uai, schema.late_entries.c.level).where(
                schema.late_entries.c.school_year == year,
                schema.late_entries.c.resolved_at.is_(None),
            )
        )
        return {(r[0], r[1]) for r in rows}


def test_tiny_region_rollover(
    engine: Engine, store: ObjectStore, region: GeneratedRegion, tmp_path: Path
) -> None:
    manifest = region.manifest
    closing, new = manifest["closing_year"], manifest["new_year"]

    # the first year the directory holds is simply imported
    upload(store, region, closing)
    first = import_pending(
        engine, store, SETTINGS, closing, ("EtabEducNat", *STAFF_TYPES, *FAMILY_IMPORT_TYPES),
        run_id="closing", now=AUGUST,
    )  # fmt: skip
    assert [o.status for o in first] == ["applied"], [o.reason for o in first]
    students = select(func.count()).where(schema.users.c.profile == "Student")
    assert scalar(engine, students) == manifest["counts"]["students"][closing]
    with engine.begin() as conn:
        freeze_year(conn, closing, AUGUST)

    # the new year's staff files apply; its family files wait for the switch (R9)
    upload(store, region, new)
    staff = import_pending(engine, store, SETTINGS, new, STAFF_TYPES, run_id="staff", now=AUGUST)
    assert [o.status for o in staff] == ["applied", "applied"], [o.reason for o in staff]
    before_switch = import_pending(
        engine, store, SETTINGS, new, FAMILY_IMPORT_TYPES, run_id="fam0", now=AUGUST
    )
    assert all("R9" in o.reason for o in before_switch)
    new_classes = select(func.count()).where(schema.classes.c.school_year == new)
    assert scalar(engine, new_classes) == 0

    # teachers ask for their classes before the classes exist: kept pending (R10)
    requests = pl.read_csv(region.out / "attach-teachers" / f"{new}.csv", infer_schema=False)
    with engine.begin() as conn:
        asked = request_attachments(conn, requests, "attach", AUGUST)
    assert asked.attached.is_empty() and asked.refused.is_empty()
    assert asked.pending.height == requests.height

    # the switch: the first family delivery applies, the late entry levels are listed (R12)
    with engine.begin() as conn:
        record_onde_switch(conn, new, "detected", SEPTEMBER)
    firsts = import_pending(
        engine, store, SETTINGS, new, FAMILY_IMPORT_TYPES, run_id="fam1", now=SEPTEMBER
    )
    by_delivery = {o.delivery: o for o in firsts}
    for delivery in ("20250903", "20250909"):
        assert by_delivery[delivery].status == "applied", by_delivery[delivery].reason
    late = {(e["uai"], level) for e in manifest["late_entries"] for level in e["levels"]}
    assert by_delivery["20250903"].late_entries == len(late)
    assert (
        scalar(engine, students.where(schema.users.c.missing_since.is_(None)))
        >= (manifest["counts"]["students"][new])
    )
    # the late pupils arrived with the second delivery: the watch is clear
    assert open_late_entries(engine, new) == set()
    with engine.connect() as conn:
        resolved = conn.execute(
            select(schema.late_entries.c.structure_uai, schema.late_entries.c.level).where(
                schema.late_entries.c.school_year == new
            )
        )
        assert {(r[0], r[1]) for r in resolved} == late
    # every pending attachment applied by itself once its class had a pupil
    assert scalar(engine, select(func.count()).select_from(schema.pending_attachments)) == 0
    manual = select(func.count()).where(schema.user_classes.c.source == "manual")
    assert scalar(engine, manual) == requests.height

    # re-running any phase, with the same files sent again, changes nothing
    exported = export_bytes(engine, tmp_path / "before")
    upload(store, region, new)
    upload(store, region, closing)
    again = [
        *import_pending(engine, store, SETTINGS, new, STAFF_TYPES, run_id="r1", now=SEPTEMBER),
        *import_pending(
            engine, store, SETTINGS, new, FAMILY_IMPORT_TYPES, run_id="r2", now=SEPTEMBER
        ),
        import_delivery(engine, store, SETTINGS, closing, "20240906", run_id="r3", now=SEPTEMBER),
    ]
    assert {o.status for o in again[:-1]} == {"already_applied"}, [o.reason for o in again]
    assert again[-1].status == "held" and "R7" in again[-1].reason
    assert export_bytes(engine, tmp_path / "after") == exported

    # the same deliveries extracted again (other bytes, same records), newest first: the
    # newest re-plans to nothing, the older ones are held as out of order; nothing changes
    deliveries = sorted(
        {path.name.split("_")[2] for path in (region.out / "landing" / new).iterdir()},
        reverse=True,
    )
    for delivery in deliveries:
        for path in sorted((region.out / "landing" / new).glob(f"*_{delivery}_*.xml")):
            resent = path.read_bytes() + b"\n<!-- extracted again -->\n"
            store.write_bytes(landing_key(new, path.name), resent)
        outcome = import_delivery(
            engine, store, SETTINGS, new, delivery, run_id=f"x{delivery}", now=SEPTEMBER
        )
        assert outcome.status in {"applied", "held", "already_applied"}, outcome.reason
        if outcome.status == "applied":
            assert not any(outcome.counts.get(k) for k in outcome.counts if k != "change_log")
            assert not outcome.counts.get("change_log"), outcome.counts
        assert export_bytes(engine, tmp_path / f"resent-{delivery}") == exported


def test_first_year_staff_import_attaches_staff_to_the_schools_of_its_delivery(
    engine: Engine, store: ObjectStore, region: GeneratedRegion
) -> None:
    """The first year imported staff first (as the flows do): the delivery's own EtabEducNat
    goes with the staff file, so no teacher is left without a school (R8)."""
    closing = region.manifest["closing_year"]
    upload(store, region, closing)
    staff = import_pending(engine, store, SETTINGS, closing, STAFF_TYPES, run_id="s", now=AUGUST)
    assert [o.status for o in staff] == ["applied"], [o.reason for o in staff]
    staff_people = select(func.count()).where(schema.users.c.profile.in_(["Teacher", "Personnel"]))
    linked = select(func.count(func.distinct(schema.user_structures.c.user_external_id))).where(
        schema.user_structures.c.source == "feed"
    )
    assert scalar(engine, staff_people) > 0
    assert scalar(engine, linked) == scalar(engine, staff_people)
    assert scalar(engine, select(func.count()).select_from(schema.users).where(
        schema.users.c.profile == "Student")) == 0  # fmt: skip
    families = import_pending(
        engine, store, SETTINGS, closing, FAMILY_IMPORT_TYPES, run_id="f", now=AUGUST
    )
    assert [o.status for o in families] == ["applied"], [o.reason for o in families]
    students = select(func.count()).where(schema.users.c.profile == "Student")
    assert scalar(engine, students) == region.manifest["counts"]["students"][closing]
