"""`family-import`: apply the new year's EtabEducNat, Eleve and PersRelEleve deliveries
(held ones released once the ONDE switch is recorded), then the pending teacher
attachments (R10) and the late-entry watch (R12)."""

from __future__ import annotations

from typing import Any

from rentree.flows.importing import HoldAsk, import_flow
from rentree.flows.run.phase import SchoolYear, Uai, phase_flow
from rentree.tasks.imports.outcome import FAMILY_IMPORT_TYPES

PHASE = "family-import"


@phase_flow(PHASE)
def family_import(
    year: SchoolYear | None = None,
    dry_run: bool = False,
    schools: list[Uai] | None = None,
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
        dry_run: Plan every delivery and write the exact change set as report files; apply,
            move and record nothing.
        schools: Only these schools, as a list of UAIs (e.g. ["0590001A"]): a manual re-run
            after late ONDE entries; empty: every school.
    """
    return import_flow(
        PHASE,
        "Family import",
        FAMILY_IMPORT_TYPES,
        year=year,
        dry_run=dry_run,
        schools=schools,
        hold=HoldAsk(hold_id, approve, wait_for_approval),
        retry_failed=retry_failed,
    )
