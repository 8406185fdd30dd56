"""The Pandera contracts of each feed type (feeds.md, "Attributes read", "Severity")."""

from __future__ import annotations

import io
from datetime import date

import polars as pl
from aaf_samples import TEN_MB, document, name, record, relative, school, staff, student

from rentree.contracts import validate_records
from rentree.contracts.base import VALUE_PREVIEW, ContractResult
from rentree.infra.aaf import read_aaf
from rentree.infra.naming import FeedType

YEAR = "2024-2025"


def check(file_type: FeedType, *records: str) -> ContractResult:
    parsed = read_aaf(io.BytesIO(document(records)), name(file_type))
    return validate_records(file_type, parsed.records, YEAR)


def problems(result: ContractResult) -> list[tuple[str | None, str, str, str]]:
    return [
        (r["record_id"], r["attribute"], r["rule"], r["severity"])
        for r in result.failures.iter_rows(named=True)
    ]


def test_valid_records_pass_with_their_typed_columns() -> None:
    result = check("Eleve", student())
    assert result.failures.is_empty()
    row = result.valid.row(0, named=True)
    assert row["birth_date"] == date(2018, 4, 15)
    assert (row["struct_id"], row["class_code"], row["class_label"]) == (
        "S1",
        "CP-A",
        "Classe CP-A",
    )
    assert "rentree_day" not in result.valid.columns


def test_bad_uai_rejects_the_structure() -> None:
    result = check("EtabEducNat", school(), school("S2", uai="059002B"))
    assert problems(result) == [("S2", "ENTStructureUAI", "uai_format", "record")]
    assert result.valid["external_id"].to_list() == ["S1"]


def test_structure_type_is_read_from_the_official_nature_label() -> None:
    labels = {
        "S1": ("ECOLE PRIMAIRE", "primaire"),
        "S2": ("ECOLE MATERNELLE", "maternelle"),
        "S3": ("ECOLE DE NIVEAU ELEMENTAIRE", "elementaire"),
        "S4": ("ECOLE ELEMENTAIRE D'APPLICATION", "elementaire"),
        "S5": ("ECOLE MATERNELLE D'APPLICATION", "maternelle"),
        "S6": ("SANS OBJET", "other"),
        "S7": ("INSPECTIONS ACADEMIQUES", "other"),
        "S8": ("COLLEGE", "other"),
    }
    records = [
        school(sid, uai=f"059000{i}A", kind=label)
        for i, (sid, (label, _)) in enumerate(labels.items())
    ]
    result = check("EtabEducNat", *records)
    assert problems(result) == []
    assert result.valid["structure_type"].to_list() == [kind for _, kind in labels.values()]


def test_structure_names_in_parts_are_shown_without_dollars() -> None:
    result = check("EtabEducNat", school(name="ECOLE ELEMENTAIRE$JULES FERRY$LILLE"))
    assert result.valid["name"].to_list() == ["ECOLE ELEMENTAIRE JULES FERRY LILLE"]
    address = check("PersRelEleve", relative(ENTPersonAdresse="1 rue de Test$$Bât. B$"))
    assert address.valid["address"].to_list() == ["1 rue de Test Bât. B"]


def test_bad_structure_postcode_is_a_warning_that_drops_the_value() -> None:
    result = check("EtabEducNat", school(ENTStructureCodePostal="5900"))
    assert problems(result) == [("S1", "ENTStructureCodePostal", "postcode", "warning")]
    assert result.valid["postcode"].to_list() == [None]


def test_bad_ine_rejects_the_pupil() -> None:
    result = check("Eleve", student(ine="12345678901"), student("E2", ine="1234567890B"))
    assert problems(result) == [("E1", "ENTEleveINE", "ine_format", "record")]
    assert result.valid["external_id"].to_list() == ["E2"]


def test_bad_date_rejects_the_pupil() -> None:
    result = check("Eleve", student(birth="31/02/2018"), student("E2", birth="2018-04-15"))
    assert [p[2] for p in problems(result)] == ["real_date", "real_date"]
    assert result.valid.is_empty()


