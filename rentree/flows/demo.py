"""`rentree demo`: the whole rollover of a generated region, through the flows, in a fresh
local workspace (SQLite file and storage folder under one folder, wiped first).

The timeline (domain.md): the closing year imported (first year: simply imported), the
content inventory, freeze, staff import and its late Delta, the ONDE switch detected, the
first family delivery, teacher attachments (the ones to a class made only of late-entry
pupils refused and kept pending: the class has no pupil yet), the late entries' delivery
through a nightly run (which applies them by themselves), the share purge, the
retirement of the people marked missing (R11) on a clock moved forward, and the storage
report.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import select

from rentree.flows.attach_teachers import PHASE as ATTACH_TEACHERS
from rentree.flows.attach_teachers import attach_teachers
from rentree.flows.demo_retirement import retire_after_rollover
from rentree.flows.family_import import family_import
from rentree.flows.freeze import freeze
from rentree.flows.nightly import nightly
from rentree.flows.onde_switch import onde_switch
from rentree.flows.run.approval import approve_pending_holds
from rentree.flows.run.artifacts import Progress
from rentree.flows.share_purge import share_purge
from rentree.flows.staff_import import staff_import
from rentree.flows.storage_report import storage_report
from rentree.infra.db import vacuum_after_bulk_write
from rentree.infra.engine import make_engine
from rentree.infra.migrate import schema_state
from rentree.infra.schema import pending_attachments, runs, user_classes, users
from rentree.infra.settings import Settings, load_settings, redact_url
from rentree.infra.workspace import Workspace, open_workspace
from rentree.synthetic import REGION_ACADEMIES, generate_region
from rentree.synthetic.landing import land_delivery
from rentree.tasks.content.inventory.apply import import_content
from rentree.tasks.content.inventory.read import read_inventory
from rentree.tasks.content.status import directory_status
from rentree.tasks.rules.attachments.request_lists import read_requests, store_requests

# What the demo's progress bar names while each step runs.
STEPS = (
    "generating the region",
    "closing year: staff import",
    "closing year: family import",
    "content inventory",
    "freeze",
    "first staff file",
    "late staff Delta",
    "ONDE switch",
    "early attachment request",
    "first family files",
    "teacher attachments",
    "late entries (nightly)",
    "share purge",
    "retire-missing: notice",
    "retire-missing: deactivation",
    "retire-missing: retirement",
    "storage report",
    "summary",
)
# The file that marks a folder as made by the demo, so that it may be wiped next time.
DEMO_MARKER = ".rentree-demo"


@dataclass
class DemoSummary:
    """One row per step of the timeline, and where the operator finds the results."""

    steps: list[dict[str, str]] = field(default_factory=list)
    locations: list[tuple[str, str]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    # each step's wall time runs from the end of the one before
    last_step_end: float = field(default_factory=time.perf_counter)

    def add(self, step: str, flow: str, result: dict[str, Any], figures: str) -> None:
        now = time.perf_counter()
        self.steps.append(
            {
                "step": step,
                "flow": flow,
                "status": str(result.get("status", "")),
                "what": figures,
                "seconds": f"{now - self.last_step_end:.1f}",
            }
        )
        self.last_step_end = now

    def table(self) -> Table:
        table = Table("step", "flow", "status", "s", "what happened", title="rentree demo")
        for row in self.steps:
            table.add_row(row["step"], row["flow"], row["status"], row["seconds"], row["what"])
        return table


def _counts(result: dict[str, Any]) -> str:
    counts = result.get("counts") or {}
    done = {k: v for k, v in counts.items() if v}
    return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in list(done.items())[:4]) or "-"


class DemoFolderError(ValueError):
    """The demo's folder cannot be used; the message is one sentence."""


def prepare_demo_folder(folder: Path) -> Path:
    """A fresh demo folder: a new or empty one, or one an earlier demo made (its marker file),
    which is wiped. Any other folder, and a file, is refused: the demo never removes what it
    did not create."""
    folder = folder.resolve()
    if folder.exists() and not folder.is_dir():
        raise DemoFolderError(
            f"--workdir {folder} is a file, not a folder; give a new or empty folder."
        )
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / DEMO_MARKER).is_file():
            raise DemoFolderError(
                f"--workdir {folder} is not empty and was not made by `rentree demo`: nothing "
                "removed; give a new or empty folder."
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DEMO_MARKER).write_text(
        "Made by `rentree demo`: the next demo run with this folder wipes it.\n"
    )
    return folder


