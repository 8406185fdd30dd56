"""Every public AAF file of `../shared/reference/aaf/samples/` (SOURCES.md), read as a real
delivery, with the verdict feeds.md gives each; and the ministry's structures and staff
imported into the directory and exported back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from lxml import etree
from sqlalchemy import Engine

from rentree.infra.naming import landing_key, not_used_delivery
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore
from rentree.tasks.content.export import write_export
from rentree.tasks.imports.delivery import import_delivery
from rentree.tasks.intake.validate import (
    CheckContext,
    FileCheck,
    check_file,
    check_not_used,
    collect_files,
    group_files,
    validate_groups,
)
from tests import aaf_samples as aaf

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "aaf" / "samples"
MEN = "entcore/feeder/src/test/resources/aaf-test/"
DELTA = "service-annuaire/db/data/jeux-de-donnees-MEN/delta/"
FULL = "service-annuaire/db/data/jeux-de-donnees-MEN/full/"
POSITIONS = "entcore/tests/src/test/resources/data/positions/aaf/"
UTEST = "service-annuaire/spec/lib/alimentation/utest/"
RENAMED = "renamed/service-annuaire/"
YEAR_2013 = "2012-2013"
NOW_2013 = datetime(2013, 1, 18, tzinfo=UTC)

# feeds.md, "Real files to read": file -> (verdict, records read)
ACCEPTED = {  # structures and staff: read, counted, typed
    MEN + "FULL_ENTTSSERVICES_Complet_20130117_EtabEducNat_0000.xml": 10,
    MEN + "FULL_ENTTSSERVICES_Complet_20130117_PersEducNat_0000.xml": 698,
    MEN + "FULL_ENTTSSERVICES_Complet_20130117_PersEducNat_0001.xml": 3,
    FULL + "FULL_ENTTSSERVICES_Complet_20130117_PersEducNat_0010.xml": 1590,
    "entcore/feeder/src/test/resources/aaf/test/ENT_Complet_20200101_EtabEducNat_0000.xml": 1,
    "entcore/index-only/feeder/src/test/resources/aaf/test/"
    "ENT_Complet_20250612_PersEducNat_0000.xml": 2,
}
RELATIVES = {
    MEN + f"clean-FULL_ENTTSSERVICES_Complet_20130117_PersRelEleve_{n:04d}.xml" for n in range(40)
}
PUPILS_2D = {  # 2D pupils: refused for the 1D attributes they lack, and only those
    MEN + "FULL_ENTTSSERVICES_Complet_20130117_Eleve_0001.xml": 642,
    "entcore/feeder/src/test/resources/aaf/test/ENT_Complet_20200101_Eleve_0000.xml": 1,
    RENAMED + "LACLASSE-UTEST_Complet_20130304_Eleve_0000.xml": 2,
}
SECOND_DEGREE = {  # the 2024 files say degre="2D"
    POSITIONS + "before/ENT2DVA-ENT16_Complet_20240916_EtabEducNat_0000.xml",
    POSITIONS + "before/ENT2DVA-ENT16_Complet_20240916_PersEducNat_0000.xml",
    POSITIONS + "after/ENT2DVA-ENT16_Complet_20240916_PersEducNat_0000.xml",
}
BROKEN = {  # really broken: refused with their line
    RENAMED + "LACLASSE-UTEST_Complet_20130304_EtabEducNat_0000.xml": ("truncated", 86),
    DELTA + "FULL_ENTTSSERVICES_Delta_20130122_PersEducNat_0000.xml": ("not_xml", 76),
    DELTA + "FULL_ENTTSSERVICES_Delta_20130122_Eleve_0000.xml": ("not_xml", 100),
}
DELTA_READ = {DELTA + "FULL_ENTTSSERVICES_Delta_20130122_PersRelEleve_0000.xml"}
BAD_NAME = {UTEST + "file_Eleve_test.xml", UTEST + "file_EtabEducNat_test.xml"}
NOT_USED = {
    MEN + "FULL_ENTTSSERVICES_Complet_20130117_MatiereEducNat_0000.xml",
    MEN + "FULL_ENTTSSERVICES_Complet_20130117_MefEducNat_0000.xml",
    MEN + "ficAlimMENESR.dtd",
    "entcore/feeder/src/test/resources/aaf/test/ficAlimMENESR.dtd",
    DELTA + "FULL_ENTTSSERVICES_Delta_20130122_MatiereEducNat_0000.xml",
    DELTA + "FULL_ENTTSSERVICES_Delta_20130122_MefEducNat_0000.xml",
    FULL + "FULL_ENTTSSERVICES_Complet_20130117_MatiereEducNat_0000.xml",
    FULL + "FULL_ENTTSSERVICES_Complet_20130117_MefEducNat_0000.xml",
}
# The attributes a 2D pupil lacks that the 1D export (ONDE) carries, and the 1D age rule.
ONE_D_RULES = {
    ("ENTEleveINE", "required"),
    ("ENTEleveNiveau", "required"),
    ("ENTPersonClasses", "required"),
    ("ENTPersonDateNaissance", "age_2_to_14"),
}


@pytest.fixture(scope="module")
def samples() -> Path:
    if not SAMPLES.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the AAF samples are missing from CI ({SAMPLES})")
        pytest.skip("the AAF samples (../shared/reference/aaf/samples) are not here")
    return SAMPLES


def check(samples: Path, relative: str, year: str = YEAR_2013) -> FileCheck:
    path = samples / relative
    return check_file(path, path.name, CheckContext(school_year=year))


def record_rules(result: FileCheck, severity: str = "record") -> set[tuple[str, str]]:
    rows = result.failures.filter(pl.col("severity") == severity)
    return set(rows.select("attribute", "rule").unique().iter_rows())


def test_every_sample_file_has_a_verdict(samples: Path) -> None:
    on_disk = {
        str(p.relative_to(samples)) for p in samples.rglob("*") if p.is_file() and p.suffix != ".md"
    }
    expected = (
        set(ACCEPTED)
        | RELATIVES
        | set(PUPILS_2D)
        | SECOND_DEGREE
        | set(BROKEN)
        | DELTA_READ
        | BAD_NAME
        | NOT_USED
    )
    assert on_disk == expected


@pytest.mark.parametrize("relative", sorted(ACCEPTED))
def test_structure_and_staff_files_are_accepted(samples: Path, relative: str) -> None:
    result = check(samples, relative)
    assert result.problem is None
    assert result.records == ACCEPTED[relative]
    assert record_rules(result) == set()
    assert result.valid is not None and result.valid.height == ACCEPTED[relative]
    if result.file_type == "EtabEducNat":
        assert set(result.valid["structure_type"].to_list()) <= {
            "maternelle",
            "elementaire",
            "primaire",
            "other",
        }
        assert result.valid["name"].str.contains("$", literal=True).sum() == 0
    else:
        # the ministry's staff are named with sn and givenName
        assert result.valid["last_name"].null_count() == 0
        assert result.valid["is_teacher"].null_count() == 0


def test_the_ministrys_structures_are_typed_from_their_labels(samples: Path) -> None:
    result = check(samples, MEN + "FULL_ENTTSSERVICES_Complet_20130117_EtabEducNat_0000.xml")
    assert result.valid is not None
    # replacement zones and inspections: no school among the ministry's ten structures
    assert result.valid["structure_type"].to_list() == ["other"] * 10
    iso = check(
        samples,
        "entcore/feeder/src/test/resources/aaf/test/ENT_Complet_20200101_EtabEducNat_0000.xml",
        "2019-2020",
    )
    assert iso.valid is not None
    assert iso.valid["name"].to_list() == ["NOM STRUCTURE COURANT"]


@pytest.mark.parametrize("relative", sorted(RELATIVES))
def test_2d_relatives_are_read_with_their_ldap_names(samples: Path, relative: str) -> None:
    result = check(samples, relative)
    assert result.problem is None and result.valid is not None
    assert record_rules(result) == set()
    assert result.valid.height == result.records > 0
    assert result.valid["last_name"].null_count() == 0


@pytest.mark.parametrize("relative", sorted(PUPILS_2D))
def test_2d_pupils_are_refused_only_for_the_1d_attributes_they_lack(
    samples: Path, relative: str
) -> None:
    year = "2019-2020" if "20200101" in relative else YEAR_2013
    result = check(samples, relative, year)
    assert result.problem is None and result.records == PUPILS_2D[relative]
    rejected = result.failures.filter(pl.col("severity") == "record")["position"].n_unique()
    assert rejected == result.records
    assert record_rules(result) <= ONE_D_RULES
    # every pupil lacks the 1D level and classes
    lacking = result.failures.filter(
        pl.col("attribute").is_in(["ENTEleveNiveau", "ENTPersonClasses"])
        & (pl.col("rule") == "required")
    )
    assert lacking["position"].n_unique() == result.records


@pytest.mark.parametrize("relative", sorted(SECOND_DEGREE))
def test_the_2024_files_are_refused_as_second_degree(samples: Path, relative: str) -> None:
    result = check(samples, relative, "2024-2025")
    assert result.problem is not None and result.problem.rule == "second_degree"
    assert "secondary-school files; rentree takes the 1D export" in result.problem.message_en


@pytest.mark.parametrize("relative", sorted(BROKEN))
def test_really_broken_files_are_refused_with_their_line(samples: Path, relative: str) -> None:
    rule, line = BROKEN[relative]
    result = check(samples, relative)
    assert result.problem is not None
    assert (result.problem.rule, result.problem.line) == (rule, line)
    assert f"line {line}" in result.problem.message_en


def test_the_deltas_modify_and_delete_records_are_read(samples: Path) -> None:
    (relative,) = DELTA_READ
    result = check(samples, relative)
    assert result.problem is None and result.valid is not None
    assert (
        sorted(result.valid["operation"].to_list()) == ["add"] * 2 + ["delete"] * 2 + ["modify"] * 2
    )
    modified = result.valid.filter(pl.col("operation") == "modify")["modified"].to_list()
    assert all(names for names in modified)


@pytest.mark.parametrize("relative", sorted(BAD_NAME))
def test_originals_whose_name_is_no_aaf_name_are_refused(samples: Path, relative: str) -> None:
    result = check(samples, relative)
    assert result.problem is not None and result.problem.rule == "file_name"


@pytest.mark.parametrize("relative", sorted(NOT_USED))
def test_other_aaf_types_and_the_dtd_copy_are_set_aside(samples: Path, relative: str) -> None:
    path = samples / relative
    assert not_used_delivery(path.name) is not None
    assert check_not_used(path, path.name) is None


def verdicts(samples: Path, *relatives: str) -> list:
    groups = group_files(collect_files([samples / r for r in relatives]))
    return list(validate_groups(groups, Settings().invalid_record_ratio))


def test_a_delivery_of_the_ministrys_structures_and_staff_is_accepted(samples: Path) -> None:
    staff_files = [r for r in ACCEPTED if "20130117" in r]
    (verdict,) = verdicts(samples, *staff_files, *sorted(n for n in NOT_USED if "Complet" in n))
    assert verdict.assessment.accepted, verdict.assessment.sentence
    assert verdict.valid
    assert verdict.assessment.sentence.count("Not used: 4 file(s)") == 1
    assert "MatiereEducNat, MefEducNat" in verdict.assessment.sentence


def test_a_2d_delivery_is_refused_with_one_sentence(samples: Path) -> None:
    (verdict,) = verdicts(samples, *sorted(r for r in SECOND_DEGREE if "before" in r))
    assert not verdict.assessment.accepted
    assert verdict.assessment.sentence == (
        'These are secondary-school files; rentree takes the 1D export (degre="2D"): the '
        "whole delivery is refused; ask the academy for the 1D export."
    )


# -- import and export back -------------------------------------------------------------


def _attributes(path: Path) -> Iterator[tuple[str, dict[str, list[str]]]]:
    for _, record in etree.iterparse(str(path), tag="addRequest", load_dtd=False, no_network=True):
        values: dict[str, list[str]] = {}
        for attr in record.iterfind("attributes/attr"):
            values[attr.get("name")] = [v.text.strip() for v in attr if v.text and v.text.strip()]
        yield record.findtext("identifier/id"), values
        record.clear()


def ministry_structures(samples: Path) -> dict[str, str]:
    return {
        sid: values["ENTStructureUAI"][0]
        for sid, values in _attributes(
            samples / MEN / "FULL_ENTTSSERVICES_Complet_20130117_EtabEducNat_0000.xml"
        )
    }


def function_structures(samples: Path, staff_files: list[str]) -> list[str]:
    """The structures the staff's functions name that the ministry's file does not hold."""
    known = ministry_structures(samples)
    named = {
        f.split("$")[0]
        for relative in staff_files
        for _, values in _attributes(samples / relative)
        for f in values.get("ENTPersonFonctions", [])
    }
    return sorted(named - set(known))


def expected_links(
    samples: Path, staff_files: list[str], uai: dict[str, str], functions: bool = True
) -> tuple[set[str], set[tuple[str, str]]]:
    """From the XML itself: the staff ids and their (id, UAI) school links (attachment and,
    with `functions`, the functions' structures), among the structures `uai` knows."""
    people: set[str] = set()
    links: set[tuple[str, str]] = set()
    for relative in staff_files:
        for pid, values in _attributes(samples / relative):
            people.add(pid)
            named = values.get("ENTPersonStructRattach", []) + [
                f.split("$")[0] for f in values.get("ENTPersonFonctions", []) if functions
            ]
            links |= {(pid, uai[s]) for s in named if s in uai}
    return people, links


def test_the_ministrys_structures_and_staff_import_and_export_back(
    samples: Path, engine: Engine, store: ObjectStore, tmp_path: Path
) -> None:
    staff_files = [r for r in ACCEPTED if "20130117_PersEducNat" in r]
    settings = Settings(database_url="sqlite://", storage_url="unused")
    # the directory already holds the schools the staff's functions name (an earlier
    # structures delivery): the ministry's file only lists its ten replacement zones
    elsewhere = function_structures(samples, staff_files)
    earlier = {sid: f"{9000000 + i:07d}Z" for i, sid in enumerate(elsewhere)}
    schools = [aaf.school(sid, uai, f"Ecole {sid}") for sid, uai in earlier.items()]
    store.write_bytes(
        landing_key(YEAR_2013, aaf.name("EtabEducNat", "20130110")), aaf.document(schools)
    )
    first = import_delivery(
        engine, store, settings, YEAR_2013, "20130110", run_id="schools", now=NOW_2013
    )
    assert first.status == "applied", first.reason
    landed = [MEN + "FULL_ENTTSSERVICES_Complet_20130117_EtabEducNat_0000.xml", *staff_files]
    landed += sorted(n for n in NOT_USED if n.startswith(MEN))
    for relative in landed:
        path = samples / relative
        store.write_bytes(landing_key(YEAR_2013, path.name), path.read_bytes())
    outcome = import_delivery(
        engine, store, settings, YEAR_2013, "20130117", run_id="real-files", now=NOW_2013
    )
    assert outcome.status == "applied", outcome.reason
    assert "Not used: 3 file(s)" in outcome.reason
    assert store.list(f"archive/{YEAR_2013}/20130117/not-used/")
    assert not store.list(f"landing/{YEAR_2013}/")
    with engine.connect() as conn:
        write_export(conn, tmp_path / "export", "parquet")
    users = pl.read_parquet(tmp_path / "export" / "users.parquet")
    links = pl.read_parquet(tmp_path / "export" / "user_structures.parquet")
    uai = {**ministry_structures(samples), **earlier}
    people, expected = expected_links(samples, staff_files, uai)
    assert set(users["external_id"].to_list()) == people
    assert set(users["profile"].to_list()) <= {"Teacher", "Personnel"}
    exported = set(links.select("user_external_id", "structure_uai").iter_rows())
    assert exported == expected
    # many of the ministry's staff work elsewhere than their attachment: through functions
    _, attached = expected_links(samples, staff_files, uai, functions=False)
    assert len(exported - attached) > 500
