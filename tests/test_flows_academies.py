"""A generated region of two academies (Lille 09, Amiens 20) whose feed ids overlap on
purpose, through the whole rollover's flows: ids kept apart, and a complete delivery of one
academy marking nobody of the other missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from flows_harness import flow_store  # noqa: F401
from sqlalchemy import Engine, select

from rentree.flows.attach_teachers import attach_teachers
from rentree.flows.family_import import family_import
from rentree.flows.freeze import freeze
from rentree.flows.nightly import nightly
from rentree.flows.onde_switch import onde_switch
from rentree.flows.run.approval import approve_pending_holds
from rentree.flows.share_purge import share_purge
from rentree.flows.staff_import import staff_import
from rentree.infra import schema
from rentree.infra.frames import read_frame
from rentree.infra.naming import landing_key
from rentree.infra.settings import load_settings
from rentree.infra.storage import LocalStore
from rentree.infra.workspace import open_workspace
from rentree.synthetic import generate_region
from rentree.synthetic.landing import land_delivery
from rentree.tasks.content.inventory.apply import import_content
from rentree.tasks.content.inventory.read import read_inventory

pytestmark = pytest.mark.flows


def users(engine: Engine) -> pl.DataFrame:
    with engine.connect() as conn:
        return read_frame(
            conn,
            select(
                schema.users.c.external_id, schema.users.c.profile, schema.users.c.missing_since
            ),
        )


# the academies' ids and keys do not depend on the database: SQLite only, to keep the suite short
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_two_academy_region_whole_timeline(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RENTREE_ACADEMIES", "09=Lille,20=Amiens")
    region = generate_region("tiny", tmp_path / "region", academies=2)
    manifest: dict[str, Any] = region.manifest
    assert [a["code"] for a in manifest["academies"]] == ["09", "20"]
    closing, new = manifest["closing_year"], manifest["new_year"]
    first_year, staff_first, staff_late, family_first, family_late = (
        d["delivery"] for d in manifest["deliveries"]
    )
    ws = open_workspace(load_settings())

    def land(delivery: str, only: str | None = None) -> None:
        if only is None:
            land_delivery(ws.store, region.out, manifest, delivery)
            return
        (academy,) = [a for a in manifest["academies"] if a["code"] == only]
        year = next(d["school_year"] for d in manifest["deliveries"] if d["delivery"] == delivery)
        for name in academy["deliveries"][delivery]:
            path = region.out / "landing" / year / only / name
            ws.store.upload(path, landing_key(year, name, only))

    land(first_year)
    assert staff_import(year=closing, wait_for_approval=False)["status"] == "completed"
    assert family_import(year=closing, wait_for_approval=False)["status"] == "completed"
    # the same feed ids in both academies, kept apart: every id twice, once per academy
    first = users(engine)
    feed_ids = first.filter(pl.col("profile") != "Guest")["external_id"]
    lille = set(feed_ids.filter(feed_ids.str.starts_with("09-")).str.slice(3))
    amiens = set(feed_ids.filter(feed_ids.str.starts_with("20-")).str.slice(3))
    assert lille and lille == amiens
    assert feed_ids.str.contains("^(09|20)-").all()
    with engine.begin() as conn:
        content = import_content(conn, ws.store, read_inventory(region.out / "content"))
    assert content.rejected == 0
    assert freeze(year=closing)["status"] == "completed"

    # Lille's complete staff file of the new year alone: Lille's leavers are marked missing,
    # nobody of Amiens is
    land(staff_first, only="09")
    lille_staff = approve_pending_holds(staff_import, staff_import(wait_for_approval=False))
    assert lille_staff["status"] == "completed", lille_staff
    leavers = set(manifest["staff"]["leavers"])
    missing = set(users(engine).filter(pl.col("missing_since").is_not_null())["external_id"])
    assert missing == {f"09-{i}" for i in leavers}
    land(staff_first, only="20")
    approve_pending_holds(staff_import, staff_import(wait_for_approval=False))
    missing = set(users(engine).filter(pl.col("missing_since").is_not_null())["external_id"])
    assert missing == {f"{a}-{i}" for a in ("09", "20") for i in leavers}

    land(staff_late)
    approve_pending_holds(staff_import, staff_import(wait_for_approval=False))
    land(family_first)
    assert onde_switch()["switched"]
    family = approve_pending_holds(family_import, family_import(wait_for_approval=False))
    assert family["status"] == "completed", family
    requests = pl.read_csv(region.out / manifest["attach_teachers"][new], infer_schema=False)
    assert requests["teacher_external_id"].str.contains("^(09|20)-").all()
    attached = attach_teachers(requests=[list(r) for r in requests.rows()])
    assert attached["refused"] == 0, attached
    land(family_late)
    night = approve_pending_holds(nightly, nightly(wait_for_approval=False))
    assert night["status"] == "completed" and night["late_entries"] == 0, night
    purge = approve_pending_holds(share_purge, share_purge(wait_for_approval=False))
    assert purge["status"] == "completed" and purge["shares_removed"] > 0, purge
    ws.engine.dispose()

    # each academy's files went to its own archive; nothing is left in landing/
    assert ws.store.list(f"archive/{new}/09/") and ws.store.list(f"archive/{new}/20/")
    assert not ws.store.list("landing/")
    with engine.connect() as conn:
        ledger = read_frame(conn, select(schema.feed_files.c.academy, schema.feed_files.c.status))
    assert set(ledger["academy"]) == {"09", "20"} and set(ledger["status"]) == {"applied"}
