"""No error path shows a record's values: every way the apply and the content import can fail
is made to happen, then the console, the Prefect logs, state and artifacts, Prefect's result
storage, the reports and `runs.summary` are searched for the activation codes, INEs and names
of the records involved (SQLite and PostgreSQL). An error raised inside a task (a library's
text quoting rows, an OS error naming a file after a person) is looked for in the task runs'
logs and states too: the task's boundary translates it before Prefect records it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from flows_harness import flow_store  # noqa: F401
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterTaskRunId,
)
from prefect.settings import PREFECT_HOME, PREFECT_LOCAL_STORAGE_PATH
from sqlalchemy import Connection, Engine, func, insert, select
from typer.testing import CliRunner

from rentree.cli import app
from rentree.flows import importing
from rentree.infra import schema
from rentree.infra.storage import LocalStore
from rentree.tasks.content.inventory import apply as inventory
from rentree.tasks.imports import apply as import_apply
from rentree.tasks.sync.changeset import ChangeSet
from tests.sync_builders import NEW
from tests.test_imports import family_delivery, land

pytestmark = pytest.mark.flows

DAY = "20240902"
PUPILS = range(1, 4)
# what the delivery says of its people: none of it may come out of an error
SECRETS = [f"{n:010d}A" for n in PUPILS] + [f"Nom{n}" for n in PUPILS] + ["Prénom1", "Parent1"]


def _quoting_error(conn: Connection) -> ValueError:
    """What a library may raise: its text quotes the rows it choked on."""
    rows = conn.execute(
        select(
            schema.users.c.activation_code,
            schema.users.c.ine,
            schema.users.c.last_name,
            schema.users.c.login,
        )
    ).all()
    SECRETS.extend(str(v) for row in rows for v in row if v)
    return ValueError(f"cannot handle rows {rows}")


def _library_error_in_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(conn: Connection, *_args: Any, **_kwargs: Any) -> None:
        raise _quoting_error(conn)

    monkeypatch.setattr(import_apply, "late_entry_watch", failing)


def _database_refusal_in_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real unique violation in the middle of the users insert (a Guest takes a new pupil's
    login meanwhile): the driver's text holds the statement, the rows, the login."""
    real = import_apply.apply_change_set

    def racing(conn: Connection, change_set: ChangeSet, *args: Any, **kwargs: Any) -> Any:
        created = change_set.users_created.filter(pl.col("login").is_not_null())
        login = created["login"][0]
        code = created["activation_code"].drop_nulls()
        SECRETS.extend([login, *code.to_list()])
        conn.execute(
            insert(schema.users).values(
                external_id="G1",
                profile="Guest",
                source="manual",
                identity="local",
                login=login,
                first_name="Lina",
                last_name="Roy",
                activation_state="active",
            )
        )
        return real(conn, change_set, *args, **kwargs)

    monkeypatch.setattr(import_apply, "apply_change_set", racing)


def _everything_said(engine: Engine, store: LocalStore, output: str) -> str:
    """The console, and all that the runs left in Prefect, the store and `runs`."""
    said = [output]
    with engine.connect() as conn:
        rows = conn.execute(select(schema.runs.c.run_id, schema.runs.c.summary)).all()
    said += [str(r.summary) for r in rows]
    run_ids = [r.run_id for r in rows]
    with get_client(sync_client=True) as client:
        flow_runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id={"any_": run_ids})  # type: ignore[arg-type]
        )
        for run in flow_runs:
            said.append(str(run.state.message if run.state else ""))
            said += [
                log.message
                for log in client.read_logs(
                    log_filter=LogFilter(flow_run_id={"any_": [run.id]})  # type: ignore[arg-type]
                )
            ]
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[r.id for r in flow_runs]))
        )
        said += [str(t.state.message if t.state else "") for t in task_runs]
        said += [str(t.state.data if t.state else "") for t in task_runs]
        said += [
            log.message
            for log in client.read_logs(
                log_filter=LogFilter(task_run_id=LogFilterTaskRunId(any_=[t.id for t in task_runs]))
            )
        ]
        said += [
            str(a.data) + str(a.description)
            for a in client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id={"any_": [r.id for r in flow_runs]})  # type: ignore[arg-type]
            )
        ]
    for key in store.list(""):
        if key.startswith(("reports/", "quarantine/")) and not key.endswith(".parquet"):
            said.append(store.read_bytes(key).decode("utf-8", "replace"))
    for folder in {
        Path(str(PREFECT_LOCAL_STORAGE_PATH.value())),
        Path(PREFECT_HOME.value()) / "storage",
    }:
        if folder.is_dir():
            said += [p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file()]
    return "\n".join(said)


