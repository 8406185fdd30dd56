"""Scale-out: RENTREE_TASK_RUNNER selects the task runner, and a delivery's files are
parsed and validated as parallel tasks on a (local) Dask cluster."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from distributed import LocalCluster
from flows_harness import flow_store  # noqa: F401
from prefect import flow
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner
from sqlalchemy import Engine

from rentree.flows.run.task_runner import MB, choose_runner, make_task_runner
from rentree.flows.staff_import import staff_import
from rentree.flows.staging import FileCheckMapper
from rentree.infra.settings import load_settings
from rentree.infra.storage import LocalStore, ObjectStore
from rentree.infra.workspace import open_workspace
from rentree.synthetic import generate_region
from rentree.synthetic.landing import land_delivery
from rentree.tasks.intake.stage import StagedDelivery, stage_delivery
from rentree.tasks.intake.validate import StoredFile
from tests.conftest import make_s3_store

pytestmark = pytest.mark.flows


@flow(name="parse-on-dask")
def parse_on_dask(
    year: str, delivery: str, address: str, min_mb: int = 0
) -> tuple[Any, int, list[str]]:
    """Stage one delivery with RENTREE_TASK_RUNNER=dask at `address` (Dask from `min_mb`);
    returns the outcome, the files checked and the runner each mapping got."""
    settings = load_settings(task_runner="dask", dask_address=address, dask_min_delivery_mb=min_mb)
    ws = open_workspace(settings)
    try:
        with FileCheckMapper(settings) as mapper, ws.engine.connect() as conn:
            staged = stage_delivery(conn, ws.store, year, delivery, settings, map_files=mapper)
            return staged, mapper.files_checked, [c.kind for c in mapper.choices]
    finally:
        ws.engine.dispose()


def land_first_delivery(tmp_path: Path, store: ObjectStore | None = None) -> dict[str, Any]:
    """A tiny region's first delivery landed in small chunks (many files, each one task) in
    `store`, or the workspace's; returns that delivery's manifest entry."""
    region = generate_region("tiny", tmp_path / "region", chunk_size=60)
    manifest: dict[str, Any] = region.manifest
    first: dict[str, Any] = manifest["deliveries"][0]
    if store is not None:
        land_delivery(store, region.out, manifest, first["delivery"])
        return first
    ws = open_workspace(load_settings())
    land_delivery(ws.store, region.out, manifest, first["delivery"])
    ws.engine.dispose()
    return first


def local_cluster(processes: bool = False) -> LocalCluster:
    """Two Dask workers of one thread each (in this process, or processes of their own)."""
    return LocalCluster(
        n_workers=2, processes=processes, threads_per_worker=1, dashboard_address=None
    )


def test_task_runner_follows_the_setting() -> None:
    assert isinstance(make_task_runner(load_settings(task_runner="threads")), ThreadPoolTaskRunner)
    assert isinstance(
        make_task_runner(load_settings(task_runner="processes")), ProcessPoolTaskRunner
    )
    remote = make_task_runner(load_settings(task_runner="dask", dask_address="tcp://x:8786"))
    assert isinstance(remote, DaskTaskRunner)
    assert remote.address == "tcp://x:8786"
    local = make_task_runner(load_settings(task_runner="dask", max_workers=3))
    assert isinstance(local, DaskTaskRunner)
    assert local.cluster_kwargs["n_workers"] == 3


def test_dask_only_for_a_delivery_at_or_above_the_threshold() -> None:
    settings = load_settings(task_runner="dask", dask_min_delivery_mb=256)
    small = choose_runner(settings, 12 * MB)
    assert small.kind == "threads"
    assert "12.0 MB" in small.why and "RENTREE_DASK_MIN_DELIVERY_MB=256" in small.why
    assert choose_runner(settings, 256 * MB).kind == "dask"
    assert choose_runner(settings, 1024 * MB).kind == "dask"
    assert choose_runner(load_settings(task_runner="dask", dask_min_delivery_mb=0), 0).kind == (
        "dask"
    )
    # the threshold concerns Dask only: threads and processes stay as set
    assert choose_runner(load_settings(task_runner="processes"), 1024 * MB).kind == "processes"
    assert choose_runner(load_settings(task_runner="threads"), 1024 * MB).kind == "threads"
    assert load_settings().dask_min_delivery_mb == 256


# where the checks run does not depend on the database: SQLite only, to keep the suite short
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_small_delivery_checked_on_threads_with_dask_set(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
) -> None:
    first = land_first_delivery(tmp_path)
    # Dask set at a scheduler nobody listens on: only the threads runner can check the files
    staged, checked, kinds = parse_on_dask(
        first["school_year"], first["delivery"], "tcp://127.0.0.1:9", min_mb=256
    )
    assert isinstance(staged, StagedDelivery)
    assert checked == len(first["files"])
    assert kinds == ["threads"]


# where the checks run does not depend on the database: SQLite only, to keep the suite short
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_delivery_parsed_on_a_local_dask_cluster(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
) -> None:
    first = land_first_delivery(tmp_path)
    with local_cluster() as cluster:
        staged, checked, runner_type = parse_on_dask(
            first["school_year"], first["delivery"], cluster.scheduler_address
        )
        workers_used = len(cluster.scheduler.workers)
    ws = open_workspace(load_settings())
    with ws.engine.connect() as conn:
        serial = stage_delivery(
            conn, ws.store, first["school_year"], first["delivery"], load_settings()
        )
    ws.engine.dispose()
    assert runner_type == ["dask"]
    assert workers_used == 2
    assert checked == len(first["files"]) > 4
    assert isinstance(staged, StagedDelivery) and isinstance(serial, StagedDelivery)
    assert staged.frames.keys() == serial.frames.keys()
    for feed_type, frame in serial.frames.items():
        assert staged.frames[feed_type].equals(frame), feed_type
    assert staged.files == serial.files


def test_import_flow_runs_its_file_checks_on_dask(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = land_first_delivery(tmp_path)
    with local_cluster() as cluster:
        monkeypatch.setenv("RENTREE_TASK_RUNNER", "dask")
        monkeypatch.setenv("RENTREE_DASK_ADDRESS", cluster.scheduler_address)
        monkeypatch.setenv("RENTREE_DASK_MIN_DELIVERY_MB", "0")
        outcome = staff_import(year=first["school_year"], wait_for_approval=False)
        ran_on_dask = sum(len(w.data) + len(w.state.log) for w in cluster.workers.values())
    assert outcome["status"] == "completed", outcome
    assert outcome["applied"] == 1
    assert ran_on_dask > 0


@flow(name="stage-with-keys-on-dask")
def stage_with_keys(
    year: str, delivery: str, address: str, storage_url: str, endpoint: str
) -> tuple[Any, list[Any], set[int]]:
    """Stage one delivery of an S3 store with its file checks on the Dask cluster at
    `address`; returns the outcome, what the workers were sent, and their process ids."""
    settings = load_settings(
        task_runner="dask",
        dask_address=address,
        dask_min_delivery_mb=0,
        storage_url=storage_url,
        s3_endpoint_url=endpoint,
    )
    ws = open_workspace(settings)
    sent: list[Any] = []
    pids: set[int] = set()
    try:
        with FileCheckMapper(settings) as mapper, ws.engine.connect() as conn:

            def recording(check: Any, files: Any, names: Any, contexts: Any) -> Any:
                sent.extend(files)
                return mapper(check, files, names, contexts)

            staged = stage_delivery(conn, ws.store, year, delivery, settings, map_files=recording)
            from distributed import Client

            with Client(address) as client:
                pids = set(client.run(os.getpid).values())
            return staged, sent, pids
    finally:
        ws.engine.dispose()


# workers on other hosts with S3 and PostgreSQL, the deployment it is for
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_workers_get_storage_keys_and_need_no_shared_folder(
    engine: Engine, moto_endpoint: str, tmp_path: Path, prefect_harness: None
) -> None:
    store = make_s3_store(moto_endpoint)
    first = land_first_delivery(tmp_path, store)
    os.environ["RENTREE_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    try:
        # worker processes of their own: nothing of this process's memory or temp folders
        with local_cluster(processes=True) as cluster:
            staged, sent, worker_pids = stage_with_keys(
                first["school_year"],
                first["delivery"],
                cluster.scheduler_address,
                store.url,
                moto_endpoint,
            )
    finally:
        del os.environ["RENTREE_DATABASE_URL"]
    assert len(sent) == len(first["files"]) > 4
    assert all(isinstance(f, StoredFile) and f.store.url == store.url for f in sent)
    assert os.getpid() not in worker_pids and len(worker_pids) == 2
    with engine.connect() as conn:
        serial = stage_delivery(
            conn, store, first["school_year"], first["delivery"], load_settings()
        )
    assert isinstance(staged, StagedDelivery) and isinstance(serial, StagedDelivery)
    for feed_type, frame in serial.frames.items():
        assert staged.frames[feed_type].equals(frame), feed_type
