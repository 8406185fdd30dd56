"""`family-import`: apply the new year's EtabEducNat, Eleve and PersRelEleve deliveries
(held ones released once the ONDE switch is recorded), then the pending teacher
attachments (R10) and the late-entry watch (R12)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from rentree.flows.importing import run_import_phase
from rentree.flows.run.context import new_year_of, open_run, run_name
from rentree.flows.run.states import operator_states
from rentree.tasks.imports.outcome import FAMILY_IMPORT_TYPES

PHASE = "family-import"


@flow(name=PHASE, flow_run_name=run_name(PHASE), log_prints=True)
@operator_states
def family_import(
    year: str | None = None,
    dry_run: bool = False,
    schools: list[str] | None = None,
    hold_id: str | None = None,
    approve: bool | None = None,
    wait_for_approval: bool = True,
    retry_failed: bool = False,
) -> dict[str, Any]:
    """Place students and relatives in their new school and class: classes, scolarité
    groups, new local accounts and their activation codes. `schools` (UAIs) limits the run
    to those schools (manual re-runs after late ONDE entries). A delivery above a hold
    threshold waits for approval in this run's form, or later with `hold_id` and `approve`.

    Args:
        year: School year, written YYYY-YYYY (e.g. 2025-2026); empty: the year being imported
            (the closing year's successor).
        dry_run: Do everything but commit: the exact change set is written as report files,
            nothing changes.
        schools: Only these schools, as a list of UAIs (e.g. ["0590001A"]): a manual re-run
            after late ONDE entries; empty: every school.
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
            "Family import",
            FAMILY_IMPORT_TYPES,
            phase=PHASE,
            schools=schools,
            hold_id=hold_id,
            approve=approve,
            wait_for_approval=wait_for_approval,
            follow_ups=True,
        )
