"""The synthetic region generator: files as the academy sends them, every rollover phenomenon
in the tiny region, and a content inventory whose references all resolve."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from lxml import etree
from typer.testing import CliRunner

from rentree.cli import app
from rentree.infra.naming import parse_feed_name, school_year_of
from rentree.synthetic import DEFAULT_SEED, OutputNotEmpty, generate_region

DTD_PATH = Path(__file__).resolve().parents[1].parent / "shared/reference/aaf/ficAlimMENESR.dtd"
LEVELS = ("TPS", "PS", "MS", "GS", "CP", "CE1", "CE2", "CM1", "CM2")
DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")

# storage.md, "Exports and the content inventory": minimum columns of the tables read.
STORAGE_COLUMNS = {
    "users": [
        "external_id", "profile", "source", "identity", "login", "ine", "first_name",
        "last_name", "missing_since",
    ],
    "user_structures": ["user_external_id", "structure_uai", "source"],
    "groups": [
        "group_id", "kind", "school_year", "structure_uai", "class_external_id", "audience",
        "name", "owner_external_id",
    ],
    "group_members": ["group_id", "user_external_id"],
    "bookmarks": ["bookmark_id", "owner_external_id", "name"],
    "bookmark_members": ["bookmark_id", "member_kind", "member_id"],
    "resources": ["resource_id", "owner_external_id", "app", "area", "size_bytes", "created_at"],
    "shares": ["resource_id", "recipient_kind", "recipient_id", "rights"],
}  # fmt: skip


@dataclass
class Record:
    operation: str
    category: str
    id: str
    attrs: dict[str, list[str]] = field(default_factory=dict)


def read_records(path: Path) -> list[Record]:
    """The records of an AAF file, read with plain lxml (no DTD, no entities)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.parse(str(path), parser).getroot()
    out = []
    for request in root:
        operation = request.tag.removesuffix("Request")
        category = request.findtext("operationalAttributes/attr/value")
        rec = Record(operation, category or "", request.findtext("identifier/id") or "")
        for attr in request.iterfind("attributes/attr"):
            rec.attrs[attr.get("name")] = [v.text or "" for v in attr.iterfind("value")]
        for mod in request.iterfind("modifications/modification"):
            rec.attrs[mod.get("name")] = [v.text for v in mod.iterfind("value") if v.text]
        out.append(rec)
    return out


