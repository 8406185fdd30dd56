"""R1 through the sync engine: a pupil missing from a complete delivery, then deactivated by
retire-missing (stage 1), comes back in a later delivery as the same account: same login,
the activation code they had, their shares and productions, no longer deactivated."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from sqlalchemy import Engine, select

from rentree.infra import schema
from rentree.infra.storage import ObjectStore
from rentree.tasks.imports.delivery import import_delivery
from rentree.tasks.rules.retirement.rules import RetirementRules
from tests.content_builders import insert_content, resources_frame, shares_frame
from tests.retirement_builders import run_once
from tests.sync_builders import NEW, NOW
from tests.test_imports import SETTINGS, family_delivery, land

MARK = date(2024, 9, 10)
RULES = RetirementRules(notice_days=14)
PUPIL = "E0003"


def account(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        row = conn.execute(select(schema.users).where(schema.users.c.external_id == PUPIL)).one()
    return row._asdict()


def shares_of_pupil(engine: Engine) -> pl.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            select(schema.shares).where(
                (schema.shares.c.recipient_id == PUPIL) | (schema.shares.c.resource_id == "d-3")
            )
        ).all()
    return pl.DataFrame([r._asdict() for r in rows]).sort("resource_id", "recipient_id")


def test_pupil_back_in_a_feed_during_stage_1_is_the_same_account(
    engine: Engine, store: ObjectStore
) -> None:
    def deliver(day: str, pupils: list[int], today: date) -> None:
        land(store, NEW, family_delivery(day, pupils))
        outcome = import_delivery(
            engine, store, SETTINGS, NEW, day, run_id=f"run-{day}", now=NOW, today=today
        )
        assert outcome.status == "applied", outcome.reason

    deliver("20240905", [1, 2, 3], date(2024, 9, 5))
    first = account(engine)
    with engine.begin() as conn:
        insert_content(
            conn,
            {
                "resources": resources_frame([("d-3", PUPIL, "documents", "own", 10)]),
                "shares": shares_frame(
                    [("d-3", "user", "E0001", "read"), ("d-1", "user", PUPIL, "read")]
                ),
            },
        )
    shares_before = shares_of_pupil(engine)
    deliver("20240910", [1, 2], MARK)
    assert account(engine)["missing_since"] == MARK

    run_once(engine, MARK + timedelta(days=90), "notice", RULES)
    run_once(engine, MARK + timedelta(days=104), "deactivate", RULES)
    deactivated = account(engine)
    assert deactivated["deactivated_at"] is not None and deactivated["activation_code"] is None

    deliver("20250105", [1, 2, 3, 4], MARK + timedelta(days=117))
    back = account(engine)
    assert back["deactivated_at"] is None and back["missing_since"] is None
    assert back["login"] == first["login"] and back["activation_code"] == first["activation_code"]
    assert back["activation_code"] is not None
    assert shares_of_pupil(engine).equals(shares_before)
    with engine.connect() as conn:
        noticed = conn.execute(select(schema.retirement_notices)).all()
        reactivated = (
            conn.execute(
                select(schema.change_log.c.entity_id).where(
                    schema.change_log.c.operation == "reactivate"
                )
            )
            .scalars()
            .all()
        )
    assert PUPIL not in {n.user_external_id for n in noticed}
    assert set(reactivated) == {PUPIL, "R0003"}  # the relative left and came back too
