"""The ONDE switch flow emits `rentree.onde.switched`, and the family-import deployment's
trigger reacts to that event with the event's year as its parameter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flows_harness import flow_store  # noqa: F401
from prefect.events.worker import EventsWorker
from prefect.testing.fixtures import asserting_events_worker  # noqa: F401
from sqlalchemy import Engine, select

from rentree.flows.onde_switch import ONDE_SWITCHED, onde_switch
from rentree.infra.naming import feed_file_name, landing_key
from rentree.infra.schema import runs, school_years
from rentree.infra.storage import LocalStore
from rentree.tasks.rules.years import freeze_year

pytestmark = pytest.mark.flows


def _switch_events(worker: EventsWorker) -> list:
    worker.wait_until_empty()
    events = worker._client.pop_events()  # type: ignore[union-attr]
    return [e for e in events if e.event == ONDE_SWITCHED]


def test_switch_detected_emits_event_and_is_recorded(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    asserting_events_worker: EventsWorker,  # noqa: F811
) -> None:
    with engine.begin() as conn:
        freeze_year(conn, "2023-2024", datetime.now(UTC))
    # No family file yet: nothing detected, no event.
    first = onde_switch()
    assert first["switched"] is False
    assert _switch_events(asserting_events_worker) == []
    name = feed_file_name("Eleve", datetime(2024, 9, 5).date(), 0, "Complet")
    flow_store.write_bytes(landing_key("2024-2025", name), b"<ficAlimMENESR/>")
    second = onde_switch()
    assert second["newly_recorded"] is True
    events = _switch_events(asserting_events_worker)
    assert len(events) == 1
    assert events[0].resource.id == "rentree.school-year.2024-2025"
    assert events[0].payload["year"] == "2024-2025"
    with engine.connect() as conn:
        row = conn.execute(
            select(school_years).where(school_years.c.school_year == "2024-2025")
        ).one()
        recorded = conn.execute(select(runs.c.flow, runs.c.status)).all()
    assert row.onde_switch_source == "detected"
    assert recorded == [("onde-switch", "completed"), ("onde-switch", "completed")]
    # Detected again: already recorded, no second event (family-import is not re-triggered).
    assert onde_switch()["newly_recorded"] is False
    assert _switch_events(asserting_events_worker) == []
