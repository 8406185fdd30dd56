"""Bench of the flows as an operator runs them, on the generated region, in the timeline's
order, each figure beside its floor measured in the same run on the same files.

In a fresh workspace (SQLite; then PostgreSQL when RENTREE_TEST_POSTGRES_URL is set), flows
run in this process on a temporary Prefect server: `staff-import` of the closing year's
delivery, which holds every file (floor: lxml iterparse of its staff files alone: a phase
reads only what it applies), the closing year's families, freeze, the new year's first staff
file, then its late Delta (floor: its rows at the write floor, so that the flow's time is
seen to follow the change, not the directory). Then the new year's first family files are
staged on the threads runner, on Dask with 2 local workers (the speed-up), and with
RENTREE_TASK_RUNNER=dask as a flow runs it (Dask only above RENTREE_DASK_MIN_DELIVERY_MB), and
`rentree run family-import` runs end to end in its own process, as an operator types it on
a deployment (against the same Prefect server; stage, plan, apply, attachments, late-entry
watch, reports; floor: lxml iterparse of its Eleve and PersRelEleve files + its rows at the
write floor; its own peak memory). Last, a
`nightly` with nothing new beside a flow that does nothing, on the same server. And
`rentree --help` beside a Python that does nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from bench_figures import Figure, Timing, figure, timed
from bench_floors import databases, parse_floor, write_floor
from bench_sync import change_frames, delivery_paths
from lxml import etree
from prefect import flow
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness
from sqlalchemy import Engine

from rentree.cli.prefect_terminal import embedded_prefect
from rentree.flows.family_import import family_import
from rentree.flows.freeze import freeze
from rentree.flows.nightly import nightly
from rentree.flows.onde_switch import onde_switch
from rentree.flows.run.approval import approve_pending_holds
from rentree.flows.staff_import import staff_import
from rentree.flows.staging import FileCheckMapper
from rentree.infra.naming import landing_key
from rentree.infra.settings import load_settings
from rentree.infra.storage import LocalStore
from rentree.infra.workspace import open_workspace
from rentree.synthetic.landing import land_delivery
from rentree.tasks.intake.stage import StagedDelivery, stage_delivery
from rentree.tasks.sync.changeset import ChangeSet
from rentree.tasks.sync.plan import plan_delivery

# Nothing is held for approval in the bench: every delivery applies as it comes.
NO_HOLDS = {
    "RENTREE_HOLD_SCHOOL_MISSING_RATIO": "1",
    "RENTREE_HOLD_REGION_MISSING_RATIO": "1",
    "RENTREE_HOLD_PURGE_MAX_SHARES": "1000000000",
}
RENTREE = str(Path(sys.executable).parent / "rentree")
REPEATS = 3  # the no-op and the idle nightly are short: the best of three
DELTA_CHANGES = 1_000  # relatives moving in the Delta that shows cost follows the change
ONE_DAY = timedelta(days=1)


@flow(name="bench-no-op")
def no_op() -> dict[str, Any]:
    """A flow that does nothing: what Prefect alone costs on this server."""
    return {}


@flow(name="bench-stage")
def stage_on(year: str, delivery: str, runner: str, dask_min_mb: int | None = None) -> str:
    """Stage a delivery with its file checks on `runner` (threads or a 2-worker Dask
    cluster; `dask_min_mb` None: the setting's threshold); reads only. Returns the
    run's log line of why its runner was chosen."""
    more = {} if dask_min_mb is None else {"dask_min_delivery_mb": dask_min_mb}
    settings = load_settings(task_runner=runner, max_workers=2, **more)
    ws = open_workspace(settings)
    try:
        with FileCheckMapper(settings) as mapper, ws.engine.connect() as conn:
            staged = stage_delivery(conn, ws.store, year, delivery, settings, map_files=mapper)
    finally:
        ws.engine.dispose()
    if not isinstance(staged, StagedDelivery):
        raise RuntimeError(f"delivery {year}/{delivery} was not staged: {staged}")
    return "; ".join(f"{c.kind} ({c.why})" for c in mapper.choices)


@contextmanager
def workspace_env(url: str, storage: Path) -> Any:
    """The flows open their workspace from the environment, as deployed runs do."""
    wanted = {"RENTREE_DATABASE_URL": url, "RENTREE_STORAGE_URL": str(storage), **NO_HOLDS}
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield wanted
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def planned(engine: Engine, store: LocalStore, year: str, delivery: str) -> ChangeSet:
    """The change set a delivery makes, staged and planned in a transaction rolled back."""
    today = datetime.strptime(delivery, "%Y%m%d").date()
    with engine.connect() as conn, conn.begin() as transaction:
        staged = stage_delivery(conn, store, year, delivery, load_settings())
        if not isinstance(staged, StagedDelivery):
            raise RuntimeError(f"delivery {year}/{delivery} was not staged: {staged}")
        change_set = plan_delivery(conn, staged, today=today)
        transaction.rollback()
    return change_set


def relatives_delta(sources: list[Path], folder: Path, delivery: str, count: int) -> Path:
    """A PersRelEleve Delta that moves `count` relatives of the Complet files to a new
    address: one change each, whatever the size of the directory."""

    def every_id() -> Iterator[str]:
        # a region's relatives come in several files: the first `count` of them all
        for source in sources:
            for _event, element in etree.iterparse(str(source), tag="identifier"):
                yield element.findtext("id") or ""
                element.clear()

    ids = list(islice(every_id(), count))
    requests = "".join(
        '<modifyRequest><operationalAttributes><attr name="categoriePersonne"><value>'
        f"PersRelEleve</value></attr></operationalAttributes><identifier><id>{id_}</id>"
        '</identifier><modifications><modification name="ENTPersonAdresse" '
        f'operation="replace"><value>{n} rue du Banc</value></modification>'
        "</modifications></modifyRequest>\n"
        for n, id_ in enumerate(ids, start=1)
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ENT_Delta_{delivery}_PersRelEleve_0000.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE ficAlimMENESR SYSTEM '
        f'"ficAlimMENESR.dtd">\n<ficAlimMENESR>\n{requests}</ficAlimMENESR>\n'
    )
    return path


def best_of(action: Any, repeats: int = REPEATS) -> Timing:
    runs = []
    for _ in range(repeats):
        with timed() as took:
            action()
        runs.append(took)
    return min(runs, key=lambda t: t.seconds)


def command(argv: list[str], env: dict[str, str]) -> tuple[Timing, float, int]:
    """A command in its own process: wall and CPU time, its peak memory (MB) and
    exit code. The peak is the process's VmHWM read while it runs: ru_maxrss would report
    the bench's own peak, which a forked child inherits."""
    peak_kb = 0
    with timed() as took:
        process = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while True:
            peak_kb = max(peak_kb, _high_water_kb(process.pid))
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.1)
    process.returncode = os.waitstatus_to_exitcode(status)
    took.cpu_seconds = usage.ru_utime + usage.ru_stime
    return took, peak_kb / 1024, process.returncode


