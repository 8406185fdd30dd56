"""`rentree attach-teachers`: R10 from a terminal; exit 0 all attached, 1 some pending or
refused (listed with the reason), 2 unusable input."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from rentree.cli import app
from rentree.infra import schema
from rentree.infra.naming import class_id
from rentree.infra.storage import LocalStore
from tests.sync_builders import NEW, add_class, add_structures, add_students, add_users, link_school

UAI = "0590001A"


@pytest.fixture
def cli_env(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("RENTREE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("RENTREE_STORAGE_URL", str(tmp_path / "storage"))
    LocalStore(tmp_path / "storage").ensure_layout()  # what `rentree init` does
    monkeypatch.chdir(tmp_path)
    with engine.begin() as conn:
        add_structures(conn, [(UAI, "primaire", None)])
        add_users(conn, [("T1", "Teacher"), ("T2", "Teacher")])
        link_school(conn, ["T1", "T2"], UAI)
        add_students(conn, NEW, UAI, "CP-A", "CP", 2)
        add_class(conn, NEW, UAI, "CE1-A", "CE1")
    return engine


def attached(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                schema.user_classes.c.user_external_id, schema.user_classes.c.class_external_id
            ).where(schema.user_classes.c.source == "manual")
        )
        return {(r[0], r[1]) for r in rows}


def test_r10_attach_teachers_file(cli_env: Engine, tmp_path: Path) -> None:
    cp, ce1 = class_id(NEW, UAI, "CP-A"), class_id(NEW, UAI, "CE1-A")
    requests = tmp_path / "requests.csv"
    requests.write_text(f"teacher_external_id;class_external_id\nT1;{cp}\n")
    result = CliRunner().invoke(app, ["attach-teachers", str(requests)])
    assert result.exit_code == 0, result.output
    assert attached(cli_env) == {("T1", cp)}
    requests.write_text(f"teacher_external_id,class_external_id\nT2,{ce1}\nX9,{cp}\n")
    result = CliRunner().invoke(app, ["attach-teachers", str(requests)])
    assert result.exit_code == 1, result.output
    assert "pending" in result.output and "refused" in result.output
    assert "no student" in result.output
    assert attached(cli_env) == {("T1", cp)}


def test_r10_attach_teachers_whole_team(cli_env: Engine) -> None:
    result = CliRunner().invoke(app, ["attach-teachers", "--school", UAI, "--year", NEW])
    assert result.exit_code == 1, result.output  # CE1-A has no student yet: pending
    cp = class_id(NEW, UAI, "CP-A")
    assert attached(cli_env) == {("T1", cp), ("T2", cp)}


def test_attach_teachers_unusable_input(cli_env: Engine, tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["attach-teachers", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("teacher,class\nT1,x\n")
    result = CliRunner().invoke(app, ["attach-teachers", str(bad)])
    assert result.exit_code == 2
    assert "teacher_external_id" in result.output
    unknown = CliRunner().invoke(app, ["attach-teachers", "--school", "0000000X"])
    assert unknown.exit_code == 2


def test_a_request_list_above_the_bound_is_refused_before_it_is_read(
    cli_env: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENTREE_ATTACH_REQUESTS_MAX_ROWS", "3")
    requests = tmp_path / "many.csv"
    rows = "".join(f"T{n},{NEW}:{UAI}:CP-{n}\n" for n in range(4))
    requests.write_text("teacher_external_id,class_external_id\n" + rows)
    result = CliRunner().invoke(app, ["attach-teachers", str(requests)])
    assert result.exit_code == 2, result.output
    assert "4 requests" in result.output and "RENTREE_ATTACH_REQUESTS_MAX_ROWS" in result.output
    with cli_env.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(schema.pending_attachments)) == 0
    requests.write_text("teacher_external_id,class_external_id\n" + rows[: rows.index("T3")])
    assert CliRunner().invoke(app, ["attach-teachers", str(requests)]).exit_code in (0, 1)
