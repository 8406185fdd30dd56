"""`staff-import`: apply the new year's PersEducNat deliveries in order (R8)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from rentree.flows.importing import run_import_phase
from rentree.flows.options import refuse_bad_options
from rentree.flows.run.context import new_year_of, open_run, run_name
from rentree.tasks.imports.outcome import STAFF_TYPES

PHASE = "staff-import"


@flow(name=PHASE, flow_run_name=run_name(PHASE), log_prints=True)
@refuse_bad_options
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
    and `approve`."""
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