class Region:
    """A generated region read back from its files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        self.closing = self.manifest["closing_year"]
        self.new = self.manifest["new_year"]
        self.deliveries = {
            (d["school_year"], d["delivery"]): d for d in self.manifest["deliveries"]
        }
        self._cache: dict[tuple[str, str, str], dict[str, Record]] = {}

    def files(self) -> list[Path]:
        return sorted((self.root / "landing").glob("*/*.xml"))

    def records(self, year: str, delivery: str, file_type: str) -> dict[str, Record]:
        key = (year, delivery, file_type)
        if key not in self._cache:
            found: dict[str, Record] = {}
            for path in sorted((self.root / "landing" / year).glob(f"*_{delivery}_{file_type}_*")):
                for rec in read_records(path):
                    assert rec.id not in found, f"{rec.id} twice in {file_type} {delivery}"
                    found[rec.id] = rec
            self._cache[key] = found
        return self._cache[key]

    def delivery_of(self, purpose_word: str) -> tuple[str, str]:
        for (year, day), d in self.deliveries.items():
            if purpose_word in d["purpose"]:
                return year, day
        raise AssertionError(f"no delivery about {purpose_word}")

    def closing_delivery(self) -> str:
        return self.delivery_of("closing year")[1]

    def content(self, table: str) -> pl.DataFrame:
        return pl.read_parquet(self.root / "content" / f"{table}.parquet")

    def uai_of_structure(self) -> dict[str, str]:
        etab = self.records(self.closing, self.closing_delivery(), "EtabEducNat")
        return {i: r.attrs["ENTStructureUAI"][0] for i, r in etab.items()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Region:
    out = tmp_path_factory.mktemp("tiny")
    generate_region("tiny", out)
    return Region(out)


def _bytes_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# -- determinism and file format -----------------------------------------------------------


def test_same_seed_gives_identical_bytes(tiny: Region, tmp_path: Path) -> None:
    generate_region("tiny", tmp_path / "again", seed=DEFAULT_SEED)
    first, second = _bytes_of(tiny.root), _bytes_of(tmp_path / "again")
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


def test_different_seed_gives_different_files(tiny: Region, tmp_path: Path) -> None:
    generate_region("tiny", tmp_path / "other", seed=DEFAULT_SEED + 1)
    first, other = _bytes_of(tiny.root), _bytes_of(tmp_path / "other")
    eleve = [k for k in first if "_Eleve_" in k]
    assert eleve and any(first[k] != other.get(k) for k in eleve)


def test_every_file_validates_against_the_real_dtd(tiny: Region) -> None:
    if not DTD_PATH.exists():
        pytest.skip(f"the AAF DTD is not at {DTD_PATH} (../shared/reference/aaf/)")
    with open(DTD_PATH, "rb") as source:
        dtd = etree.DTD(source)
    files = tiny.files()
    assert len(files) == 12
    for path in files:
        head = path.read_bytes()[:200].decode("utf-8")
        assert head.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
        assert '<!DOCTYPE ficAlimMENESR SYSTEM "ficAlimMENESR.dtd">' in head
        doc = etree.parse(str(path), etree.XMLParser(load_dtd=False, no_network=True))
        assert dtd.validate(doc), f"{path.name}: {dtd.error_log.filter_from_errors()}"


def test_file_names_parse_and_match_their_folder_and_manifest(tiny: Region) -> None:
    listed = {
        f["name"]: (d["school_year"], f) for d in tiny.manifest["deliveries"] for f in d["files"]
    }
    for path in tiny.files():
        feed = parse_feed_name(path.name)
        assert school_year_of(feed.extraction_date) == path.parent.name
        year, entry = listed.pop(path.name)
        assert year == path.parent.name
        assert (feed.file_type, feed.mode, feed.chunk) == (entry["type"], entry["mode"], 0)
        records = read_records(path)
        assert len(records) == entry["records"]
        assert {r.category for r in records} == {feed.file_type}
    assert listed == {}


def test_large_types_are_split_in_numbered_chunks(tmp_path: Path) -> None:
    generated = generate_region("tiny", tmp_path / "chunked", chunk_size=40)
    root = tmp_path / "chunked"
    for delivery in generated.manifest["deliveries"]:
        by_type: dict[str, list[dict]] = defaultdict(list)
        for f in delivery["files"]:
            by_type[f["type"]].append(f)
        for file_type, files in by_type.items():
            assert [f["chunk"] for f in files] == list(range(len(files)))
            counts = [
                len(read_records(root / "landing" / delivery["school_year"] / f["name"]))
                for f in files
            ]
            assert all(c == 40 for c in counts[:-1]) and 0 < counts[-1] <= 40
            assert sum(counts) == delivery["records"][file_type]
    eleve = [
        f for d in generated.manifest["deliveries"] for f in d["files"] if f["type"] == "Eleve"
    ]
    assert max(f["chunk"] for f in eleve) >= 7


def test_attribute_formats_follow_feeds_md(tiny: Region) -> None:
    year, day = tiny.delivery_of("late entries")
    structures = tiny.records(year, day, "EtabEducNat")
    for rec in structures.values():
        assert re.fullmatch(r"[0-9]{7}[A-Z]", rec.attrs["ENTStructureUAI"][0])
        assert rec.attrs["ENTStructureTypeStruct"][0] in (
            "ECOLE MATERNELLE", "ECOLE ELEMENTAIRE", "ECOLE PRIMAIRE"
        )  # fmt: skip
        assert re.fullmatch(r"[0-9]{5}", rec.attrs["ENTStructureCodePostal"][0])
    ines = set()
    for rec in tiny.records(year, day, "Eleve").values():
        assert re.fullmatch(r"[0-9A-Z]{10}[A-Z]", rec.attrs["ENTEleveINE"][0])
        ines.add(rec.attrs["ENTEleveINE"][0])
        assert DATE.match(rec.attrs["ENTPersonDateNaissance"][0])
        (struct,) = rec.attrs["ENTPersonStructRattach"]
        assert struct in structures
        (klass,) = rec.attrs["ENTPersonClasses"]
        parts = klass.split("$")
        assert len(parts) == 5 and parts[0] == struct and parts[3] and parts[4]
        assert rec.attrs["ENTEleveNiveau"][0] in LEVELS
    assert len(ines) == len(tiny.records(year, day, "Eleve"))
    staff_year, staff_day = tiny.delivery_of("first staff")
    for rec in tiny.records(staff_year, staff_day, "PersEducNat").values():
        for function in rec.attrs["ENTPersonFonctions"]:
            parts = function.split("$")
            assert len(parts) == 5 and parts[0] in rec.attrs["ENTPersonStructRattach"]
        assert re.fullmatch(r"[a-z0-9.-]+@ac-(lille|amiens)\.fr", rec.attrs["ENTPersonMail"][0])
        assert DATE.match(rec.attrs["ENTPersonDateNaissance"][0])


def test_class_codes_have_one_label_per_structure(tiny: Region) -> None:
    year, day = tiny.delivery_of("late entries")
    labels: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rec in tiny.records(year, day, "Eleve").values():
        struct, _, _, code, label = rec.attrs["ENTPersonClasses"][0].split("$")
        labels[(struct, code)].add(label)
    assert labels and all(len(v) == 1 for v in labels.values())


def test_student_ages_are_2_to_14_on_the_first_of_september(tiny: Region) -> None:
    for (year, day), delivery in tiny.deliveries.items():
        if "Eleve" not in delivery["records"]:
            continue
        rentree = date(int(year[:4]), 9, 1)
        for rec in tiny.records(year, day, "Eleve").values():
            d, m, y = map(int, rec.attrs["ENTPersonDateNaissance"][0].split("/"))
            born = date(y, m, d)
            age = rentree.year - born.year - ((rentree.month, rentree.day) < (born.month, born.day))
            assert 2 <= age <= 14, (rec.id, born, year)


# -- the rollover's phenomena --------------------------------------------------------------


def _staff_schools(tiny: Region, year: str, day: str) -> dict[str, list[str]]:
    uai = tiny.uai_of_structure()
    return {
        i: [uai[s] for s in r.attrs["ENTPersonStructRattach"]]
        for i, r in tiny.records(year, day, "PersEducNat").items()
    }


def test_staff_move_school_at_the_first_staff_file(tiny: Region) -> None:
    before = _staff_schools(tiny, tiny.closing, tiny.closing_delivery())
    after = _staff_schools(tiny, *tiny.delivery_of("first staff"))
    moves = tiny.manifest["staff"]["moves"]
    assert moves
    for move in moves:
        assert move["from"] != move["to"]
        assert before[move["id"]][0] == move["from"] and after[move["id"]] == [move["to"]]


def test_late_staff_moves_arrivals_and_leavers_come_in_the_delta(tiny: Region) -> None:
    first = _staff_schools(tiny, *tiny.delivery_of("first staff"))
    year, day = tiny.delivery_of("late staff")
    delta = tiny.records(year, day, "PersEducNat")
    uai = tiny.uai_of_structure()
    staff = tiny.manifest["staff"]
    assert staff["late_moves"] and staff["late_arrivals"] and staff["late_leavers"]
    for move in staff["late_moves"]:
        assert first[move["id"]][0] == move["from"]
        rec = delta[move["id"]]
        assert rec.operation == "modify"
        assert [uai[s] for s in rec.attrs["ENTPersonStructRattach"]] == [move["to"]]
        assert all(f.startswith(rec.attrs["ENTPersonStructRattach"][0] + "$")
                   for f in rec.attrs["ENTPersonFonctions"])  # fmt: skip
    for person in staff["late_arrivals"]:
        assert person not in first and delta[person].operation == "add"
    for person in staff["late_leavers"]:
        assert person in first and delta[person].operation == "delete"


def test_staff_arrive_and_leave_between_the_years(tiny: Region) -> None:
    before = _staff_schools(tiny, tiny.closing, tiny.closing_delivery())
    after = _staff_schools(tiny, *tiny.delivery_of("first staff"))
    staff = tiny.manifest["staff"]
    assert staff["arrivals"] and staff["leavers"]
    assert all(p not in before and p in after for p in staff["arrivals"])
    assert all(p in before and p not in after for p in staff["leavers"])


def test_staff_are_teachers_personnel_and_directors(tiny: Region) -> None:
    records = tiny.records(tiny.closing, tiny.closing_delivery(), "PersEducNat").values()
    codes = {f.split("$")[1] for r in records for f in r.attrs["ENTPersonFonctions"]}
    assert "ENS" in codes and codes - {"ENS", "DIR"}
    directors = [r for r in records if r.attrs.get("ENTEnsFonctionDir")]
    assert len(directors) == len(tiny.uai_of_structure())
    for r in directors:
        assert r.attrs["ENTEnsFonctionDir"][0] in r.attrs["ENTPersonStructRattach"]
    mails = [r.attrs["ENTPersonMail"][0] for r in records]
    assert len(mails) == len(set(mails))
    assert any(len(r.attrs["ENTPersonStructRattach"]) > 1 for r in records)


def _pupils(tiny: Region, year: str, day: str) -> dict[str, tuple[str, str, str]]:
    """Pupil id -> (UAI, level, INE)."""
    uai = tiny.uai_of_structure()
    return {
        i: (uai[r.attrs["ENTPersonStructRattach"][0]], r.attrs["ENTEleveNiveau"][0],
            r.attrs["ENTEleveINE"][0])
        for i, r in tiny.records(year, day, "Eleve").items()
    }  # fmt: skip


def _kinds(tiny: Region) -> dict[str, str]:
    etab = tiny.records(tiny.closing, tiny.closing_delivery(), "EtabEducNat").values()
    return {r.attrs["ENTStructureUAI"][0]: r.attrs["ENTStructureTypeStruct"][0] for r in etab}


def test_last_levels_leave_and_others_move_up(tiny: Region) -> None:
    before = _pupils(tiny, tiny.closing, tiny.closing_delivery())
    after = _pupils(tiny, *tiny.delivery_of("late entries"))
    kinds = _kinds(tiny)
    cm2 = [p for p, (u, lvl, _) in before.items() if lvl == "CM2"]
    assert cm2 and not any(p in after for p in cm2)
    assert {kinds[before[p][0]] for p in cm2} >= {"ECOLE ELEMENTAIRE", "ECOLE PRIMAIRE"}
    gs_maternelle = [
        p for p, (u, lvl, _) in before.items() if lvl == "GS" and kinds[u] == "ECOLE MATERNELLE"
    ]
    assert gs_maternelle
    assert not any(after.get(p, ("",))[0] == before[p][0] for p in gs_maternelle)
    stayed = [p for p in before if p in after and after[p][0] == before[p][0]]
    moved_up = [p for p in stayed if LEVELS.index(after[p][1]) == LEVELS.index(before[p][1]) + 1]
    assert len(moved_up) > 0.9 * len(stayed)
    assert all(after[p][2] == before[p][2] for p in before if p in after)
    new = [p for p in after if p not in before]
    assert new and {after[p][1] for p in new} >= {"PS"}


def test_gs_pupils_reappear_as_cp_in_another_school(tiny: Region) -> None:
    before = _pupils(tiny, tiny.closing, tiny.closing_delivery())
    after = _pupils(tiny, *tiny.delivery_of("late entries"))
    kinds = _kinds(tiny)
    moved = [
        p
        for p, (u, lvl, ine) in before.items()
        if lvl == "GS" and kinds[u] == "ECOLE MATERNELLE" and p in after
        and after[p][1] == "CP" and after[p][0] != u and after[p][2] == ine
    ]  # fmt: skip
    assert moved
    assert {e["id"] for e in tiny.manifest["students"]["gs_to_cp_examples"]} <= set(moved)


def test_entry_levels_of_late_schools_arrive_only_in_the_later_delivery(tiny: Region) -> None:
    first = _pupils(tiny, *tiny.delivery_of("first family"))
    later = _pupils(tiny, *tiny.delivery_of("late entries"))
    late = tiny.manifest["late_entries"]
    assert {e["levels"][0] for e in late} == {"PS", "CP", "CE2"}
    for entry in late:

        def at(pupils: dict[str, tuple[str, str, str]], e: dict = entry) -> set[str]:
            return {p for p, (u, lvl, _) in pupils.items() if u == e["uai"] and lvl in e["levels"]}

        assert at(first) == set()
        assert len(at(later)) == entry["pupils"] > 0
        assert any(u == entry["uai"] for u, _, _ in first.values())
    # Schools not listed keep their entry level in the first delivery.
    late_uai = {e["uai"] for e in late}
    assert any(u not in late_uai and lvl == "PS" for u, lvl, _ in first.values())
    assert set(first) < set(later)


def _classes_of_pupils(tiny: Region, year: str, day: str) -> dict[str, set[str]]:
    """Class id -> its pupils' ids, from the Eleve records of a delivery."""
    uai = tiny.uai_of_structure()
    classes: dict[str, set[str]] = defaultdict(set)
    for pupil, rec in tiny.records(year, day, "Eleve").items():
        struct, _, _, code, _ = rec.attrs["ENTPersonClasses"][0].split("$")
        classes[f"{year}:{uai[struct]}:{code}"].add(pupil)
    return classes


