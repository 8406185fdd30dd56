"""Importing one landing delivery into the directory of a school year.

`import_delivery`: list the delivery (or take the caller's listing) -> in ONE transaction
under the directory lock: route, wait behind a pending hold, stage, plan, weigh the holds,
then carry the plan out (skipped by a dry run) -> commit -> move the files and write the
reports (`tasks.imports.apply`).

A run for some schools only (manual re-runs after late ONDE entries) applies only the rows
of those schools, marks nobody missing outside them, and leaves the files in `landing/`
unrecorded: the next full run applies the rest (and changes nothing in those schools).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from rentree.infra.db import directory_lock
from rentree.infra.naming import FEED_TYPES, check_school_year
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore
from rentree.tasks.imports.apply import carry_out, finish_import
from rentree.tasks.imports.failures import set_aside, transient
from rentree.tasks.imports.outcome import ImportOutcome
from rentree.tasks.imports.plan import DeliveryPlan, plan_import
from rentree.tasks.imports.steps import Step, StepListener, no_steps
from rentree.tasks.intake.landing import Delivery, find_delivery
from rentree.tasks.intake.stage import FileMapper
from rentree.tasks.planned import apply_unless_dry_run


def import_delivery(
    engine: Engine,
    store: ObjectStore,
    settings: Settings,
    year: str,
    delivery: str,
    *,
    run_id: str,
    dry_run: bool = False,
    schools: Collection[str] | None = None,
    today: date | None = None,
    types: Collection[str] | None = None,
    phase: str | None = None,
    now: datetime | None = None,
    map_files: FileMapper = map,
    landed: Delivery | None = None,
    retry_failed: bool = False,
    academy: str | None = None,
    steps: StepListener = no_steps,
) -> ImportOutcome:
    """Import one landing delivery of a school year (all its types, or only `types`).

    `map_files` runs the file checks of the stage step (a flow passes its task runner's map).
    `landed` is the delivery as the caller listed it (`import_pending` lists landing/ once).
    A delivery whose apply fails once checked is set aside (`tasks.imports.failures`) and
    tried again only with `retry_failed` or once its files change. `academy`: in a region
    of several, the academy whose `landing/<year>/<academy>/` holds the delivery (`landed`
    carries it when given); its ids, ordering, holds, reports and files are its own.
    `steps` hears each step of `tasks.imports.steps` as it starts.
    """
    check_school_year(year)
    now = now or datetime.now(UTC)
    landed = landed or find_delivery(store, year, delivery, academy)
    plan: DeliveryPlan | None = None
    try:
        with engine.begin() as conn:
            directory_lock(conn)
            plan = plan_import(
                conn,
                store,
                settings,
                landed,
                types or FEED_TYPES,
                phase=phase,
                run_id=run_id,
                today=today or now.date(),
                schools=schools,
                map_files=map_files,
                retry_failed=retry_failed,
                steps=steps,
            )

            def apply(planned: DeliveryPlan) -> list[tuple[str, str]]:
                steps(landed.delivery, Step.HOLD if planned.hold_reasons else Step.APPLY)
                return carry_out(conn, store, planned, run_id=run_id, now=now)

            moves = apply_unless_dry_run(plan, apply, dry_run=dry_run)
    except Exception as exc:
        # checked, then failed: set aside; before the checks (storage, connection): raised
        if plan is None or plan.staged is None or dry_run or transient(exc):
            raise
        outcome = set_aside(engine, plan.outcome, plan.staged, exc, run_id=run_id, now=now)
    else:
        steps(landed.delivery, Step.FINISH)
        outcome = finish_import(engine, store, plan, moves, run_id=run_id)
    steps(landed.delivery, Step.DONE)
    return outcome
