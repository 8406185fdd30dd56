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


def deploy(flow: Any, **options: Any) -> Any:
    """A runner deployment of `flow`, tagged with its name."""
    return flow.to_deployment(DEPLOYMENT, entrypoint_type=MODULE, tags=[TAG, flow.name], **options)


def build_deployments(settings: Settings) -> list[Any]:
    """The runner deployments of every phase flow, ready for `prefect.serve`."""
    window = f"{settings.switch_window_start} to {settings.switch_window_end}"
    deployments = [
        deploy(
            nightly,
            schedules=[Cron("0 2 * * *", timezone=TIMEZONE)],
            description="Held files to re-check, new deliveries, pending attachments, "
            "late-entry watch.",
        ),
        deploy(
            storage_report,
            schedules=[Cron("0 6 * * 1", timezone=TIMEZONE)],
            description="Weekly storage report (Monday 06:00).",
        ),
        deploy(
            onde_switch,
            schedules=[Cron("0 * * * *", timezone=TIMEZONE, parameters={"only_in_window": True})],
            description=f"Hourly ONDE switch detection, acting only from {window} (MM-DD).",
        ),
        deploy(
            family_import,
            triggers=[switch_trigger()],
            description="Pupils, relatives, classes; started by the ONDE switch event.",
        ),
        deploy(freeze),
        deploy(staff_import),
        deploy(attach_teachers),
        deploy(share_purge),
        deploy(
            retire_missing,
            schedules=[
                Cron("0 3 * * *", timezone=TIMEZONE, parameters={"wait_for_approval": False})
            ],
            description="Nightly: notice, deactivation, then retirement of people missing past "
            "the grace periods (R11); held above the thresholds.",
        ),
    ]
    return deployments
