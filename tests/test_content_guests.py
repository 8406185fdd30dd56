"""Guest accounts of the content inventory without a login (R2, R3): a generated login and an
activation code, as new pupils get; importing again keeps them; the feeds never touch them."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sqlalchemy import Engine, select

from rentree.infra import schema
from rentree.infra.frames import read_table
from rentree.tasks.sync.accounts import ACTIVATION_ALPHABET, ACTIVATION_LENGTH
from tests.test_content_import import (
    counts,
    local_store,
    run_import,
    seed_directory,
    write_inventory,
)


def guests(logins: list[str | None]) -> dict[str, pl.DataFrame]:
    return {
        "users": pl.DataFrame(
            {
                "external_id": ["G1", "G2", "G3"],
                "profile": ["Guest"] * 3,
                "source": ["manual"] * 3,
                "identity": ["local"] * 3,
                "login": logins,
                "first_name": ["Zoé", "Léa", "Paul"],
                "last_name": ["Lefèvre", "Martin", "Durand"],
            },
            schema_overrides={"login": pl.String},
        )
    }


def accounts(engine: Engine) -> dict[str, tuple[str, str | None, str]]:
    with engine.connect() as conn:
        users = read_table(conn, schema.users).filter(pl.col("profile") == "Guest")
    return {
        r["external_id"]: (r["login"], r["activation_code"], r["activation_state"])
        for r in users.iter_rows(named=True)
    }


def test_a_guest_without_login_gets_a_login_and_an_activation_code(
    engine: Engine, tmp_path: Path
) -> None:
    seed_directory(engine)  # the pupil lea.martin holds that login already
    store = local_store(tmp_path)
    folder = write_inventory(tmp_path / "inv", guests([None, None, "paul.durand"]))
    outcome = run_import(engine, folder, store)
    assert outcome.rejected == 0, outcome.rejects.to_dicts()
    made = accounts(engine)
    assert made["G1"][0] == "zoe.lefevre"
    assert made["G2"][0] == "lea.martin2"  # R3: numbered when taken
    assert made["G3"] == ("paul.durand", None, "none")
    for guest in ("G1", "G2"):
        code = made[guest][1]
        assert code is not None and len(code) == ACTIVATION_LENGTH
        assert set(code) <= set(ACTIVATION_ALPHABET)
        assert made[guest][2] == "pending"
    # no report of the import holds a code
    for report in outcome.reports:
        body = store.read_bytes(report.csv_key).decode()
        assert not any(made[g][1] in body for g in ("G1", "G2"))  # type: ignore[operator]

    # the same inventory again: same logins, same codes, nothing updated
    again = run_import(engine, folder, store)
    assert counts(again)["users"] == (0, 0, 3, 0)
    assert accounts(engine) == made


def test_a_known_guest_without_login_in_the_inventory_keeps_its_login(
    engine: Engine, tmp_path: Path
) -> None:
    seed_directory(engine)
    store = local_store(tmp_path)
    run_import(engine, write_inventory(tmp_path / "a", guests(["z.l", "l.m", "p.d"])), store)
    outcome = run_import(engine, write_inventory(tmp_path / "b", guests([None, None, None])), store)
    assert counts(outcome)["users"] == (0, 0, 3, 0)
    with engine.connect() as conn:
        logins = set(conn.scalars(select(schema.users.c.login).where(
            schema.users.c.profile == "Guest")))  # fmt: skip
    assert logins == {"z.l", "l.m", "p.d"}