def test_a_late_school_has_a_single_level_class_of_late_entries_only(tiny: Region) -> None:
    first = _classes_of_pupils(tiny, *tiny.delivery_of("first family"))
    year, day = tiny.delivery_of("late entries")
    later = _classes_of_pupils(tiny, year, day)
    pupils = _pupils(tiny, year, day)
    requested = set(
        pl.read_csv(tiny.root / tiny.manifest["attach_teachers"][tiny.new], infer_schema=False)[
            "class_external_id"
        ]
    )
    late = [(e, c) for e in tiny.manifest["late_entries"] for c in e["late_classes"]]
    assert late
    for entry, klass in late:
        school_year, class_uai, code = klass.split(":")
        assert (school_year, class_uai) == (tiny.new, entry["uai"])
        assert re.fullmatch(r"(PS|CP|CE2)-[A-Z]", code) and code[:-2] in entry["levels"]
        assert klass not in first  # no pupil before the late delivery
        assert later[klass] and {pupils[p][:2] for p in later[klass]} == {(entry["uai"], code[:-2])}
        assert klass in requested  # a teacher asks for it (R10 keeps it pending)
    # The listed classes are exactly those with no pupil in the first family delivery.
    listed = {c for _, c in late}
    assert {c for c in later if c not in first} == listed


