"""The generated tiny region passes rentree's own AAF reader and contracts: every delivery
valid, no record error, no warning."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rentree.cli import app
from rentree.synthetic import generate_region


def test_tiny_region_validates_against_the_contracts_without_any_problem(tmp_path: Path) -> None:
    generated = generate_region("tiny", tmp_path / "tiny")
    # Both years at once: the new year's staff files name structures that only the closing
    # year's EtabEducNat holds (the directory knows them at import time).
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "tiny" / "landing"), "--json"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.output)
    assert verdict["valid"] is True
    deliveries = {(d["school_year"], d["delivery"]): d for d in verdict["deliveries"]}
    expected = {(d["school_year"], d["delivery"]) for d in generated.manifest["deliveries"]}
    assert set(deliveries) == expected
    for delivery in deliveries.values():
        assert delivery["accepted"] and delivery["problems"] == [], delivery["sentence"]
    records = {name: count for d in deliveries.values() for name, count in d["files"].items()}
    listed = {f["name"]: f["records"] for d in generated.manifest["deliveries"] for f in d["files"]}
    assert records == listed
