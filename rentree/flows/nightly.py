"""`nightly`: what is due, in order: held files to re-check, new deliveries of the current
phase (closing year's files are held, R7), pending teacher attachments, late-entry watch."""

from __future__ import annotations

from typing import Any

from prefect import flow

from rentree.flows.importing import finish_phase, run_phase
from rentree.flows.run.artifacts import nothing_done
from rentree.flows.run.context import new_year_of, open_run, run_name
from rentree.flows.run.states import operator_states
from rentree.flows.staging import FileCheckMapper
from rentree.infra.naming import FEED_TYPES
from rentree.tasks.rules.years import current_years

PHASE = "nightly"


@flow(name=PHASE, flow_run_name=run_name(PHASE), log_prints=True)
@operator_states
def nightly(
    hold_id: str | None = None,
    approve: bool | None = None,
    wait_for_approval: bool = True,
    retry_failed: bool = False,
) -> dict[str, Any]:
    """Re-check held files and import the new deliveries of the closing and the new year
    (routing holds what may not apply yet: R7 frozen year, R9 before the ONDE switch), then
    the pending attachments (R10) and the late-entry watch (R12) of the new year.
    `hold_id` + `approve` decide on a held delivery first; `retry_failed` tries again the
    deliveries set aside after a failed apply.

    Args:
        hold_id: The id of a pending hold to decide on (`rentree status` lists them), with
            approve.
        approve: With hold_id: true applies the held change set, false rejects it (files to
            quarantine). Empty: ask in the approval form.
        wait_for_approval: When a delivery is held, pause with the approval form in the UI (up
            to RENTREE_APPROVAL_TIMEOUT_SECONDS); false: leave the hold pending.
        retry_failed: Try again the deliveries set aside after an apply that failed.
    """
    with open_run(PHASE, None, resolve_year=new_year_of) as ctx:
        ctx.retry_failed = retry_failed
        with ctx.workspace.engine.connect() as conn:
            closing, new = current_years(conn)
        years = [y for y in (closing, new) if y is not None]
        if not years:
            return nothing_done(
                ctx,
                "Nightly",
                "The directory holds no school year yet: nothing is due.",
                status="completed",
            )
        with FileCheckMapper(ctx.settings) as mapper:
            result = run_phase(
                ctx,
                years,
                FEED_TYPES,
                phase=None,
                hold_id=hold_id,
                approve=approve,
                wait_for_approval=wait_for_approval,
                mapper=mapper,
            )
        return finish_phase(ctx, result, f"Nightly {new}", new)
