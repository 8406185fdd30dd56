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