def run_demo(
    folder: Path, scale: str, academies: int = 1, database_url: str | None = None
) -> DemoSummary:
    """Prepare `folder` (prepare_demo_folder), generate the region into it and run the
    timeline through the flows. `academies=2`: a region of two academies whose feed ids
    overlap (RENTREE_ACADEMIES is set for the flows, as an operator of such a region sets
    it). `database_url`: the directory in that database (PostgreSQL) instead of a SQLite
    file in the folder; it must hold no rentree directory yet (refused otherwise, nothing
    changed: the demo never empties a database)."""
    folder = prepare_demo_folder(folder)
    # The flows open their workspace from the environment, like deployed runs do.
    os.environ["RENTREE_DATABASE_URL"] = database_url or f"sqlite:///{folder / 'rentree.db'}"
    os.environ["RENTREE_STORAGE_URL"] = str(folder / "storage")
    if academies > 1:
        os.environ["RENTREE_ACADEMIES"] = ",".join(
            f"{code}={name}" for code, name in REGION_ACADEMIES[:academies]
        )
    else:
        os.environ.pop("RENTREE_ACADEMIES", None)
    settings = load_settings()
    if database_url:
        _refuse_a_directory_in_use(settings)
    ws = open_workspace(settings, create=True)
    summary = DemoSummary()
    progress = Progress("rentree demo", len(STEPS), names=STEPS)
    try:
        _timeline(ws, folder, scale, summary, progress, academies)
        with ws.engine.connect() as conn:
            summary.status = directory_status(conn)
    finally:
        ws.engine.dispose()
    summary.locations += [
        ("Database", redact_url(os.environ["RENTREE_DATABASE_URL"])),
        ("Storage", str(folder / "storage")),
        ("Generated region", str(folder / "region")),
    ]
    return summary


def _refuse_a_directory_in_use(settings: Settings) -> None:
    """A database given to the demo must not hold a directory already: the demo's imports
    would mix with it (a first year counted as a later one) and it wipes nothing."""
    engine = make_engine(settings.database_url)
    try:
        if schema_state(engine) == "absent":
            return
        with engine.connect() as conn:
            in_use = any(
                conn.execute(select(column).limit(1)).first() is not None
                for column in (runs.c.run_id, users.c.external_id)
            )
    finally:
        engine.dispose()
    if in_use:
        raise DemoFolderError(
            f"--database-url {redact_url(settings.database_url)} already holds a rentree "
            "directory: nothing changed; give an empty database (the demo empties none)."
        )


