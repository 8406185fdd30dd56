"""Helpers for the flow tests: a workspace the flows open from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from rentree.infra.storage import LocalStore


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