def test_rpi_level_two_school_starts_at_ce2(tiny: Region) -> None:
    etab = tiny.records(tiny.closing, tiny.closing_delivery(), "EtabEducNat").values()
    rpi: dict[str, list[str]] = defaultdict(list)
    for r in etab:
        if r.attrs.get("ENTEcoleRPI"):
            rpi[r.attrs["ENTEcoleRPI"][0]].append(r.attrs["ENTStructureUAI"][0])
    (members,) = rpi.values()
    assert len(members) == 2
    for year, day in ((tiny.closing, tiny.closing_delivery()), tiny.delivery_of("late entries")):
        pupils = _pupils(tiny, year, day)
        lowest = {
            u: min(LEVELS.index(lvl) for uu, lvl, _ in pupils.values() if uu == u) for u in members
        }
        assert LEVELS[min(lowest.values())] in ("TPS", "PS")
        assert LEVELS[max(lowest.values())] == "CE2"
    (entry,) = tiny.manifest["rpi"]
    assert entry["level2"]["uai"] in members and entry["level2"]["first_level"] == "CE2"


def test_siblings_share_their_relatives(tiny: Region) -> None:
    for (year, day), delivery in tiny.deliveries.items():
        if "Eleve" not in delivery["records"]:
            continue
        children: dict[str, list[str]] = defaultdict(list)
        for rec in tiny.records(year, day, "Eleve").values():
            for relative in rec.attrs.get("ENTEleveAutoriteParentale", []):
                children[relative.split("$")[0]].append(rec.id)
        relatives = tiny.records(year, day, "PersRelEleve")
        assert set(children) == set(relatives)
        assert any(len(kids) > 1 for kids in children.values())


