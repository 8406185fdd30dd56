"""The deployments `rentree serve` registers: schedules, and the trigger that starts
family-import on `rentree.onde.switched` with the event's year."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from flows_harness import flow_store  # noqa: F401
from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.server.events.actions import RunDeployment
from prefect.server.events.schemas.automations import EventTrigger
from prefect.server.events.schemas.events import ReceivedEvent
from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate
from sqlalchemy import Engine

from rentree.flows.deployments import build_deployments
from rentree.flows.onde_switch import onde_switch, switch_event
from rentree.flows.registry import FLOWS
from rentree.infra.naming import feed_file_name, landing_key
from rentree.infra.settings import load_settings
from rentree.infra.storage import LocalStore
from rentree.tasks.rules.years import freeze_year

pytestmark = pytest.mark.flows


def _by_flow() -> dict[str, Any]:
    return {d.flow_name: d for d in build_deployments(load_settings())}


def _schedule(deployment: Any) -> tuple[str, str]:
    schedule = deployment.schedules[0].schedule
    return schedule.cron, schedule.timezone


def test_schedules_of_the_deployments() -> None:
    deployments = _by_flow()
    # every flow the registry names is deployed, tagged with its name
    assert set(deployments) == set(FLOWS)
    assert all(d.tags == ["rentree", name] for name, d in deployments.items())
    assert _schedule(deployments["nightly"]) == ("0 2 * * *", "Europe/Paris")
    assert _schedule(deployments["retire-missing"]) == ("0 3 * * *", "Europe/Paris")
    assert _schedule(deployments["storage-report"]) == ("0 6 * * 1", "Europe/Paris")
    assert _schedule(deployments["onde-switch"]) == ("0 * * * *", "Europe/Paris")
    # The hourly detection acts only inside the window: the flow checks it.
    assert deployments["onde-switch"].schedules[0].parameters == {"only_in_window": True}
    assert not deployments["freeze"].schedules


def test_family_import_trigger_matches_the_switch_event() -> None:
    trigger = _by_flow()["family-import"].triggers[0]
    trigger.set_deployment_id(uuid4())
    automation = trigger.as_automation()
    server_trigger = EventTrigger.model_validate(automation.trigger.model_dump())
    fields = switch_event("2025-2026", "detected")
    event = ReceivedEvent(
        occurred=datetime.now(UTC), received=datetime.now(UTC), id=uuid4(), **fields
    )
    assert server_trigger.covers(event)
    other = ReceivedEvent(
        occurred=datetime.now(UTC),
        received=datetime.now(UTC),
        id=uuid4(),
        **{**fields, "event": "rentree.other"},
    )
    assert not server_trigger.covers(other)
    # The parameters as the RunDeployment action renders them from the event.
    parameters = copy.deepcopy(automation.actions[0].parameters)  # type: ignore[union-attr]
    RunDeployment._upgrade_v1_templates(parameters)
    rendered = hydrate(
        parameters,
        HydrationContext(raise_on_error=True, render_jinja=True, jinja_context={"event": event}),
    )
    assert rendered == {"year": "2025-2026"}


def test_switch_event_starts_family_import(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
) -> None:
    """A real automation on the test server: the event creates a family-import run."""
    deployment = _by_flow()["family-import"]
    deployment_id = deployment.apply()
    with engine.begin() as conn:
        freeze_year(conn, "2024-2025", datetime.now(UTC))
    name = feed_file_name("PersRelEleve", datetime(2025, 9, 3).date(), 0, "Complet")
    flow_store.write_bytes(landing_key("2025-2026", name), b"<ficAlimMENESR/>")
    # The triggers service loads automations shortly after they change.
    time.sleep(3)
    assert onde_switch()["newly_recorded"] is True
    deadline = time.monotonic() + 60
    runs: list[Any] = []
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline and not runs:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
            time.sleep(1)
        client.delete_deployment(deployment_id)
    assert [r.parameters for r in runs] == [{"year": "2025-2026"}]