def _import_with(
    fault: Any, store: LocalStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    """A family import of a small delivery with `fault` made to happen: its exit code and
    everything said, which holds no secret and no traceback."""
    land(store, NEW, family_delivery(DAY, PUPILS))
    fault(monkeypatch)
    result = CliRunner().invoke(app, ["run", "family-import", "--year", NEW])
    assert "Traceback" not in result.output
    said = _everything_said(engine, store, result.output)
    leaked = sorted({s for s in SECRETS if s and s in said})
    assert not leaked, leaked
    return result.exit_code, said


def _library_error_in_task(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(conn: Connection, *_args: Any, **_kwargs: Any) -> None:
        raise _quoting_error(conn)

    monkeypatch.setattr(importing, "apply_pending_attachments", failing)


def _os_error_in_task(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*_args: Any, **_kwargs: Any) -> None:
        raise FileNotFoundError(2, "No such file or directory", "exports/Nom1_Prénom1.csv")

    monkeypatch.setattr(importing, "apply_pending_attachments", failing)


@pytest.mark.parametrize(
    "fault",
    [
        _library_error_in_apply,
        _database_refusal_in_apply,
        _library_error_in_task,
        _os_error_in_task,
    ],
)
def test_a_failure_says_no_value(
    flow_store: LocalStore,  # noqa: F811
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    fault: Any,
) -> None:
    code, said = _import_with(fault, flow_store, engine, monkeypatch)
    with engine.connect() as conn:
        users = conn.scalar(select(func.count()).select_from(schema.users))
        statuses = list(conn.scalars(select(schema.runs.c.status)))
    if fault in (_library_error_in_apply, _database_refusal_in_apply):
        # in the apply: the delivery is set aside, the run done (exit 1), nothing applied
        assert code == 1 and "set aside" in said and users == 0, said
    else:
        # in the follow-ups task, after the delivery's commit: the run failed (exit 2), said
        # by the error's kind, and stays applied
        assert code == 2 and "Error" in said and statuses == ["applied"], (statuses, said)


def test_a_failed_content_import_says_no_value(
    flow_store: LocalStore,  # noqa: F811
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "inventory"
    folder.mkdir()
    pl.DataFrame(
        {
            "external_id": ["G7"],
            "profile": ["Guest"],
            "source": ["manual"],
            "identity": ["local"],
            "login": ["zelie.zorglub"],
            "first_name": ["Zélie"],
            "last_name": ["Zorglub"],
        }
    ).write_csv(folder / "users.csv")
    SECRETS.extend(["zelie.zorglub", "Zorglub", "Zélie"])

    def failing(conn: Connection, plan: Any, _now: Any) -> None:
        raise ValueError(f"cannot store {plan.new.to_dicts()}")

    monkeypatch.setattr(inventory, "_apply_table", failing)
    result = CliRunner().invoke(app, ["content", "import", str(folder)])
    assert result.exit_code == 2, result.output
    assert "ValueError" in result.output and "Traceback" not in result.output
    said = _everything_said(engine, flow_store, result.output)
    leaked = sorted({s for s in SECRETS if s and s in said})
    assert not leaked, leaked