def test_names_carry_accents_apostrophes_and_hyphens(tiny: Region) -> None:
    year, day = tiny.closing, tiny.closing_delivery()
    pupil_names = {
        n for r in tiny.records(year, day, "Eleve").values()
        for n in r.attrs["ENTPersonNom"] + r.attrs["ENTPersonPrenom"]
    }  # fmt: skip
    assert {"N'Diaye", "Müller", "Éloïse", "Jean-Baptiste"} <= pupil_names
    staff_names = {
        n for r in tiny.records(year, day, "PersEducNat").values()
        for n in r.attrs["ENTPersonNom"] + r.attrs["ENTPersonPrenom"]
    }  # fmt: skip
    assert "O'Connor" in staff_names and "Marie-Anne" in staff_names


# -- content inventory ---------------------------------------------------------------------


def test_content_tables_have_storage_md_columns_and_string_ids(tiny: Region) -> None:
    for table, columns in STORAGE_COLUMNS.items():
        frame = tiny.content(table)
        assert frame.columns == columns, table
        assert frame.height > 0, table
        for column in columns:
            if column != "size_bytes":
                assert frame.schema[column] == pl.String, (table, column)
    resources = tiny.content("resources")
    assert resources.schema["size_bytes"] == pl.Int64
    parsed = resources["created_at"].str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=True)
    assert parsed.null_count() == 0


