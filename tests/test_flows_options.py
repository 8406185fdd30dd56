"""A flow run started with a parameter that cannot be used fails at once: its state is
Failed with the one sentence as its message, nothing is recorded and nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from flows_harness import flow_store  # noqa: F401
from sqlalchemy import Engine, func, insert, select

from rentree.flows.family_import import family_import
from rentree.flows.freeze import freeze
from rentree.flows.share_purge import share_purge
from rentree.flows.staff_import import staff_import
from rentree.infra import schema
from rentree.infra.storage import LocalStore

pytestmark = pytest.mark.flows


@pytest.mark.parametrize(
    ("flow", "params", "message"),
    [
        (freeze, {"year": "2031-2032"}, "school year 2031-2032: the directory holds no such year"),
        (staff_import, {"year": "2024/2025"}, "'2024/2025' is not a school year"),
        (family_import, {"schools": ["0590099Z"]}, "school 0590099Z: no school with this UAI"),
        (family_import, {"schools": ["bad"]}, "'bad' is not a UAI"),
        (staff_import, {"approve": True}, "approve needs the id of the hold"),
        (family_import, {"hold_id": "nope", "approve": False}, "hold nope: no such hold"),
        (share_purge, {"undo_run_id": "r-404"}, "run r-404: no share-purge run has this id"),
    ],
)
def test_a_bad_parameter_fails_the_run_at_once_with_the_sentence(
    flow_store: LocalStore,  # noqa: F811
    engine: Engine,
    flow: Any,
    params: dict[str, Any],
    message: str,
) -> None:
    with engine.begin() as conn:
        conn.execute(insert(schema.school_years).values(school_year="2024-2025", phase="frozen"))
    state = flow(**params, return_state=True)
    assert state.is_failed()
    assert message in state.message
    assert "Traceback" not in state.message and "OptionError" not in state.message
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(schema.runs)) == 0
