"""The tiny region's whole rollover through real Prefect flow runs, checked on the export:
no share to a closing-year scolarité group remains, staff are in their new schools,
students in their new classes, late entries resolved, pending teacher attachments applied
by themselves (one to a class made only of late-entry pupils, after the late delivery),
leavers marked missing, and every run recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from flows_harness import flow_store, hold_every_leaver  # noqa: F401
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sqlalchemy import Engine, select

from rentree.flows.attach_teachers import attach_teachers
from rentree.flows.family_import import family_import
from rentree.flows.freeze import freeze
from rentree.flows.nightly import nightly
from rentree.flows.onde_switch import onde_switch
from rentree.flows.run.approval import approve_pending_holds
from rentree.flows.share_purge import share_purge
from rentree.flows.staff_import import staff_import
from rentree.flows.storage_report import storage_report
from rentree.infra.frames import read_frame
from rentree.infra.schema import late_entries, pending_attachments
from rentree.infra.schema import runs as runs_table
from rentree.infra.settings import load_settings
from rentree.infra.storage import LocalStore
from rentree.infra.workspace import open_workspace
from rentree.synthetic import generate_region
from rentree.synthetic.landing import land_delivery
from rentree.tasks.content.export import write_export
from rentree.tasks.content.inventory.apply import import_content
from rentree.tasks.content.inventory.read import read_inventory

pytestmark = pytest.mark.flows


def _export(engine: Engine, folder: Path) -> dict[str, pl.DataFrame]:
    with engine.connect() as conn:
        summary = write_export(conn, folder)
    return {t.table: pl.read_parquet(t.file) for t in summary.tables}


def test_tiny_region_whole_timeline(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    region = generate_region("tiny", tmp_path / "region")
    manifest: dict[str, Any] = region.manifest
    closing, new = manifest["closing_year"], manifest["new_year"]
    first_year, staff_first, staff_late, family_first, family_late = (
        d["delivery"] for d in manifest["deliveries"]
    )
    ws = open_workspace(load_settings())

    def land(delivery: str) -> None:
        land_delivery(ws.store, region.out, manifest, delivery)

    # The closing year, first year the directory holds: simply imported.
    land(first_year)
    assert staff_import(year=closing, wait_for_approval=False)["status"] == "completed"
    assert family_import(year=closing, wait_for_approval=False)["status"] == "completed"
    with engine.begin() as conn:
        import_content(conn, ws.store, read_inventory(region.out / "content"))

    assert freeze(year=closing)["status"] == "completed"
    land(staff_first)
    # With zero thresholds the staff leaver holds the delivery: nothing applied,
    # then approved later by running the flow with the hold id.
    hold_every_leaver(monkeypatch)
    first = staff_import(wait_for_approval=False)
    assert first["status"] == "held" and first["applied"] == 0, first
    monkeypatch.delenv("RENTREE_HOLD_REGION_MISSING_RATIO")
    monkeypatch.delenv("RENTREE_HOLD_SCHOOL_MIN_PEOPLE")
    approved = staff_import(hold_id=first["pending_holds"][0], approve=True)
    assert approved["status"] == "completed" and approved["applied"] == 1, approved
    assert approved["decisions"][0]["decision"] == "approved"
    land(staff_late)
    late = approve_pending_holds(staff_import, staff_import(wait_for_approval=False))
    assert late["applied"] == 1, late

    land(family_first)
    switch = onde_switch()
    assert switch["switched"] and switch["newly_recorded"]

    # A teacher asks for a class before its pupils are in the ENT: kept pending (R10) ...
    teacher, wanted_class = pl.read_csv(
        region.out / manifest["attach_teachers"][new], infer_schema=False
    ).row(0)
    early = attach_teachers(requests=[[teacher, wanted_class]])
    assert early["pending"] == 1 and early["attached"] == 0

    family = approve_pending_holds(family_import, family_import(wait_for_approval=False))
    assert family["status"] == "completed", family
    assert family["late_entries"] == len(manifest["late_entries"])

    # ... and, after the first family delivery, a class made only of late-entry pupils still
    # has none: its teacher's request is refused for now and kept pending (R10).
    requests = pl.read_csv(region.out / manifest["attach_teachers"][new], infer_schema=False)
    late_class = next(c for e in manifest["late_entries"] for c in e["late_classes"])
    (late_teacher,) = requests.filter(pl.col("class_external_id") == late_class)[
        "teacher_external_id"
    ]
    kept = attach_teachers(requests=[[late_teacher, late_class]])
    assert (kept["attached"], kept["pending"], kept["refused"]) == (0, 1, 0), kept
    with engine.connect() as conn:
        waiting = read_frame(
            conn,
            select(
                pending_attachments.c.teacher_external_id,
                pending_attachments.c.class_external_id,
            ),
        )
    assert waiting.rows() == [(late_teacher, late_class)]

    land(family_late)
    night = approve_pending_holds(nightly, nightly(wait_for_approval=False))
    assert night["status"] == "completed", night
    assert night["late_entries"] == 0
    # Counts are of what happened: the nightly's summary counts the one pending attachment
    # it applied when the late class's pupils arrived.
    assert night["attachments"].get("attached") == 1, night["attachments"]

    # A purge above the threshold (zero here) is held, nothing removed, then approved.
    monkeypatch.setenv("RENTREE_HOLD_PURGE_MAX_SHARES", "0")
    held_purge = share_purge(wait_for_approval=False)
    assert held_purge["status"] == "held" and "shares_removed" not in held_purge
    # the held run names its hold where an operator (or the demo) finds the holds to decide
    assert held_purge["pending_holds"] == [held_purge["hold_id"]]
    monkeypatch.delenv("RENTREE_HOLD_PURGE_MAX_SHARES")
    purge = approve_pending_holds(share_purge, held_purge)
    assert purge["status"] == "completed" and purge["shares_removed"] > 0, purge
    # Undo puts back exactly what that run removed; an unknown run id fails the run at once.
    unknown = share_purge(undo_run_id="no-such-run", return_state=True)
    assert unknown.is_failed() and "no share-purge run has this id" in unknown.message
    undone = share_purge(undo_run_id=purge["run_id"])
    assert undone["shares_restored"] == purge["shares_removed"], undone
    again = share_purge()
    assert again["shares_removed"] == purge["shares_removed"], again
    report = storage_report()
    assert report["status"] == "completed" and report["reports"]
    with get_client(sync_client=True) as client:
        charts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["storage-report-charts"]))
        )
    # the PNG charts are shown in the run's artifacts (PNG data starts iVBORw0KGgo in base64)
    assert charts and str(charts[-1].data).count("data:image/png;base64,iVBORw0KGgo") == 3
    ws.engine.dispose()

    tables = _export(engine, tmp_path / "export")
    # R5: no share to a closing-year scolarité group remains.
    shares = tables["shares"]
    assert shares.filter(
        (pl.col("recipient_kind") == "group") & pl.col("recipient_id").str.starts_with(closing)
    ).is_empty()
    assert shares.height > 0
    # R8: staff in their new schools (feed links), out of the ones they left.
    links = tables["user_structures"].filter(pl.col("source") == "feed")
    for move in manifest["staff"]["moves"] + manifest["staff"]["late_moves"]:
        mine = set(links.filter(pl.col("user_external_id") == move["id"])["structure_uai"])
        assert move["to"] in mine and move["from"] not in mine, move
    # Students in their new school and class.
    users = tables["users"]
    classes = tables["classes"].filter(pl.col("school_year") == new)
    placed = tables["user_classes"].filter(pl.col("school_year") == new)
    for pupil in manifest["students"]["gs_to_cp_examples"]:
        account = users.filter(pl.col("ine") == pupil["ine"])["external_id"].to_list()
        assert len(account) == 1, pupil  # R1: one account, no duplicate
        their = placed.filter(pl.col("user_external_id") == account[0])
        uais = classes.join(their, left_on="external_id", right_on="class_external_id")
        assert uais["structure_uai"].to_list() == [pupil["to_uai"]]
    present = users.filter((pl.col("profile") == "Student") & pl.col("missing_since").is_null())
    assert (
        present.join(placed, left_on="external_id", right_on="user_external_id", how="anti")[
            "external_id"
        ].to_list()
        == []
    )
    # R12: the late entries arrived.
    with engine.connect() as conn:
        open_late = read_frame(
            conn,
            select(late_entries.c.structure_uai).where(
                late_entries.c.school_year == new, late_entries.c.resolved_at.is_(None)
            ),
        )
        pending = read_frame(conn, select(pending_attachments))
        runs = read_frame(
            conn,
            select(runs_table.c.flow, runs_table.c.status).where(
                runs_table.c.flow != "content-import"
            ),
        )
    assert open_late.height == 0
    # R10: the pending requests were applied by themselves once their class had a pupil:
    # the early one with the first family delivery, the late class's with the late one.
    assert pending.height == 0
    for who, klass in ((teacher, wanted_class), (late_teacher, late_class)):
        link = tables["user_classes"].filter(
            (pl.col("user_external_id") == who) & (pl.col("class_external_id") == klass)
        )
        assert link["source"].to_list() == ["manual"], (who, klass)
    # R11: leavers are marked missing, not deleted.
    leavers = manifest["staff"]["leavers"] + manifest["staff"]["late_leavers"]
    marked = users.filter(pl.col("external_id").is_in(leavers))
    assert marked.height == len(leavers)
    assert marked["missing_since"].null_count() == 0
    # Every flow run is in `runs`, completed but for the holds (the undo of an unknown run
    # failed before any work: it is not recorded).
    flows_run = set(runs["flow"])
    assert {
        "staff-import",
        "family-import",
        "freeze",
        "onde-switch",
        "attach-teachers",
        "nightly",
        "share-purge",
        "storage-report",
    } <= flows_run
    assert sorted(runs.filter(pl.col("status") != "completed").rows()) == [
        ("share-purge", "held"),
        ("staff-import", "held"),
    ]
