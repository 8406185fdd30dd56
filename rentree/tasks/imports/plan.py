"""What importing one landing delivery would do, decided without writing anything.

route (R7, R9, freeze, order) -> stage (read and validate) -> plan (the change set) ->
schools filter -> hold thresholds. The result, a `DeliveryPlan`, is carried out by
`tasks.imports.apply` unless the run is a dry run: the one dry-run mechanism, the plan
computed in full and the effect step skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date

import polars as pl
from sqlalchemy import Connection

from rentree.infra.naming import reports_prefix
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore
from rentree.tasks.imports.failures import behind_failed
from rentree.tasks.imports.outcome import ImportOutcome, Status, count_sentence, phase_of
from rentree.tasks.imports.schools import restrict_to_schools
from rentree.tasks.imports.steps import Step, StepListener, no_steps
from rentree.tasks.intake.landing import Delivery, LandedFile
from rentree.tasks.intake.routing import Route, route_delivery
from rentree.tasks.intake.stage import (
    AlreadyApplied,
    FileMapper,
    Quarantined,
    StagedDelivery,
    StageError,
    stage_delivery,
)
from rentree.tasks.rules.holds import Hold, evaluate_holds, pending_holds
from rentree.tasks.sync.changeset import ChangeSet
from rentree.tasks.sync.plan import plan_delivery


@dataclass
class DeliveryPlan:
    """One delivery's import as decided: `outcome.status` is what carrying it out does
    (`applied`, `held`, `quarantined`, `already_applied`, `skipped`), and the parts needed
    to do it."""

    landed: Delivery
    route: Route
    outcome: ImportOutcome
    prefix: str  # the run's reports
    quarantined: Quarantined | None = None
    change_set: ChangeSet | None = None
    hold_reasons: list[str] = field(default_factory=list)
    schools: list[str] | None = None
    archive: tuple[LandedFile, ...] = ()  # to archive/ once the import is committed
    staged: StagedDelivery | None = None
    # record errors and warnings of the checks, and the records the plan refused (R1)
    problems: pl.DataFrame = field(default_factory=pl.DataFrame)

    @property
    def applied_files(self) -> tuple[LandedFile, ...]:
        """The delivery's files of the applied types (staged, or applied before)."""
        return self.landed.of_types(self.route.apply_types)


def blocking_hold(conn: Connection, landed: Delivery, route: Route) -> Hold | None:
    """A delivery waiting for an operator's decision blocks itself and the later ones of
    its types."""
    blocking = [
        h
        for h in pending_holds(conn, landed.school_year, kind="delivery")
        if (h.summary or {}).get("academy") == landed.academy
        and (h.delivery or "") <= landed.delivery
        and set((h.summary or {}).get("complete", {}) or route.apply_types) & set(route.apply_types)
    ]
    return blocking[0] if blocking else None


def blocked_outcome(outcome: ImportOutcome, hold: Hold) -> ImportOutcome:
    year, delivery = outcome.school_year, outcome.delivery
    same = hold.delivery == delivery
    outcome.status = "held" if same else "skipped"
    outcome.hold_id = hold.hold_id
    outcome.reason = (
        f"The delivery {delivery} of {year} waits for an operator's decision on the hold "
        f"{hold.hold_id}."
        if same
        else f"The delivery {delivery} of {year} waits: the earlier delivery "
        f"{hold.delivery} is held ({hold.hold_id}) and deliveries apply in "
        "extraction-date order."
    )
    return outcome


def route_plan(
    conn: Connection,
    store: ObjectStore,
    landed: Delivery,
    wanted: Collection[str],
    phase: str | None,
    run_id: str,
) -> DeliveryPlan:
    """Route the delivery's files of the `wanted` types: the plan's start (held types, the
    types to stage), or a skip when none of them is in landing/."""
    year, delivery = landed.school_year, landed.delivery
    present = sorted(landed.types & set(wanted))
    route = route_delivery(conn, store, year, delivery, present, landed=landed)
    outcome = ImportOutcome(
        school_year=year, delivery=delivery, status="skipped", reason="", academy=landed.academy
    )
    if not present:
        outcome.reason = (
            f"No landing file of {', '.join(sorted(wanted))} for the delivery {delivery} of "
            f"{year}: nothing to import."
        )
    elif not route.apply_types:
        outcome.status = "held"
        outcome.reason = route.reason or "Held."
    prefix = reports_prefix(year, phase or phase_of(present or wanted), run_id, landed.academy)
    return DeliveryPlan(landed, route, outcome, prefix)


