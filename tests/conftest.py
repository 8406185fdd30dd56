"""Shared fixtures: every database test runs on SQLite and PostgreSQL, every storage test on
a local folder and on S3 through moto's server over HTTP. A test that takes both runs on
three of the four pairs: SQLite with each store, PostgreSQL with S3 (a deployment's pair);
the database and the store meet only through the code under test, which reaches each through
its one interface, so PostgreSQL with a local folder adds no path the others miss.

PostgreSQL runs when RENTREE_TEST_POSTGRES_URL is set (`.ci/run` always sets it); without it
those tests are skipped with the reason shown.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import polars as pl
import pytest
from sqlalchemy import Engine

from rentree.infra.db import truncate_all
from rentree.infra.engine import make_engine
from rentree.infra.migrate import upgrade
from rentree.infra.storage import LocalStore, ObjectStore, S3Store
from tests.content_builders import inserted, small_region

POSTGRES_URL = os.environ.get("RENTREE_TEST_POSTGRES_URL")
UNPAIRED = {"engine": "postgresql", "store": "local"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the PostgreSQL + local folder pair of tests parametrized by both."""
    kept, left_out = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        pair = all(params.get(name) == value for name, value in UNPAIRED.items())
        (left_out if pair else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    if not POSTGRES_URL:
        pytest.skip("RENTREE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    engine = make_engine(POSTGRES_URL)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty SQLite directory database, for what only SQLite does."""
    eng = make_engine(f"sqlite:///{tmp_path / 'rentree.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty directory database."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_engine")
    else:
        eng = request.getfixturevalue("postgres_engine")
        with eng.begin() as conn:
            truncate_all(conn)
        yield eng


@pytest.fixture
def small_region_rows(engine: Engine) -> dict[str, pl.DataFrame]:
    """content_builders' two-school region in the test's database, as inserted."""
    return inserted(engine, small_region())


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def make_s3_store(endpoint: str) -> S3Store:
    bucket = f"rentree-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return S3Store(bucket, "region", endpoint_url=endpoint)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """An empty object store laid out as storage.md says."""
    if request.param == "local":
        local = LocalStore(tmp_path / "storage")
        local.ensure_layout()
        return local
    s3 = make_s3_store(request.getfixturevalue("moto_endpoint"))
    s3.ensure_layout()
    return s3


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test server for the whole session, used only by the flow tests."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):
        yield
