"""Parameter forms explain themselves: every flow parameter has a description, in the Prefect
run form and in `rentree run FLOW --help`; a school year is a `YYYY-YYYY` string and schools
are UAIs in the deployment's form, whose schema the API enforces when a run is created."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.utilities.schema_tools.validation import is_valid
from typer.testing import CliRunner

from rentree.cli import app
from rentree.cli.run_options import OPTION_OF
from rentree.flows.deployments import build_deployments
from rentree.flows.registry import FLOWS, flow_by_name
from rentree.infra.naming import SCHOOL_YEAR_PATTERN, UAI_PATTERN
from rentree.infra.settings import load_settings


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_parameter_of_a_flow_is_described_in_its_form_and_its_help(name: str) -> None:
    properties = flow_by_name(name).parameters.properties
    for parameter, schema in properties.items():
        assert len(schema.get("description", "")) > 20, (name, parameter)
    result = CliRunner().invoke(app, ["run", name, "--help"])
    assert result.exit_code == 0, result.output
    shown = _words(result.output)
    assert f"{name} (its parameters, as its run form shows them)" in shown
    for parameter, schema in properties.items():
        option = OPTION_OF.get(parameter, "(run form only)")
        assert f"{option} [{parameter}]" in shown, (name, parameter)
        # the description as the form has it (its first words, wrapped differently)
        assert " ".join(schema["description"].split()[:6]) in shown, (name, parameter)


def _form(schema: dict[str, Any], parameter: str) -> dict[str, Any]:
    """The non-null branch of an optional parameter's schema."""
    branches = schema["properties"][parameter]["anyOf"]
    (value,) = [b for b in branches if b.get("type") != "null"]
    return dict(value)


def test_the_deployment_forms_carry_the_school_year_and_uai_patterns() -> None:
    by_flow = {d.flow_name: d for d in build_deployments(load_settings())}
    with_year = [n for n, d in by_flow.items() if "year" in d._parameter_openapi_schema.properties]
    assert {"freeze", "staff-import", "family-import", "share-purge", "retire-missing"} <= set(
        with_year
    )
    for name in with_year:
        deployment = by_flow[name]
        assert deployment.enforce_parameter_schema, name
        schema = deployment._parameter_openapi_schema.model_dump()
        assert _form(schema, "year") == {
            "type": "string",
            "pattern": SCHOOL_YEAR_PATTERN,
            "examples": ["2025-2026"],
        }
        # what the API checks when a run of the deployment is created (the UI's form too)
        assert is_valid({"year": "2025-2026"}, schema)
        assert is_valid({"year": None}, schema)
        assert not is_valid({"year": "2025/2026"}, schema)
        assert not is_valid({"year": "25-26"}, schema)

    family = by_flow["family-import"]._parameter_openapi_schema.model_dump()
    assert _form(family, "schools")["items"]["pattern"] == UAI_PATTERN
    assert is_valid({"schools": ["0590001A", "0620002B"]}, family)
    assert not is_valid({"schools": ["0590001"]}, family)
    attach = by_flow["attach-teachers"]._parameter_openapi_schema.model_dump()
    assert _form(attach, "school")["pattern"] == UAI_PATTERN
    assert not is_valid({"school": "lille"}, attach)
