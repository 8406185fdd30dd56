"""The pupils' register as ONDE holds it (the truth a timeline changes), and the AAF files of
a delivery of it, Complet or Delta (written with the tests' AAF builders)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tests import aaf_samples as aaf
from tests.model.directory import Delivery, Pupil, Relative, StaffMember

LEVELS = ("TPS", "PS", "MS", "GS", "CP", "CE1", "CE2", "CM1", "CM2")
# (feed id, UAI, AAF nature, levels taught)
SCHOOLS = (
    ("S1", "0590001A", "ECOLE PRIMAIRE", LEVELS),
    ("S2", "0590002B", "ECOLE MATERNELLE", LEVELS[:4]),
    ("S3", "0590003C", "ECOLE ELEMENTAIRE", LEVELS[4:]),
)
UAI_OF = {sid: uai for sid, uai, _, _ in SCHOOLS}
SID_OF = {uai: sid for sid, uai, _, _ in SCHOOLS}
LEVELS_OF = {uai: levels for _, uai, _, levels in SCHOOLS}
CODES = ("A", "B")


def letters(n: int) -> str:
    """A number as letters (names must be letters for the logins, R3)."""
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(ord("a") + r) + out
    return out


@dataclass(frozen=True)
class Entry:
    """One pupil of the register: who (number, INE) under which feed id, where, with whom."""

    number: int
    feed_id: str
    level: str
    uai: str
    code: str
    born: str  # dd/mm/yyyy
    wrong_ine: str | None = None  # an INE typed wrong in ONDE: another pupil's

    @property
    def ine(self) -> str:
        return self.wrong_ine or f"{self.number:010d}A"

    @property
    def relative(self) -> str:
        return f"R{self.number}"

    @property
    def class_code(self) -> str:
        return f"{self.level}-{self.code}"

    def record(self, op: str = "add") -> Pupil:
        return Pupil(
            op, self.feed_id, self.ine, "Eleve", f"Nom{letters(self.number).capitalize()}",
            self.level, self.uai, self.class_code, (self.relative,), self.born,
        )  # fmt: skip


@dataclass
class Register:
    """Who is registered now (by pupil number), and everyone ever registered."""

    present: dict[int, Entry] = field(default_factory=dict)
    known: dict[int, Entry] = field(default_factory=dict)
    renamed: int = 0

    def arrive(self, uai: str, level: str, code: str, start_year: int) -> Entry:
        number = len(self.known)
        age = 2 + LEVELS.index(level)
        entry = Entry(number, f"E{number}", level, uai, code, f"15/03/{start_year - age - 1}")
        self.known[number] = self.present[number] = entry
        return entry

    def move(self, number: int, uai: str, level: str, code: str) -> None:
        self.present[number] = replace(self.present[number], uai=uai, level=level, code=code)

    def leave(self, number: int) -> None:
        self.known[number] = self.present.pop(number)

    def come_back(self, number: int, new_id: bool) -> None:
        entry = self.known[number]
        if new_id:  # re-registered in ONDE: a new feed id, the same INE (R1)
            self.renamed += 1
            entry = replace(entry, feed_id=f"N{self.renamed}")
        self.known[number] = self.present[number] = entry

    def mistype_ine(self, number: int, other: int) -> None:
        """ONDE gives a pupil the INE of another pupil (R1: nobody can tell which is right)."""
        ine = f"{other:010d}A"
        self.known[number] = self.present[number] = replace(self.present[number], wrong_ine=ine)

    def correct_ine(self, number: int) -> None:
        self.known[number] = self.present[number] = replace(self.present[number], wrong_ine=None)

    def roll_over(self) -> None:
        """The new school year: everyone one level up; CM2 leave, GS of a maternelle go on
        to CP at the élémentaire."""
        for number, entry in sorted(self.present.items()):
            if entry.level == "CM2":
                self.leave(number)
                continue
            level = LEVELS[LEVELS.index(entry.level) + 1]
            uai = entry.uai if level in LEVELS_OF[entry.uai] else UAI_OF["S3"]
            self.present[number] = replace(entry, level=level, uai=uai)
            self.known[number] = self.present[number]


@dataclass(frozen=True)
class Teacher:
    """One teacher of the staff feed and the schools they teach in."""

    number: int
    schools: tuple[str, ...]  # UAIs

    def record(self, op: str = "add") -> StaffMember:
        last = f"Prof{letters(self.number).capitalize()}"
        return StaffMember(op, f"P{self.number}", "Enseignant", last, self.schools)


@dataclass
class Staff:
    """Who teaches now (by number), and everyone ever on the staff feed."""

    present: dict[int, Teacher] = field(default_factory=dict)
    known: dict[int, Teacher] = field(default_factory=dict)

    def hire(self, schools: tuple[str, ...]) -> None:
        number = len(self.known)
        self.known[number] = self.present[number] = Teacher(number, schools)

    def transfer(self, number: int, schools: tuple[str, ...]) -> None:
        self.known[number] = self.present[number] = Teacher(number, schools)

    def leave(self, number: int) -> None:
        self.known[number] = self.present.pop(number)

    def come_back(self, number: int) -> None:
        self.present[number] = self.known[number]


def staff_delivery_of(
    staff: Staff, base: dict[int, Teacher] | None, year: str, day: str
) -> Delivery:
    """The staff as a Complet (`base` None) or as a Delta from `base` (as last sent)."""
    if base is None:
        records = tuple(t.record() for _, t in sorted(staff.present.items()))
        return Delivery(year, day, True, (), (), records)
    changed = [
        t.record("add" if n not in base else "modify")
        for n, t in sorted(staff.present.items())
        if base.get(n) != t
    ]
    gone = [base[n].record("delete") for n in sorted(base) if n not in staff.present]
    return Delivery(year, day, False, (), (), (*changed, *gone))


def delivery_of(register: Register, base: dict[int, Entry] | None, year: str, day: str) -> Delivery:
    """The register as a Complet (`base` None) or as a Delta from `base` (the register as the
    last delivery sent): adds for new feed ids, modifies for changed pupils, deletes."""
    present = register.present
    if base is None:
        pupils = tuple(e.record() for _, e in sorted(present.items()))
        relatives = tuple(
            Relative("add", e.relative, "Parent", letters(n)) for n, e in sorted(present.items())
        )
        return Delivery(year, day, True, pupils, relatives)
    by_id = {e.feed_id: e for e in base.values()}
    now_ids = {e.feed_id for e in present.values()}
    records: list[Pupil] = []
    for _, entry in sorted(present.items()):
        before = by_id.get(entry.feed_id)
        if before is None:
            records.append(entry.record("add"))
        elif before != entry:
            records.append(entry.record("modify"))
    records += [Pupil("delete", fid) for fid in sorted(by_id) if fid not in now_ids]
    numbers_now = set(present)
    relatives = [
        Relative("add", present[n].relative, "Parent", letters(n))
        for n in sorted(numbers_now)
        if base.get(n) is None or base[n].feed_id != present[n].feed_id
    ]
    relatives += [
        Relative("delete", base[n].relative) for n in sorted(base) if n not in numbers_now
    ]
    return Delivery(year, day, False, tuple(records), tuple(relatives))


def aaf_files(delivery: Delivery) -> dict[str, bytes]:
    """The delivery's files (name -> bytes); each carries its type and extraction date in a
    header comment, so that no two files share their bytes (the ledger knows a file by its
    content hash: two empty files of two types would be one file to it)."""
    mode = "Complet" if delivery.complete else "Delta"

    def head(file_type: str) -> str:
        comment = f"<!-- {file_type} extraction {delivery.day} -->"
        return aaf.DECLARATION + "\n" + comment + "\n" + aaf.DOCTYPE + "\n"

    schools = [aaf.school(sid, uai, f"École {sid}", kind) for sid, uai, kind, _ in SCHOOLS]
    pupils = []
    for p in delivery.pupils:
        if p.op == "delete":
            pupils.append(aaf.record("Eleve", p.feed_id, operation="delete"))
            continue
        attributes = {
            "ENTEleveINE": p.ine,
            "ENTPersonNom": p.last,
            "ENTPersonPrenom": p.first,
            "ENTPersonDateNaissance": p.born,
            "ENTPersonStructRattach": SID_OF[p.school],
            "ENTPersonClasses": f"{SID_OF[p.school]}$x$y${p.class_code}$Classe {p.class_code}",
            "ENTEleveNiveau": p.level,
            "ENTEleveAutoriteParentale": [f"{r}$1" for r in p.relatives],
        }
        pupils.append(aaf.record("Eleve", p.feed_id, attributes, operation=p.op))
    relatives = [
        aaf.record("PersRelEleve", r.feed_id, operation="delete")
        if r.op == "delete"
        else aaf.relative(r.feed_id, r.last, r.first)
        for r in delivery.relatives
    ]
    files = {aaf.name("EtabEducNat", delivery.day): aaf.document(schools, head=head("EtabEducNat"))}
    if delivery.staff is not None:
        staff = [_staff_record(t) for t in delivery.staff]
        name = aaf.name("PersEducNat", delivery.day, mode=mode)
        return {**files, name: aaf.document(staff, head=head("PersEducNat"))}
    return {
        **files,
        aaf.name("Eleve", delivery.day, mode=mode): aaf.document(pupils, head=head("Eleve")),
        aaf.name("PersRelEleve", delivery.day, mode=mode): aaf.document(
            relatives, head=head("PersRelEleve")
        ),
    }


def _staff_record(teacher: StaffMember) -> str:
    if teacher.op == "delete":
        return aaf.record("PersEducNat", teacher.feed_id, operation="delete")
    sids = [SID_OF[uai] for uai in teacher.schools]
    attributes = {
        "ENTPersonNom": teacher.last,
        "ENTPersonPrenom": teacher.first,
        "ENTPersonDateNaissance": "12/03/1980",
        "ENTPersonStructRattach": sids,
        "ENTPersonFonctions": [f"{sid}$ENS$ENSEIGNEMENT$$" for sid in sids],
    }
    return aaf.record("PersEducNat", teacher.feed_id, attributes, operation=teacher.op)
