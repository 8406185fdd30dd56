"""The deployments `rentree serve` registers: one per phase flow, with the schedules and the
trigger of operations.md.

- `nightly`: every day at 02:00 Europe/Paris.
- `storage-report`: every Monday at 06:00 Europe/Paris.
- `onde-switch`: every hour; the run itself checks that today is inside the rentrée window
  (RENTREE_SWITCH_WINDOW_START/END, MM-DD), so the window can change without redeploying.
- `family-import`: started by the event `rentree.onde.switched`, the event's year as its
  `year` parameter; operators run it from the UI too (optionally for some schools).
- `retire-missing`: every day at 03:00 Europe/Paris, after `nightly`, without waiting for
  an approval (a run above the thresholds leaves its hold pending for the operator).
- `freeze`, `staff-import`, `attach-teachers`, `share-purge`: run by an operator.
"""

from __future__ import annotations

from typing import Any

from prefect.deployments.runner import EntrypointType
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron

from rentree.flows.attach_teachers import attach_teachers
from rentree.flows.family_import import family_import
from rentree.flows.freeze import freeze
from rentree.flows.nightly import nightly
from rentree.flows.onde_switch import ONDE_SWITCHED, SCHOOL_YEAR_RESOURCE, onde_switch
from rentree.flows.retire_missing import retire_missing
from rentree.flows.run.context import TAG
from rentree.flows.share_purge import share_purge
from rentree.flows.staff_import import staff_import
from rentree.flows.storage_report import storage_report
from rentree.infra.settings import Settings

TIMEZONE = "Europe/Paris"
# The installed package's module path, not a file path: served runs work from any folder.
MODULE = EntrypointType.MODULE_PATH
DEPLOYMENT = "rentree"


def switch_trigger() -> DeploymentEventTrigger:
    """Start family-import when the ONDE switch of a school year is recorded."""
    return DeploymentEventTrigger(
        name="family-import on ONDE switch",
        description="The ONDE switch makes the new year's pupils and relatives files usable.",
        expect={ONDE_SWITCHED},
        match={"prefect.resource.id": f"{SCHOOL_YEAR_RESOURCE}.*"},
        parameters={"year": "{{ event.payload.year }}"},
    )


def deployment_name(flow_name: str) -> str:
    """Each deployment its own name (`family-import/rentree-family-import`), so that the
    Deployments page does not list eight deployments called the same."""
    return f"{DEPLOYMENT}-{flow_name}"


def build_deployments(settings: Settings) -> list[Any]:
    """The runner deployments of every phase flow, ready for `prefect.serve`."""
    window = f"{settings.switch_window_start} to {settings.switch_window_end}"
    plans: list[tuple[Any, str, dict[str, Any]]] = [
        (
            nightly,
            "Every day at 02:00 Europe/Paris: held files to re-check, new deliveries of the "
            "current phase, pending teacher attachments, the late-entry watch.",
            {"schedules": [Cron("0 2 * * *", timezone=TIMEZONE)]},
        ),
        (
            storage_report,
            "Every Monday at 06:00 Europe/Paris: storage per user, school and region, quota "
            "use, what emptying the trashes would free, share bookmarks whose members left.",
            {"schedules": [Cron("0 6 * * 1", timezone=TIMEZONE)]},
        ),
        (
            onde_switch,
            f"Every hour, acting only from {window} (MM-DD): detects the ONDE switch (the "
            "first complete pupils file of the new year) and starts family-import; run it "
            "with confirm=true to record the switch by hand.",
            {
                "schedules": [
                    Cron("0 * * * *", timezone=TIMEZONE, parameters={"only_in_window": True})
                ]
            },
        ),
        (
            family_import,
            "Pupils, relatives, classes and scolarité groups of the new year; started by the "
            "ONDE switch event, or by an operator (optionally for some schools only).",
            {"triggers": [switch_trigger()]},
        ),
        (
            freeze,
            "Early July, by an operator: closes the school year for changes (R7), snapshots "
            "it, writes the pre-purge notice (R6) and the bookmark clean-up report (R13).",
            {},
        ),
        (
            staff_import,
            "Late August, by an operator (or nightly): applies the new year's staff files "
            "(PersEducNat, R8).",
            {},
        ),
        (
            attach_teachers,
            "By an operator: attaches teachers to classes from a request list (its storage "
            "key) or a school's whole team; a class with no pupil yet keeps the request "
            "pending (R10).",
            {},
        ),
        (
            share_purge,
            "By an operator, after family-import: previews (dry_run) then purges the shares "
            "to the closing year's groups (R5); undo_run_id puts them back.",
            {},
        ),
        (
            retire_missing,
            "Every night at 03:00 Europe/Paris: notice, deactivation, then retirement of people "
            "missing past the grace periods (R11); held above the thresholds.",
            {
                "schedules": [
                    Cron("0 3 * * *", timezone=TIMEZONE, parameters={"wait_for_approval": False})
                ]
            },
        ),
    ]
    return [
        flow.to_deployment(
            deployment_name(flow.name),
            entrypoint_type=MODULE,
            tags=[TAG, flow.name],
            description=description,
            **options,
        )
        for flow, description, options in plans
    ]
