"""Importing every landing delivery of a phase, oldest first."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from rentree.infra.db import directory_lock
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore
from rentree.tasks.imports.completion import complete_reports
from rentree.tasks.imports.delivery import import_delivery
from rentree.tasks.imports.outcome import ImportOutcome, with_structures
from rentree.tasks.imports.steps import StepListener, no_steps
from rentree.tasks.intake.landing import scan_landing
from rentree.tasks.intake.routing import move_files, release_held
from rentree.tasks.intake.stage import FileMapper, complete_quarantines, set_aside_not_regular


def import_pending(
    engine: Engine,
    store: ObjectStore,
    settings: Settings,
    year: str,
    phase_types: Collection[str],
    *,
    run_id: str,
    dry_run: bool = False,
    schools: Collection[str] | None = None,
    today: date | None = None,
    phase: str | None = None,
    now: datetime | None = None,
    map_files: FileMapper = map,
    retry_failed: bool = False,
    steps: StepListener = no_steps,
) -> list[ImportOutcome]:
    """Every landing delivery of the year with those types, oldest first (staff-import:
    PersEducNat; family-import: EtabEducNat, Eleve, PersRelEleve). Held files whose reason
    has ended (the switch, the freeze) are first moved back to landing/ to be imported in
    extraction-date order (not by a dry run). A delivery held for approval stops the later
    ones; one set aside after a failed apply stops the later ones with files of its types
    (`retry_failed` tries it again). landing/ is listed once, after the release.

    In a region of several academies (`Settings.academies`), each academy's deliveries are
    imported in turn, in their own order, from `landing/<year>/<academy>/`. `steps` hears
    each delivery's steps as they start (`tasks.imports.steps`)."""
    now = now or datetime.now(UTC)
    outcomes: list[ImportOutcome] = []
    for academy in settings.academy_codes():
        outcomes += _import_pending_of(
            engine,
            store,
            settings,
            year,
            phase_types,
            academy,
            run_id=run_id,
            dry_run=dry_run,
            schools=schools,
            today=today,
            phase=phase,
            now=now,
            map_files=map_files,
            retry_failed=retry_failed,
            steps=steps,
        )
    return outcomes


def _import_pending_of(
    engine: Engine,
    store: ObjectStore,
    settings: Settings,
    year: str,
    phase_types: Collection[str],
    academy: str | None,
    *,
    run_id: str,
    dry_run: bool,
    schools: Collection[str] | None,
    today: date | None,
    phase: str | None,
    now: datetime,
    map_files: FileMapper,
    retry_failed: bool,
    steps: StepListener,
) -> list[ImportOutcome]:
    outcomes: list[ImportOutcome] = []
    if not dry_run:
        # what is not a regular file, and the quarantines a stopped run left half done,
        # are dealt with first; each is said in one sentence and the rest goes on
        notes = set_aside_not_regular(store, year)
        with engine.begin() as conn:
            directory_lock(conn)
            notes += complete_quarantines(conn, store, year, run_id=run_id, now=now)
            _, moves = release_held(conn, store, year, now, academy)
        move_files(store, moves)
        outcomes += [
            ImportOutcome(school_year=year, delivery="-", status="quarantined", reason=note)
            for note in notes
        ]
        # the reports a run that applied a delivery did not write (killed, store down)
        outcomes += [
            ImportOutcome(school_year=year, delivery="-", status="already_applied", reason=note)
            for note in complete_reports(engine, store, year, academy, now=now)
        ]
    return outcomes + [
        import_delivery(
            engine,
            store,
            settings,
            year,
            landed.delivery,
            run_id=run_id,
            dry_run=dry_run,
            schools=schools,
            today=today,
            types=with_structures(phase_types),
            phase=phase,
            now=now,
            map_files=map_files,
            landed=landed,
            retry_failed=retry_failed,
            steps=steps,
        )
        for landed in scan_landing(store, year, academy).with_types(phase_types)
    ]
