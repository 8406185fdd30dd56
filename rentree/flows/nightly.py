"""`nightly`: what is due, in order: held files to re-check, new deliveries of the current
phase (closing year's files are held, R7), pending teacher attachments, late-entry watch."""

from __future__ import annotations

from typing import Any

from rentree.flows.importing import HoldAsk, import_flow
from rentree.flows.run.phase import phase_flow
from rentree.infra.naming import FEED_TYPES

PHASE = "nightly"


@phase_flow(PHASE)
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
    deliveries set aside after a failed apply."""
    return import_flow(
        PHASE,
        "Nightly",
        FEED_TYPES,
        hold=HoldAsk(hold_id, approve, wait_for_approval),
        retry_failed=retry_failed,
        every_current_year=True,
    )
