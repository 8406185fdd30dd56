"""`rentree validate PATH... [--json]`: exit 0 valid, 1 invalid, 2 unusable; no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aaf_samples import (
    HOSTILE_CASES,
    SECRET,
    document,
    hostile,
    name,
    staff,
    student,
    valid_delivery,
    write_delivery,
)
from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from rentree.cli import app
from rentree.infra import schema

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", *args])
    output = result.output + (result.stderr if result.stderr_bytes else "")
    assert "Traceback" not in output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result.exit_code, output


def test_valid_folder_exits_0(tmp_path: Path) -> None:
    write_delivery(tmp_path / "landing" / "2024-2025", valid_delivery())
    code, output = run(str(tmp_path))
    assert code == 0, output
    assert "valid" in output


def test_json_lists_every_delivery(tmp_path: Path) -> None:
    write_delivery(tmp_path, valid_delivery("20240902"))
    write_delivery(tmp_path, {name("PersEducNat", "20240910", mode="Delta"): document([staff()])})
    code, output = run(str(tmp_path), "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["valid"] is True
    assert [d["delivery"] for d in report["deliveries"]] == ["20240902", "20240910"]


def test_later_delta_may_name_structures_of_an_earlier_delivery(tmp_path: Path) -> None:
    write_delivery(tmp_path, valid_delivery("20240902"))
    late = {name("PersEducNat", "20240910", mode="Delta"): document([staff("P7", structs=("S2",))])}
    write_delivery(tmp_path, late)
    code, output = run(str(tmp_path))
    assert code == 0, output


@pytest.mark.parametrize("case", HOSTILE_CASES)
def test_bad_input_exits_with_one_sentence(case: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    bad = hostile(case, str(secret))
    folder = tmp_path / "files"
    write_delivery(folder, bad.files)
    code, output = run(str(folder), "--json")
    report = json.loads(output)
    rules = [p["rule"] for d in report["deliveries"] for p in d["problems"]]
    assert bad.rule in rules
    assert SECRET not in output
    if bad.quarantined:
        assert code == 1
        assert report["valid"] is False
    else:
        assert code == 0  # a warning drops a value; the files are valid
    code, text = run(str(folder))
    assert code == (1 if bad.quarantined else 0)
    assert SECRET not in text


def test_missing_path_exits_2_with_one_sentence(tmp_path: Path) -> None:
    code, output = run(str(tmp_path / "nowhere"))
    assert code == 2
    assert "does not exist" in output


def test_folder_without_xml_exits_2(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing")
    code, output = run(str(tmp_path))
    assert code == 2
    assert "no .xml file" in output


def test_validate_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "files"
    write_delivery(folder, valid_delivery())
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, _ = run(str(folder))
    assert code == 0
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_directory_option_counts_the_directory_structures(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(schema.structures),
            {"external_id": "S9", "uai": "0590009K", "name": "École", "type": "primaire"},
        )
    monkeypatch.setenv("RENTREE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    files = valid_delivery()
    files[name("Eleve")] = document([student(struct="S9")])
    write_delivery(tmp_path, files)
    code, output = run(str(tmp_path), "--json")
    assert code == 1
    rules = [p["rule"] for d in json.loads(output)["deliveries"] for p in d["problems"]]
    assert "unknown_structure" in rules
    code, output = run(str(tmp_path), "--directory")
    assert code == 0, output