def test_guests_are_manual_local_accounts_attached_by_hand(tiny: Region) -> None:
    users = tiny.content("users")
    assert users.height >= 3
    assert set(users["profile"]) == {"Guest"} and set(users["source"]) == {"manual"}
    assert set(users["identity"]) == {"local"} and users["login"].n_unique() == users.height
    links = tiny.content("user_structures")
    assert set(links["source"]) == {"manual"}
    assert set(users["external_id"]) <= set(links["user_external_id"])
    assert set(links["structure_uai"]) <= set(tiny.uai_of_structure().values())


def _closing_ids(tiny: Region) -> tuple[set[str], set[str]]:
    """People of the closing year (plus Guests) and the scolarité group ids rentree makes."""
    year, day = tiny.closing, tiny.closing_delivery()
    people = set(tiny.content("users")["external_id"])
    for file_type in ("PersEducNat", "Eleve", "PersRelEleve"):
        people |= set(tiny.records(year, day, file_type))
    uai = tiny.uai_of_structure()
    groups = {
        f"{year}:{u}:{audience}"
        for u in uai.values()
        for audience in ("students", "relatives", "teachers", "staff")
    }
    for rec in tiny.records(year, day, "Eleve").values():
        struct, _, _, code, _ = rec.attrs["ENTPersonClasses"][0].split("$")
        for audience in ("students", "relatives", "teachers"):
            groups.add(f"{year}:{uai[struct]}:{code}:{audience}")
    return people, groups


