"""A request list far above Prefect's 512 KB parameter limit reaches the attach-teachers flow
by storage key: `rentree run attach-teachers --requests FILE.csv` runs it to the end."""

from __future__ import annotations

from pathlib import Path

import pytest
from flows_harness import flow_store  # noqa: F401
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from rentree.cli import app
from rentree.infra import schema
from rentree.infra.naming import class_id
from rentree.infra.storage import LocalStore
from tests.sync_builders import NEW, add_class, add_structures, add_students, add_users, link_school

pytestmark = pytest.mark.flows

UAI = "0590001A"
PREFECT_PARAMETER_LIMIT = 512 * 1024


def test_attach_teachers_request_file_above_parameter_limit(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
) -> None:
    with engine.begin() as conn:
        add_structures(conn, [(UAI, "primaire", None)])
        add_users(conn, [("T1", "Teacher")])
        link_school(conn, ["T1"], UAI)
        add_students(conn, NEW, UAI, "CP-A", "CP", 2)
        add_class(conn, NEW, UAI, "CE1-A", "CE1")
    cp = class_id(NEW, UAI, "CP-A")
    unknown = [f"UNKNOWN-TEACHER-{i:08d},{NEW}:{UAI}:NO-SUCH-CLASS-{i:08d}" for i in range(12000)]
    requests = tmp_path / "requests.csv"
    requests.write_text("\n".join(["teacher_external_id,class_external_id", f"T1,{cp}", *unknown]))
    assert requests.stat().st_size > PREFECT_PARAMETER_LIMIT

    result = CliRunner().invoke(
        app, ["run", "attach-teachers", "--year", NEW, "--requests", str(requests)]
    )

    # 1: done, with the unknown requests refused; the known one is attached.
    assert result.exit_code == 1, result.output
    assert "12000" in result.output
    with engine.connect() as conn:
        links = conn.execute(
            select(
                schema.user_classes.c.user_external_id, schema.user_classes.c.class_external_id
            ).where(schema.user_classes.c.source == "manual")
        ).all()
    assert [tuple(r) for r in links] == [("T1", cp)]
    # The flow read the list from the store, where it stays beside the run's reports.
    assert flow_store.list(f"reports/{NEW}/attach-teachers/requests/")
