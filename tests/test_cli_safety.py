"""Commands never destroy or invent: the demo removes only its own folder, only `init`
creates a directory, options are checked before any work, and every refusal is one
sentence with exit status 2."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from rentree.cli import app
from rentree.flows.demo import DEMO_MARKER, prepare_demo_folder
from rentree.infra import schema
from rentree.infra.storage import LocalStore

runner = CliRunner()


def one_sentence(output: str) -> str:
    assert "Traceback" not in output
    text = " ".join(output.split())
    assert text.startswith("rentree:"), output
    # one sentence, not a second one after it (a database URL may hold `rentree:` too)
    assert sum(line.startswith("rentree:") for line in output.splitlines()) == 1, output
    return text


# -- demo --workdir ---------------------------------------------------------------------------


def test_demo_refuses_a_folder_it_did_not_make_and_removes_nothing(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    result = runner.invoke(app, ["demo", "--scale", "tiny", "--workdir", str(mine)])
    assert result.exit_code == 2
    assert "not empty and was not made by `rentree demo`" in one_sentence(result.output)
    assert (mine / "thesis.txt").read_text() == "years of work"


def test_demo_refuses_a_file_as_workdir(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("x")
    result = runner.invoke(app, ["demo", "--workdir", str(file)])
    assert result.exit_code == 2
    assert "is a file, not a folder" in one_sentence(result.output)
    assert file.read_text() == "x"


def test_demo_wipes_only_a_folder_it_marked(tmp_path: Path) -> None:
    folder = prepare_demo_folder(tmp_path / "demo")
    assert (folder / DEMO_MARKER).is_file()
    (folder / "rentree.db").write_text("old demo")
    again = prepare_demo_folder(folder)
    assert sorted(p.name for p in again.iterdir()) == [DEMO_MARKER]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (prepare_demo_folder(empty) / DEMO_MARKER).is_file()


# -- only `rentree init` creates a directory ------------------------------------------------


def test_a_missing_sqlite_file_is_refused_and_not_created(tmp_path: Path) -> None:
    db = tmp_path / "typo" / "rentree.db"
    env = {"RENTREE_DATABASE_URL": f"sqlite:///{db}", "RENTREE_STORAGE_URL": str(tmp_path)}
    for command in (["status"], ["run", "nightly"], ["export", "--out", str(tmp_path / "o")]):
        result = runner.invoke(app, command, env=env)
        assert result.exit_code == 2, result.output
        sentence = one_sentence(result.output)
        assert str(db) in sentence and "run `rentree init`" in sentence
    assert not db.parent.exists()


def test_a_database_without_the_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    url = f"sqlite:///{db}"
    env = {"RENTREE_DATABASE_URL": url, "RENTREE_STORAGE_URL": str(tmp_path)}
    result = runner.invoke(app, ["status"], env=env)
    assert result.exit_code == 2
    sentence = one_sentence(result.output)
    assert url in sentence and "holds no rentree directory" in sentence
    assert "run `rentree init`" in sentence
    created = runner.invoke(app, ["init"], env={**env, "RENTREE_STORAGE_URL": str(tmp_path / "s")})
    assert created.exit_code == 0, created.output
    assert runner.invoke(app, ["status"], env=env).exit_code == 0


def test_a_postgresql_database_without_the_schema_names_it_with_the_password_masked(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    from sqlalchemy import text

    name = "rentree_no_schema"
    with postgres_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = postgres_engine.url.set(database=name, password="s3cr3t-pw")
    shown = url.render_as_string(hide_password=False)
    env = {"RENTREE_DATABASE_URL": shown, "RENTREE_STORAGE_URL": str(tmp_path)}
    result = runner.invoke(app, ["status"], env=env)
    assert result.exit_code == 2
    sentence = one_sentence(result.output)
    assert "s3cr3t-pw" not in sentence
    assert "holds no rentree directory" in sentence or "cannot be opened" in sentence


@pytest.fixture
def initialised(engine: Engine, tmp_path: Path) -> dict[str, str]:
    """A directory made by `rentree init`, holding one school year and one school."""
    env = {
        "RENTREE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "RENTREE_STORAGE_URL": str(tmp_path / "storage"),
    }
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    with engine.begin() as conn:
        conn.execute(insert(schema.school_years).values(school_year="2024-2025", phase="open"))
        conn.execute(
            insert(schema.structures).values(
                external_id="S1", uai="0590001A", name="École A", type="primaire"
            )
        )
    return env


@pytest.mark.parametrize("broken", ["missing", "file"])
def test_a_storage_root_that_is_missing_or_a_file_is_refused(
    initialised: dict[str, str], tmp_path: Path, broken: str
) -> None:
    root = tmp_path / "elsewhere"
    if broken == "file":
        root.write_text("not a folder")
    result = runner.invoke(app, ["status"], env={**initialised, "RENTREE_STORAGE_URL": str(root)})
    assert result.exit_code == 2
    sentence = one_sentence(result.output)
    assert "RENTREE_STORAGE_URL" in sentence
    assert ("is a file" if broken == "file" else "does not exist") in sentence
    assert root.exists() == (broken == "file")


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP port that accepts connections and never answers (an S3 endpoint that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_an_s3_endpoint_that_does_not_answer_is_reported_after_the_connect_timeout(
    tmp_path: Path, silent_endpoint: str
) -> None:
    env = {
        "RENTREE_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        "RENTREE_STORAGE_URL": "s3://rentree/region",
        "RENTREE_S3_ENDPOINT_URL": silent_endpoint,
        "RENTREE_S3_CONNECT_TIMEOUT_SECONDS": "1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
    }
    result = runner.invoke(app, ["init"], env=env)
    assert result.exit_code == 2
    sentence = one_sentence(result.output)
    assert f"the S3 endpoint {silent_endpoint} did not answer within 1 s" in sentence


# -- options checked before any work ----------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["run", "freeze", "--year", "2031-2032"], "school year 2031-2032: the directory holds"),
        (["run", "family-import", "--year", "2031"], "'2031' is not a school year"),
        (["run", "family-import", "--school", "59A"], "'59A' is not a UAI"),
        (["run", "family-import", "--school", "0590099Z"], "school 0590099Z: no school"),
        (["run", "family-import", "--approve"], "--approve/--reject needs --hold-id"),
        (["run", "staff-import", "--hold-id", "h9", "--reject"], "hold h9: no such hold"),
        (["run", "share-purge", "--undo", "r9"], "run r9: no share-purge run has this id"),
        (["run", "storage-report", "--year", "2024-2025"], "--year: storage-report does not"),
        (["run", "nightly", "--school", "0590001A"], "--school: nightly does not take"),
        (["attach-teachers", "--school", "0590099Z"], "school 0590099Z: no school"),
        (["attach-teachers", "--school", "0590001A", "--year", "2030-2031"], "2030-2031"),
    ],
)
def test_bad_options_are_refused_before_any_run_in_one_sentence(
    initialised: dict[str, str], command: list[str], expected: str
) -> None:
    result = runner.invoke(app, command, env=initialised)
    assert result.exit_code == 2, result.output
    assert expected in one_sentence(result.output)


def test_an_unreadable_requests_csv_is_one_sentence_without_library_hints(
    initialised: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "requests.csv"
    bad.write_text('teacher_external_id,class_external_id\nT1,"2024-2025:0590001A:CP\nT2,x,y,z\n')
    result = runner.invoke(app, ["attach-teachers", str(bad)], env=initialised)
    assert result.exit_code == 2
    sentence = one_sentence(result.output)
    assert "cannot be read as CSV" in sentence
    for hint in ("polars", "infer_schema", "ComputeError", "Hint", "truncate_ragged_lines"):
        assert hint not in sentence
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("teacher_external_id;class_external_id\nT1;é\n".encode("latin-1"))
    result = runner.invoke(app, ["attach-teachers", str(latin1)], env=initialised)
    assert result.exit_code == 2
    assert "is not UTF-8 text" in one_sentence(result.output)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("rentree ")


def test_init_creates_the_layout_and_a_storage_root_exists_after(tmp_path: Path) -> None:
    env = {
        "RENTREE_DATABASE_URL": f"sqlite:///{tmp_path / 'new' / 'rentree.db'}",
        "RENTREE_STORAGE_URL": str(tmp_path / "storage"),
    }
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    assert LocalStore(tmp_path / "storage").list("") == []
    assert (tmp_path / "storage" / "landing").is_dir()
    assert runner.invoke(app, ["status"], env=env).exit_code == 0
