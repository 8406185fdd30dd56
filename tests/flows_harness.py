"""Helpers for the flow tests: a workspace the flows open from the environment, a tiny
region's closing year frozen through the flows, and a paused run to answer."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.objects import FlowRun, StateType
from sqlalchemy import Engine

from rentree.flows.family_import import family_import
from rentree.flows.freeze import freeze
from rentree.flows.staff_import import staff_import
from rentree.infra.settings import load_settings
from rentree.infra.storage import LocalStore
from rentree.infra.workspace import open_workspace
from rentree.synthetic import generate_region
from rentree.synthetic.landing import land_delivery


@pytest.fixture
def flow_store(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> LocalStore:
    """Point the flows (which open their workspace from RENTREE_*) at the test's database and
    a local store; the database is the `engine` fixture's (SQLite and PostgreSQL)."""
    root = tmp_path / "storage"
    monkeypatch.setenv("RENTREE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("RENTREE_STORAGE_URL", str(root))
    monkeypatch.setenv("RENTREE_APPROVAL_TIMEOUT_SECONDS", "120")
    store = LocalStore(root)
    store.ensure_layout()
    return store


def frozen_closing_year(tmp_path: Path, *, create: bool = False) -> dict[str, Any]:
    """A tiny region's closing year imported and frozen through the flows (in this process,
    on the workspace RENTREE_* names) and the new year's first staff file landed; returns
    the region's manifest. `create` makes the workspace's database first."""
    region = generate_region("tiny", tmp_path / "region")
    manifest: dict[str, Any] = region.manifest
    closing = manifest["closing_year"]
    first_year, staff_first = (d["delivery"] for d in manifest["deliveries"][:2])
    ws = open_workspace(load_settings(), create=create)
    land_delivery(ws.store, region.out, manifest, first_year)
    staff_import(year=closing, wait_for_approval=False)
    family_import(year=closing, wait_for_approval=False)
    freeze(year=closing)
    land_delivery(ws.store, region.out, manifest, staff_first)
    ws.engine.dispose()
    return manifest


def hold_every_leaver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thresholds at zero: a delivery with a single leaver is held."""
    monkeypatch.setenv("RENTREE_HOLD_REGION_MISSING_RATIO", "0")
    monkeypatch.setenv("RENTREE_HOLD_SCHOOL_MIN_PEOPLE", "0")


def held_staff_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The closing year frozen, the new year's first staff file landed and thresholds at
    zero so that its one leaver holds it; returns the new year."""
    manifest = frozen_closing_year(tmp_path)
    hold_every_leaver(monkeypatch)
    return str(manifest["new_year"])


def paused_run(name_part: str, timeout: float = 90) -> FlowRun:
    """The run named like `name_part` once it waits in Paused (polled: it runs in another
    thread)."""
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=name_part))
            )
            paused = [r for r in runs if r.state and r.state.type == StateType.PAUSED]
            if paused:
                return paused[0]
            time.sleep(0.5)
    raise AssertionError(f"no paused run named like {name_part!r} within {timeout} s")
