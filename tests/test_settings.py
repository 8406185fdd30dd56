"""A wrong configuration stops with one sentence naming the variable, and no secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rentree.cli import app
from rentree.infra.settings import ConfigurationError, load_settings


def test_a_wrong_threshold_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENTREE_HOLD_SCHOOL_MISSING_RATIO", "lots")
    with pytest.raises(ConfigurationError, match=r"^RENTREE_HOLD_SCHOOL_MISSING_RATIO='lots'"):
        load_settings()


def test_only_sqlite_and_postgresql_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENTREE_DATABASE_URL", "mysql://db/rentree")
    with pytest.raises(ConfigurationError, match=r"RENTREE_DATABASE_URL.*SQLite.*PostgreSQL"):
        load_settings()


def test_a_plain_postgresql_url_uses_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENTREE_DATABASE_URL", "postgresql://u@db/rentree")
    assert load_settings().database_url == "postgresql+psycopg://u@db/rentree"


def test_a_bad_url_never_shows_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENTREE_DATABASE_URL", "postgresql+psycopg://rentree:s3cr3t@db:port/x")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "s3cr3t" not in str(caught.value)
    assert "RENTREE_DATABASE_URL" in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RENTREE_DATABASE_URL", "mysql://db/x"),
        ("RENTREE_DATABASE_URL", "postgresql+psycopg://x@:::/"),
        ("RENTREE_STORAGE_URL", "ftp://somewhere/x"),
        ("RENTREE_TASK_RUNNER", "gpu"),
    ],
)
def test_cli_refuses_a_wrong_setting_in_one_sentence(
    tmp_path: Path, variable: str, value: str
) -> None:
    env = {
        "RENTREE_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        "RENTREE_STORAGE_URL": str(tmp_path / "storage"),
        variable: value,
    }
    result = CliRunner().invoke(app, ["status"], env=env)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert variable in result.output


def test_init_with_an_unreachable_bucket_exits_2_in_one_sentence(tmp_path: Path) -> None:
    env = {
        "RENTREE_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        "RENTREE_STORAGE_URL": "s3://nowhere/rentree",
        "RENTREE_S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = CliRunner().invoke(app, ["init"], env=env)
    assert result.exit_code == 2, result.output
    assert "RENTREE_STORAGE_URL" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://rentree:s3@cr3t@db:port/x",  # a raw @ in the password
        "postgresql+psycopg://:s3cr3t@db:port/x",  # no user name, a bad port
        "postgresql+psycopg://rentree:s3cr3t@db:port/x",
        "postgresql+psycopg://rentree:s3:cr@3t@db:port/x",  # the parser's message quotes a piece
        "postgresql://:s3/cr3t@@db:port/x",
    ],
)
def test_no_url_shape_shows_its_password(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("RENTREE_DATABASE_URL", url)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert "RENTREE_DATABASE_URL" in message
    for piece in ("s3", "cr3t", "cr", "3t"):
        assert piece not in message.replace("postgresql+psycopg", ""), message


def test_a_raw_at_sign_in_a_password_is_taken_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.engine import make_url

    monkeypatch.setenv("RENTREE_DATABASE_URL", "postgresql://rentree:p@ss:w/rd@db:5433/x")
    url = make_url(load_settings().database_url)
    assert (url.username, url.password, url.host, url.port) == ("rentree", "p@ss:w/rd", "db", 5433)
    assert "p@ss" not in url.render_as_string(hide_password=True)


@pytest.mark.parametrize("user", ["rentree", ""])
def test_an_unreachable_database_is_said_without_its_password(tmp_path: Path, user: str) -> None:
    env = {
        "RENTREE_DATABASE_URL": f"postgresql://{user}:s3@cr3t@127.0.0.1:9/x",
        "RENTREE_STORAGE_URL": str(tmp_path / "storage"),
    }
    result = CliRunner().invoke(app, ["init"], env=env)
    assert result.exit_code == 2, result.output
    assert "RENTREE_DATABASE_URL" in result.output and "Traceback" not in result.output
    assert "s3" not in result.output and "cr3t" not in result.output