def plan_import(
    conn: Connection,
    store: ObjectStore,
    settings: Settings,
    landed: Delivery,
    wanted: Collection[str],
    *,
    phase: str | None,
    run_id: str,
    today: date,
    schools: Collection[str] | None = None,
    map_files: FileMapper = map,
    waits: bool = True,
    retry_failed: bool = False,
    steps: StepListener = no_steps,
) -> DeliveryPlan:
    """The import step's plan for a landing delivery's files of the `wanted` types (reads
    only): routed, then, unless it waits (`waits`: behind a pending hold, or behind a
    delivery set aside after a failed apply unless `retry_failed`), staged, planned and
    weighed against the hold thresholds. Approving a hold plans with `waits=False`: the
    hold it decides is the one the others wait behind. `steps` hears the checks and planning
    start (`tasks.imports.steps`)."""
    plan = route_plan(conn, store, landed, wanted, phase, run_id)
    types = plan.route.apply_types
    if not types:
        return plan
    if waits:
        blocking = blocking_hold(conn, landed, plan.route)
        if blocking is not None:
            blocked_outcome(plan.outcome, blocking)
            return plan
        waiting = behind_failed(conn, store, landed, types, retry_failed=retry_failed)
        if waiting is not None:
            plan.outcome.status, plan.outcome.reason = waiting
            return plan
    steps(landed.delivery, Step.CHECK_AND_PLAN)
    return _plan_routed(
        conn,
        store,
        settings,
        plan,
        run_id=run_id,
        today=today,
        schools=schools,
        map_files=map_files,
    )


def _plan_routed(
    conn: Connection,
    store: ObjectStore,
    settings: Settings,
    plan: DeliveryPlan,
    *,
    run_id: str,
    today: date,
    schools: Collection[str] | None,
    map_files: FileMapper,
) -> DeliveryPlan:
    """Stage, plan and weigh the holds of a routed delivery's applied types (reads only)."""
    landed, outcome = plan.landed, plan.outcome
    year, delivery = landed.school_year, landed.delivery
    staged = _stage(conn, store, settings, landed, plan.route.apply_types, run_id, map_files)
    if isinstance(staged, Quarantined):
        outcome.status, outcome.reason = "quarantined", staged.sentence
        outcome.report_keys += [staged.report.csv_key, staged.report.parquet_key]
        plan.quarantined = staged
        return plan
    if isinstance(staged, tuple):
        outcome.status, outcome.reason = staged
        if outcome.status == "already_applied" and schools is None:
            plan.archive = plan.applied_files
        return plan
    plan.schools = sorted(set(schools)) if schools is not None else None
    change_set = plan_delivery(conn, staged, today=today, schools=plan.schools)
    plan.staged = staged
    plan.problems = pl.concat([staged.problems, change_set.refused], how="diagonal_relaxed")
    if plan.schools is not None:
        change_set = restrict_to_schools(change_set, plan.schools)
    plan.change_set = change_set
    outcome.counts = change_set.counts()
    outcome.counts_per_school = change_set.counts_per_school()
    plan.hold_reasons = evaluate_holds(conn, change_set, settings)
    if plan.hold_reasons:
        outcome.status = "held"
        outcome.reason = f"The delivery {delivery} of {year} would be held: " + " ".join(
            plan.hold_reasons
        )
    else:
        outcome.status = "applied"
        outcome.reason = (
            f"The delivery {delivery} of {year} would apply {count_sentence(outcome.counts)}."
        )
        if plan.schools is None:
            plan.archive = plan.applied_files
    return plan


def _stage(
    conn: Connection,
    store: ObjectStore,
    settings: Settings,
    landed: Delivery,
    types: Sequence[str],
    run_id: str,
    map_files: FileMapper,
) -> StagedDelivery | Quarantined | tuple[Status, str]:
    """Stage the delivery and keep its files of `types`; a delivery with nothing to plan
    is (skipped or already_applied, the sentence saying why)."""
    year, delivery = landed.school_year, landed.delivery
    try:
        staged = stage_delivery(
            conn,
            store,
            year,
            delivery,
            settings,
            run_id=run_id,
            map_files=map_files,
            types=types,
            landed=landed,
        )
    except StageError as exc:
        return "skipped", str(exc)
    if isinstance(staged, Quarantined):
        return staged
    if isinstance(staged, AlreadyApplied):
        return (
            "already_applied",
            f"Every file of the delivery {delivery} of {year} was applied before: nothing to do.",
        )
    wanted = set(types)
    files = tuple(f for f in staged.files if f.feed.file_type in wanted)
    if not files:
        return (
            "already_applied",
            f"Every {', '.join(sorted(wanted))} file of the delivery {delivery} of {year} was "
            "applied before: nothing to do.",
        )
    return dataclasses.replace(
        staged,
        files=files,
        frames={t: f for t, f in staged.frames.items() if t in wanted},
        complete={t: c for t, c in staged.complete.items() if t in wanted},
    )