def test_every_content_reference_resolves(tiny: Region) -> None:
    people, scolarite = _closing_ids(tiny)
    manual = set(tiny.content("groups")["group_id"])
    bookmarks = tiny.content("bookmarks")
    resources = tiny.content("resources")
    assert set(tiny.content("groups")["owner_external_id"]) <= people
    assert set(tiny.content("group_members")["user_external_id"]) <= people
    assert set(bookmarks["owner_external_id"]) <= people
    assert set(resources["owner_external_id"]) <= people
    members = tiny.content("bookmark_members")
    for kind, member in members.select("member_kind", "member_id").iter_rows():
        assert member in (people if kind == "user" else manual | scolarite), (kind, member)
    shares = tiny.content("shares")
    assert set(shares["resource_id"]) <= set(resources["resource_id"])
    targets = {
        "user": people,
        "group": manual | scolarite,
        "bookmark": set(bookmarks["bookmark_id"]),
    }
    for kind, recipient in shares.select("recipient_kind", "recipient_id").iter_rows():
        assert recipient in targets[kind], (kind, recipient)
    assert shares.select("resource_id", "recipient_kind", "recipient_id").is_duplicated().sum() == 0


def test_shares_reach_every_kind_of_recipient_with_every_right(tiny: Region) -> None:
    _, scolarite = _closing_ids(tiny)
    shares = tiny.content("shares")
    manual = set(tiny.content("groups")["group_id"])
    groups = shares.filter(pl.col("recipient_kind") == "group")["recipient_id"]
    assert any(g in scolarite and g.count(":") == 3 for g in groups)  # a class group
    assert any(g in manual for g in groups)
    assert set(shares["recipient_kind"]) == {"user", "group", "bookmark"}
    assert set(shares["rights"]) == {"read", "contrib", "manage"}


def test_bookmarks_hold_people_who_leave_and_closing_year_groups(tiny: Region) -> None:
    _, scolarite = _closing_ids(tiny)
    members = tiny.content("bookmark_members")
    leavers = set(tiny.manifest["staff"]["leavers"]) | set(tiny.manifest["staff"]["late_leavers"])
    closing = _pupils(tiny, tiny.closing, tiny.closing_delivery())
    cm2 = {p for p, (_, lvl, _) in closing.items() if lvl == "CM2"}
    users = set(members.filter(pl.col("member_kind") == "user")["member_id"])
    assert users & leavers and users & cm2
    assert set(members.filter(pl.col("member_kind") == "group")["member_id"]) & scolarite


def test_resources_cover_every_area_with_a_realistic_size_spread(tiny: Region) -> None:
    resources = tiny.content("resources")
    areas = set(resources.select("app", "area").unique().iter_rows())
    assert {("messaging", a) for a in ("inbox", "sent", "trash")} <= areas
    assert {("documents", a) for a in ("own", "apps", "trash")} <= areas
    assert {("blog", "own"), ("notebook", "own")} <= areas
    allowed = {"messaging": {"inbox", "sent", "trash"}, "documents": {"own", "apps", "trash"}}
    for application, area in areas:
        assert area in allowed.get(application, {"own"})
    sizes = resources["size_bytes"]
    assert sizes.min() > 0 and sizes.max() > 200 * sizes.median()
    heavy = tiny.manifest["content"]["heavy_users"]
    per_owner = resources.group_by("owner_external_id").agg(pl.col("size_bytes").sum())
    top = per_owner.sort("size_bytes", descending=True)["owner_external_id"][0]
    assert top in heavy


# -- command line --------------------------------------------------------------------------


def test_cli_generates_and_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    done = runner.invoke(app, ["generate", "--scale", "tiny", "--out", str(out), "--seed", "7"])
    assert done.exit_code == 0, done.output
    assert json.loads((out / "manifest.json").read_text())["seed"] == 7
    refused = runner.invoke(app, ["generate", "--scale", "tiny", "--out", str(out)])
    assert refused.exit_code == 2
    assert "not empty" in refused.output and "Traceback" not in refused.output
    again = runner.invoke(app, ["generate", "--out", str(out), "--replace", "--seed", "8"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "manifest.json").read_text())["seed"] == 8


def test_generator_refuses_a_non_empty_folder_without_touching_it(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(OutputNotEmpty, match="not empty"):
        generate_region("tiny", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
