"""`staff-import`: apply the new year's PersEducNat deliveries in order (R8)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from rentree.flows.importing import run_import_phase
from rentree.flows.run.context import new_year_of, open_run, run_name
from rentree.flows.run.states import operator_states
from rentree.tasks.imports.outcome import STAFF_TYPES

PHASE = "staff-import"


@flow(name=PHASE, flow_run_name=run_name(PHASE), log_prints=True)
@operator_states
def staff_import(
    year: str | None = None,
    dry_run: bool = False,
    hold_id: str | None = None,
    approve: bool | None = None,
    wait_for_approval: bool = True,
    retry_failed: bool = False,
) -> dict[str, Any]:
    """Import the PersEducNat deliveries waiting in landing/<year>/ (default: the new year),
    oldest first: staff get their new schools and leave the ones they left (R8). A delivery
    above a hold threshold waits for approval in this run's form, or later with `hold_id`
    and `approve`.

    Args:
        year: School year, written YYYY-YYYY (e.g. 2025-2026); empty: the year being imported
            (the closing year's successor).
        dry_run: Do everything but commit: the exact change set is written as report files,
            nothing changes.
        hold_id: The id of a pending hold to decide on (`rentree status` lists them), with
            approve.
        approve: With hold_id: true applies the held change set, false rejects it (files to
            quarantine). Empty: ask in the approval form.
        wait_for_approval: When a delivery is held, pause with the approval form in the UI (up
            to RENTREE_APPROVAL_TIMEOUT_SECONDS); false: leave the hold pending.
        retry_failed: Try again the deliveries set aside after an apply that failed.
    """
    with open_run(PHASE, year, dry_run=dry_run, resolve_year=new_year_of) as ctx:
        ctx.retry_failed = retry_failed
        return run_import_phase(
            ctx,
            "Staff import",
            STAFF_TYPES,
            phase=PHASE,
            hold_id=hold_id,
            approve=approve,
            wait_for_approval=wait_for_approval,
            follow_ups=False,
        )