def test_pupil_age_is_2_to_14_on_the_first_of_september() -> None:
    result = check(
        "Eleve",
        student("E1", birth="01/09/2022"),  # 2 on the day
        student("E2", birth="02/09/2022"),  # 1 on the day
        student("E3", birth="02/09/2009"),  # 14 on the day
        student("E4", birth="01/09/2009"),  # 15 on the day
    )
    assert problems(result) == [
        ("E2", "ENTPersonDateNaissance", "age_2_to_14", "record"),
        ("E4", "ENTPersonDateNaissance", "age_2_to_14", "record"),
    ]


def test_bad_level_rejects_the_pupil() -> None:
    result = check("Eleve", student(level="6EME"))
    assert problems(result) == [("E1", "ENTEleveNiveau", "level", "record")]


def test_pupil_has_exactly_one_structure() -> None:
    result = check("Eleve", student(ENTPersonStructRattach=["S1", "S2"]))
    assert ("E1", "ENTPersonStructRattach", "exactly_one", "record") in problems(result)


def test_class_of_another_school_rejects_the_pupil() -> None:
    result = check("Eleve", student(ENTPersonClasses="S2$x$y$GS-1$Classe GS-1"))
    assert problems(result) == [("E1", "ENTPersonClasses", "class_of_another_school", "record")]


def test_later_classes_of_the_school_are_kept_and_others_warned() -> None:
    classes = ["S1$x$y$CP-A$Classe CP-A", "S1$x$y$G-CHANT$Chorale", "S2$x$y$GS-1$Classe GS-1"]
    result = check("Eleve", student(ENTPersonClasses=classes))
    assert problems(result) == [
        ("E1", "ENTPersonClasses", "other_class_of_another_school", "warning")
    ]
    row = result.valid.row(0, named=True)
    assert (row["class_code"], row["class_codes"]) == ("CP-A", ["CP-A", "G-CHANT"])
    assert row["class_labels"] == ["Classe CP-A", "Chorale"]


def test_class_needs_five_parts() -> None:
    result = check("Eleve", student(ENTPersonClasses="S1$CP-A"))
    assert ("E1", "ENTPersonClasses", "class_format", "record") in problems(result)


def test_bad_email_is_a_warning_that_drops_the_value() -> None:
    result = check("PersRelEleve", relative(ENTPersonMail="marc.dupont.example.org"))
    assert problems(result) == [("R1", "ENTPersonMail", "email", "warning")]
    assert result.valid["email"].to_list() == [None]
    assert result.valid["external_id"].to_list() == ["R1"]


def test_real_phone_formats_are_accepted() -> None:
    phones = [
        "0612345678",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "+33 6 12 34 56 78",
    ]
    result = check(
        "PersRelEleve",
        *[relative(f"R{i}", ENTPersRelEleveTelMobile=p) for i, p in enumerate(phones)],
    )
    assert problems(result) == []
    assert result.valid["mobile"].to_list() == phones


def test_staff_schools_are_their_functions_with_their_attachment() -> None:
    member = staff(
        "P1",
        structs=("CIRC1",),
        ENTPersonFonctions=["S1$ENS$ENSEIGNEMENT$$", "S2$ENS$ENSEIGNEMENT$$", "CIRC1$DIR$X$$"],
    )
    result = check("PersEducNat", member)
    assert result.valid["struct_ids"].to_list() == [["CIRC1", "S1", "S2"]]


def test_bad_phone_is_a_warning() -> None:
    result = check("PersRelEleve", relative(ENTPersRelEleveTelMobile="06 12 AB 34"))
    assert problems(result) == [("R1", "ENTPersRelEleveTelMobile", "phone", "warning")]
    assert result.valid["mobile"].to_list() == [None]


def test_record_without_id_is_rejected() -> None:
    result = check("Eleve", student(None))
    assert problems(result) == [(None, "identifier/id", "required", "record")]
    assert result.valid.is_empty()


def test_missing_required_names_reject_the_record() -> None:
    result = check("PersRelEleve", record("PersRelEleve", "R1", {"ENTPersonNom": "Dupont"}))
    assert problems(result) == [("R1", "ENTPersonPrenom", "required", "record")]