def _timeline(
    ws: Workspace,
    folder: Path,
    scale: str,
    summary: DemoSummary,
    progress: Progress,
    academies: int = 1,
) -> None:
    region_dir = folder / "region"
    region = generate_region(scale, region_dir, academies=academies)  # type: ignore[arg-type]
    manifest = region.manifest
    closing, new = manifest["closing_year"], manifest["new_year"]
    dates = [d["delivery"] for d in manifest["deliveries"]]
    closing_delivery, staff_first, staff_late, family_first, family_late = dates
    summary.add(
        "generate",
        "-",
        {"status": "completed"},
        f"{manifest['counts']['schools']} schools, {region.files} files",
    )
    progress.advance()

    land_delivery(ws.store, region_dir, manifest, closing_delivery)
    staff = approve_pending_holds(
        staff_import, staff_import(year=closing, wait_for_approval=False), year=closing
    )
    summary.add(f"{closing} (first year)", "staff-import", staff, _counts(staff))
    progress.advance()
    family = approve_pending_holds(
        family_import, family_import(year=closing, wait_for_approval=False), year=closing
    )
    summary.add(f"{closing} (first year)", "family-import", family, _counts(family))
    progress.advance()

    with ws.engine.begin() as conn:
        content = import_content(conn, ws.store, read_inventory(region_dir / "content"))
    vacuum_after_bulk_write(ws.engine, content.bulk_written)
    imported = int(content.counts()["imported"].sum())
    summary.add(
        "content inventory",
        "content import",
        {"status": "completed" if not content.rejected else "rejected"},
        f"{imported} rows, {content.rejected} rejected",
    )
    progress.advance()

    frozen = freeze(year=closing)
    summary.add("1 freeze", "freeze", frozen, f"{frozen['pre_purge_notice_rows']} shares in notice")
    progress.advance()

    land_delivery(ws.store, region_dir, manifest, staff_first)
    first = approve_pending_holds(
        staff_import, staff_import(year=new, wait_for_approval=False), year=new
    )
    summary.add("2 first staff file", "staff-import", first, _counts(first))
    progress.advance()
    land_delivery(ws.store, region_dir, manifest, staff_late)
    late = approve_pending_holds(
        staff_import, staff_import(year=new, wait_for_approval=False), year=new
    )
    summary.add("2 late staff Delta", "staff-import", late, _counts(late))
    progress.advance()

    land_delivery(ws.store, region_dir, manifest, family_first)
    switch = onde_switch(year=new)
    summary.add("4 ONDE switch", "onde-switch", switch, switch["message"])
    progress.advance()
    # A teacher asks for a class before its pupils are in the ENT: kept pending (R10).
    request_file = region_dir / "attach-teachers" / f"{new}.csv"
    requests = read_requests(request_file.read_bytes(), str(request_file))
    early = attach_teachers(year=new, requests=[list(requests.row(0))])
    summary.add(
        "5 early attachment request",
        "attach-teachers",
        early,
        f"{early['pending']} pending (R10: class has no pupil yet)",
    )
    progress.advance()
    fam = approve_pending_holds(
        family_import, family_import(year=new, wait_for_approval=False), year=new
    )
    summary.add(
        "5 first family files",
        "family-import",
        fam,
        f"{_counts(fam)}; pending attachments left {_pending(ws, new)}; late entries "
        f"{fam['late_entries']}",
    )
    progress.advance()

    # The whole list by storage key: a region's is far above Prefect's 512 KB parameter cap.
    requests_key = store_requests(
        ws.store, request_file.read_bytes(), str(request_file), new, ATTACH_TEACHERS
    )
    attached = attach_teachers(year=new, requests_key=requests_key)
    # Classes made only of late-entry pupils have none yet: their requests wait (R10).
    late_classes = [c for e in manifest["late_entries"] for c in e["late_classes"]]
    waiting = no_pupil_yet(late_classes)
    summary.add(
        "5 teacher attachments",
        "attach-teachers",
        attached,
        f"{attached['attached']} attached, {attached['pending']} pending (R10{waiting}), "
        f"{attached['refused']} refused",
    )
    progress.advance()

    land_delivery(ws.store, region_dir, manifest, family_late)
    night = approve_pending_holds(nightly, nightly(wait_for_approval=False))
    summary.add(
        "6 late entries (nightly)",
        "nightly",
        night,
        f"{_counts(night)}; pending attachments left {_pending(ws, new)} (of "
        f"{attached['pending']}); late-entry classes with their teacher "
        f"{_with_teacher(ws, late_classes)} of {len(late_classes)}; late entries still watched "
        f"{night['late_entries']}",
    )
    progress.advance()

    purge = approve_pending_holds(
        share_purge, share_purge(year=closing, wait_for_approval=False), year=closing
    )
    summary.add("7 share purge", "share-purge", purge, f"{purge.get('shares_removed', 0)} shares")
    progress.advance()

    def add_step(step: str, flow: str, result: dict[str, Any], figures: str) -> None:
        summary.add(step, flow, result, figures)
        progress.advance()

    retired = retire_after_rollover(ws.settings, new, date.today(), add_step)

    report = storage_report()
    summary.add(
        "storage report",
        "storage-report",
        report,
        f"{report['users']} users, {report['users_above_80pc']} above 80%",
    )
    progress.advance()
    for label, result in (
        ("Freeze snapshot", frozen.get("snapshot", "")),
        ("Storage report", _folder_of(report)),
        ("Share purge reports", _folder_of(purge)),
        ("Retirement reports (notice, handover)", _folder_of(retired[-1])),
        ("Late-entry reports", _folder_of(night)),
    ):
        if result:
            summary.locations.append((label, ws.store.link(result) if "/" in result else result))
    progress.advance()


def no_pupil_yet(classes: list[str], named: int = 3) -> str:
    """Why attachment requests wait (R10), for the summary's cell: the classes named when
    they are a few, counted otherwise (a region has hundreds)."""
    if not classes:
        return ""
    if len(classes) > named:
        return f": {len(classes):,} classes of late-entry pupils only have no pupil yet"
    verb = "has" if len(classes) == 1 else "have"
    return f": {', '.join(classes)} {verb} no pupil yet"


def _pending(ws: Workspace, year: str) -> int:
    with ws.engine.connect() as conn:
        return len(
            conn.execute(
                select(pending_attachments.c.teacher_external_id).where(
                    pending_attachments.c.school_year == year
                )
            ).all()
        )


def _with_teacher(ws: Workspace, classes: list[str]) -> int:
    """How many of these classes have a teacher attached (R10 applied)."""
    if not classes:
        return 0
    with ws.engine.connect() as conn:
        rows = conn.execute(
            select(user_classes.c.class_external_id)
            .where(
                user_classes.c.class_external_id.in_(classes),
                user_classes.c.source == "manual",
            )
            .distinct()
        ).all()
    return len(rows)


def _folder_of(result: dict[str, Any]) -> str:
    reports = result.get("reports") or []
    return reports[0].rsplit("/", 1)[0] + "/" if reports else ""
