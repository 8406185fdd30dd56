"""`family-import`: apply the new year's EtabEducNat, Eleve and PersRelEleve deliveries
(held ones released once the ONDE switch is recorded), then the pending teacher
attachments (R10) and the late-entry watch (R12)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from rentree.flows.common import new_year_of, open_run, publish_summary, run_name
from rentree.flows.importing import finish_phase, run_phase
from rentree.flows.staging import FileCheckMapper
from rentree.tasks.imports import FAMILY_IMPORT_TYPES

PHASE = "family-import"


@flow(name="family-import", flow_run_name=run_name(PHASE), log_prints=True)
def family_import(
    year: str | None = None,
    dry_run: bool = False,
    schools: list[str] | None = None,
    hold_id: str | None = None,
    approve: bool | None = None,
    wait_for_approval: bool = True,
) -> dict[str, Any]:
    """Place students and relatives in their new school and class: classes, scolarité
    groups, new local accounts and their activation codes. `schools` (UAIs) limits the run
    to those schools (manual re-runs after late ONDE entries). A delivery above a hold
    threshold waits for approval in this run's form, or later with `hold_id` and `approve`."""
    with open_run(PHASE, year, dry_run=dry_run, resolve_year=new_year_of) as ctx:
        if ctx.school_year is None:
            ctx.status = "rejected"
            ctx.summary = {"message": "No school year given and the directory holds none."}
            publish_summary(ctx, "Family import", [("Nothing done", ctx.summary["message"])])
            return ctx.result()
        with FileCheckMapper(ctx.settings) as mapper:
            result = run_phase(
                ctx,
                [ctx.school_year],
                FAMILY_IMPORT_TYPES,
                phase=PHASE,
                schools=schools,
                hold_id=hold_id,
                approve=approve,
                wait_for_approval=wait_for_approval,
                mapper=mapper,
            )
        return finish_phase(ctx, result, f"Family import {ctx.school_year}", ctx.school_year)