def _high_water_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    lines = [line for line in status.splitlines() if line.startswith("VmHWM")]
    return int(lines[0].split()[1]) if lines else 0


def _measure(engine: Engine, region: Path, label: str, folder: Path) -> list[Figure]:
    manifest = json.loads((region / "manifest.json").read_text())
    closing, new = manifest["closing_year"], manifest["new_year"]
    closing_delivery, staff_first, staff_late, family_first, _ = manifest["deliveries"]
    key = f"flows.{label.lower()}"
    store = LocalStore(folder / "storage")
    store.ensure_layout()
    url = engine.url.render_as_string(hide_password=False)
    figures: list[Figure] = []

    def land(delivery: dict[str, Any]) -> None:
        land_delivery(store, region, manifest, delivery["delivery"])

    with workspace_env(url, folder / "storage") as env:
        land(closing_delivery)
        staff_parse, _ = parse_floor(
            delivery_paths(region, closing, closing_delivery, "PersEducNat")
        )
        with timed() as took:
            staff_import(year=closing, wait_for_approval=False)
        files = len(closing_delivery["files"])
        figures.append(
            figure(
                f"{key}.staff_import_reads_its_files",
                f"{label}: staff-import of the closing year's delivery ({files} files landed)",
                took,
                staff_parse,
                "lxml iterparse of its PersEducNat files alone",
            )
        )
        approve_pending_holds(
            family_import, family_import(year=closing, wait_for_approval=False), year=closing
        )
        freeze(year=closing)
        land(staff_first)
        staff_import(year=new, wait_for_approval=False)

        land(staff_late)
        delta = planned(engine, store, new, staff_late["delivery"])
        delta_floor, delta_rows = write_floor(engine, change_frames(delta))
        with timed() as took:
            staff_import(year=new, wait_for_approval=False)
        changes = sum(delta.counts().values())
        figures.append(
            figure(
                f"{key}.delta_flow",
                f"{label}: the staff Delta ({changes:,} changes, {delta_rows:,} rows with the "
                "change log): staff-import flow",
                took,
                delta_floor,
                "its rows at the write floor",
            )
        )

        land(family_first)
        onde_switch(year=new)
        chosen: list[str] = []
        legs = {"threads": ("threads", None), "dask": ("dask", 0), "as set": ("dask", None)}
        speed = {
            leg: best_of(
                lambda r=runner, m=min_mb: chosen.append(
                    stage_on(new, family_first["delivery"], r, m)
                ),
                1,
            )
            for leg, (runner, min_mb) in legs.items()
        }
        gain = speed["threads"].seconds / speed["dask"].seconds
        on_threads = "the same on the threads runner (RENTREE_TASK_RUNNER=threads)"
        figures.append(
            figure(
                f"{key}.dask_chunk_checks",
                f"{label}: the first family files' chunk checks on Dask, 2 local workers "
                f"(cluster start included): {gain:.2f}x the speed of the threads runner",
                speed["dask"],
                speed["threads"],
                on_threads,
            )
        )
        figures.append(
            figure(
                f"{key}.dask_as_set_chunk_checks",
                f"{label}: the same with RENTREE_TASK_RUNNER=dask as a flow runs it: {chosen[-1]}",
                speed["as set"],
                speed["threads"],
                on_threads,
            )
        )

        families = planned(engine, store, new, family_first["delivery"])
        write, rows = write_floor(engine, change_frames(families))
        parse, _ = parse_floor(delivery_paths(region, new, family_first, "Eleve", "PersRelEleve"))
        # against the bench's Prefect server, as a deployment points at its own: the
        # embedded server an unconfigured command starts is a fixed cost, not the import's
        environment = {
            **os.environ,
            **env,
            "PREFECT_HOME": str(folder / "prefect"),
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        }
        took, peak, code = command([RENTREE, "run", "family-import", "--year", new], environment)
        figures.append(
            figure(
                f"{key}.family_import_command",
                f"{label}: `rentree run family-import` end to end ({rows:,} rows with the "
                f"change log){'' if code == 0 else f', EXIT {code}'}",
                took,
                parse + write,
                "lxml iterparse of its Eleve and PersRelEleve files + its rows at the write floor",
                peak_mb=peak,
            )
        )

        # a Delta of DELTA_CHANGES relatives moving, the day after, through nightly
        day_after = (datetime.strptime(family_first["delivery"], "%Y%m%d") + ONE_DAY).strftime(
            "%Y%m%d"
        )
        delta_file = relatives_delta(
            delivery_paths(region, new, family_first, "PersRelEleve"),
            folder / "delta",
            day_after,
            DELTA_CHANGES,
        )
        store.upload(delta_file, landing_key(new, delta_file.name))
        moves = planned(engine, store, new, day_after)
        moves_floor, moves_rows = write_floor(engine, change_frames(moves))
        with timed() as took:
            nightly(wait_for_approval=False)
        figures.append(
            figure(
                f"{key}.delta_1000_flow",
                f"{label}: a Delta of {sum(moves.counts().values()):,} changes (relatives "
                f"moving, {moves_rows:,} rows with the change log): nightly flow",
                took,
                moves_floor,
                "its rows at the write floor",
            )
        )

        no_op()  # the server is warm for both
        idle_floor = best_of(no_op)
        idle = best_of(lambda: nightly(wait_for_approval=False))
        figures.append(
            figure(
                f"{key}.nightly_nothing_new",
                f"{label}: nightly with nothing new: +{idle.seconds - idle_floor.seconds:.2f} s "
                "over a flow that does nothing",
                idle,
                idle_floor,
                "a no-op flow on the same Prefect server",
            )
        )
    return figures


def cli_start() -> Figure:
    """`rentree --help` in a fresh process beside a Python that starts and does nothing."""
    took, peak, _ = command([RENTREE, "--help"], dict(os.environ))
    floor, _, _ = command([sys.executable, "-c", "pass"], dict(os.environ))
    return figure(
        "flows.cli_help",
        "`rentree --help` in a fresh process (target 0.5 s)",
        took,
        floor,
        "python -c pass",
        peak_mb=peak,
    )


def run(workdir: Path) -> list[Figure]:
    figures = [cli_start()]
    with embedded_prefect(), prefect_test_harness(server_startup_timeout=180):
        for label, engine in databases(workdir / "bench_flows", "rentree"):
            folder = workdir / "bench_flows" / label.lower()
            for leftover in ("storage", "prefect"):
                shutil.rmtree(folder / leftover, ignore_errors=True)
            figures += _measure(engine, workdir / "region", label, folder)
    return figures