def test_ten_mb_value_rejects_the_record_with_a_short_value_in_the_report() -> None:
    result = check("Eleve", student(last="D" * TEN_MB), student("E2", ine="1234567890B"))
    assert problems(result) == [("E1", "ENTPersonNom", "too_long", "record")]
    value = result.failures["value"][0]
    assert len(value) == VALUE_PREVIEW + 1 and value.endswith("…")
    assert result.failures["name"].str.len_chars().max() <= VALUE_PREVIEW + 1  # type: ignore[operator]
    assert result.valid["external_id"].to_list() == ["E2"]


def test_staff_profile_comes_from_the_category_then_the_functions() -> None:
    result = check(
        "PersEducNat",
        staff("P1"),
        staff("P2", ENTPersonFonctions="S1$DIR$DIRECTION$$"),
        staff("P3", ENTPersonFonctions="S1$DIR$DIRECTION$$", ENTPersonCategorieEnseignant="O"),
        staff("P4", ENTPersonCategorieEnseignant="false"),
    )
    assert result.failures.is_empty()
    assert result.valid["is_teacher"].to_list() == [True, False, True, False]


def test_bad_teacher_category_is_a_warning_and_the_functions_decide() -> None:
    result = check("PersEducNat", staff(ENTPersonCategorieEnseignant="oui"))
    assert problems(result) == [
        ("P1", "ENTPersonCategorieEnseignant", "teacher_category", "warning")
    ]
    assert result.valid["is_teacher"].to_list() == [True]


def test_malformed_function_is_dropped_the_others_kept() -> None:
    result = check("PersEducNat", staff(ENTPersonFonctions=["S1$ENS$ENSEIGNEMENT$$", "ENS"]))
    assert problems(result) == [("P1", "ENTPersonFonctions", "function_format", "warning")]
    assert result.valid["function_codes"].to_list() == [["ENS"]]


def test_staff_without_any_structure_is_kept_with_a_warning() -> None:
    result = check("PersEducNat", staff(structs=()))
    assert problems(result) == [("P1", "ENTPersonStructRattach", "no_structure", "warning")]
    assert result.valid["struct_ids"].to_list() == [[]]
    functions_only = check("PersEducNat", staff(structs=(), ENTPersonFonctions="S1$ENS$X$$"))
    assert problems(functions_only) == []


def test_bad_staff_birth_date_is_only_a_warning() -> None:
    result = check("PersEducNat", staff(ENTPersonDateNaissance="1980-03-12"))
    assert problems(result) == [("P1", "ENTPersonDateNaissance", "real_date", "warning")]
    assert result.valid["birth_date"].to_list() == [None]


def test_modify_checks_only_the_replaced_attributes() -> None:
    result = check(
        "Eleve",
        record("Eleve", "E1", {"ENTEleveNiveau": "CE1"}, operation="modify"),
        record("Eleve", "E2", {"ENTEleveNiveau": "6EME"}, operation="modify"),
        record("Eleve", "E3", {"ENTPersonNom": None}, operation="modify"),
    )
    assert problems(result) == [
        ("E2", "ENTEleveNiveau", "level", "record"),
        ("E3", "ENTPersonNom", "required", "record"),
    ]
    assert result.valid["external_id"].to_list() == ["E1"]


def test_modify_with_a_warned_value_no_longer_replaces_it() -> None:
    result = check(
        "PersRelEleve",
        record(
            "PersRelEleve", "R1", {"ENTPersonMail": "nope", "ENTPersonVille": "Douai"}, "modify"
        ),
    )
    assert result.valid["modified"].to_list() == [["ENTPersonVille"]]


def test_delete_checks_only_the_id() -> None:
    result = check(
        "Eleve",
        record("Eleve", "E1", operation="delete"),
        record("Eleve", None, operation="delete"),
    )
    assert problems(result) == [(None, "identifier/id", "required", "record")]
    assert result.valid["external_id"].to_list() == ["E1"]


def test_every_problem_of_a_record_is_listed_at_once() -> None:
    result = check("Eleve", student(ine="x", level="y", birth="z"))
    assert {p[2] for p in problems(result)} == {"ine_format", "level", "real_date"}


def test_failures_carry_file_position_and_line() -> None:
    result = check("Eleve", student(), student("E2", ine="x"))
    row = result.failures.row(0, named=True)
    assert (row["file"], row["position"], row["line"]) == (name("Eleve"), 1, 5)
    assert result.failures.schema["position"] == pl.Int64
