"""`staff-import`: apply the new year's PersEducNat deliveries in order (R8)."""

from __future__ import annotations

from typing import Any

from rentree.flows.importing import HoldAsk, import_flow
from rentree.flows.run.phase import SchoolYear, phase_flow
from rentree.tasks.imports.outcome import STAFF_TYPES

PHASE = "staff-import"


@phase_flow(PHASE)
def staff_import(
    year: SchoolYear | None = None,
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
        dry_run: Plan every delivery and write the exact change set as report files; apply,
            move and record nothing.
    """
    return import_flow(
        PHASE,
        "Staff import",
        STAFF_TYPES,
        year=year,
        dry_run=dry_run,
        hold=HoldAsk(hold_id, approve, wait_for_approval),
        retry_failed=retry_failed,
        follow_ups=False,
    )
