"""Change sets written to the store and read back unchanged (local folder and S3)."""

from __future__ import annotations

from datetime import date

import polars as pl
from polars.testing import assert_frame_equal

from rentree.infra.storage import ObjectStore
from rentree.tasks.sync.changeset import KINDS, ChangeSet


def _sample() -> ChangeSet:
    return ChangeSet(
        school_year="2024-2025",
        delivery="20240904",
        file_hashes=("abc",),
        fingerprint="f" * 64,
        complete={"Eleve": True},
        users_updated=pl.DataFrame(
            {"external_id": ["E1"], "changed": [["level"]], "level": ["CE1"], "before": ["{}"]}
        ),
        users_missing=pl.DataFrame(
            {
                "external_id": ["E2", "E3"],
                "profile": ["Student", "Student"],
                "structure_uai": ["0590001A", "0590002B"],
                "expected_leaver": [True, False],
                "missing_since": [date(2024, 9, 4)] * 2,
            }
        ),
        group_members_added=pl.DataFrame(
            {"group_id": ["2024-2025:0590001A:students"], "user_external_id": ["E1"]}
        ),
        files=pl.DataFrame(
            {
                "content_hash": ["abc"],
                "file_name": ["ENT_Complet_20240904_Eleve_0000.xml"],
                "file_type": ["Eleve"],
                "mode": ["Complet"],
                "extraction_date": [date(2024, 9, 4)],
                "chunk": [0],
            }
        ),
    )


def test_change_set_write_then_read_is_identical(store: ObjectStore) -> None:
    cs = _sample()
    keys = cs.write(store, "reports/2024-2025/family-import/run-1/change-set/")
    assert len(keys) == len(KINDS) + 3  # kinds, files, refused records, summary
    back = ChangeSet.read(store, "reports/2024-2025/family-import/run-1/change-set/")
    for kind in KINDS:
        assert_frame_equal(getattr(back, kind), getattr(cs, kind))
    assert_frame_equal(back.files, cs.files)
    assert back.summary() == cs.summary()
    assert (back.fingerprint, back.file_hashes, back.complete) == (
        cs.fingerprint,
        cs.file_hashes,
        cs.complete,
    )


def test_change_set_counts_and_summary() -> None:
    cs = _sample()
    assert not cs.is_empty()
    assert cs.counts()["users_missing"] == 2
    summary = cs.summary()
    assert summary["missing_unexpected"] == 1 and summary["missing_expected_leavers"] == 1
    per_school = {r["structure_uai"]: r for r in cs.counts_per_school().iter_rows(named=True)}
    assert per_school["0590001A"]["users_missing"] == 1
    assert per_school["0590001A"]["group_members_added"] == 1
    assert per_school["0590002B"]["users_missing"] == 1
    assert ChangeSet("2024-2025", "20240904", (), "x").is_empty()


def test_change_set_files_never_hold_activation_codes(store: ObjectStore) -> None:
    """A held change set lies in the store: its new pupils' codes are left out and drawn
    afresh when it is read back to be applied."""
    created = ChangeSet("2024-2025", "20240904", ("abc",), "f" * 64).users_created
    row = {c: None for c in created.columns} | {
        "external_id": "E9",
        "source": "feed",
        "identity": "local",
        "login": "lina.roy",
        "first_name": "Lina",
        "last_name": "Roy",
        "activation_code": "QQQQZZZZ",
        "activation_state": "pending",
    }
    cs = ChangeSet(
        "2024-2025",
        "20240904",
        ("abc",),
        "f" * 64,
        users_created=pl.DataFrame([row], schema=created.schema),
    )
    prefix = "reports/2024-2025/holds/h1/change-set/"
    keys = cs.write(store, prefix)
    for key in keys:
        if key.endswith(".parquet"):
            frame = pl.read_parquet(store.read_bytes(key))
            assert "activation_code" not in frame.columns, key
        else:
            assert b"QQQQZZZZ" not in store.read_bytes(key), key
    back = ChangeSet.read(store, prefix).users_created
    assert back.columns == created.columns
    code = back["activation_code"][0]
    assert code is not None and len(code) == 8 and code != "QQQQZZZZ"
    assert_frame_equal(back.drop("activation_code"), cs.users_created.drop("activation_code"))
