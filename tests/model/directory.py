"""A reference model of the directory rules, in plain Python (dicts and sets, no SQL).

It says what the directory must hold after each family delivery of a timeline: accounts and
identity links (R1), missing marks (R11), school and class links, classes, relations, and
which files are held and why (R7, R9, order). It is written to be obviously right, not fast:
one record at a time, in the words of domain.md and feeds.md.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

FAMILY = ("Eleve", "PersRelEleve")
TYPES = ("EtabEducNat", *FAMILY)
STAFF_TYPES = ("EtabEducNat", "PersEducNat")  # a staff delivery brings its schools along
# R12: a school's entry levels by its AAF nature (no RPI school in the model's world)
ENTRY_LEVELS = {
    "ECOLE MATERNELLE": {"TPS", "PS"},
    "ECOLE PRIMAIRE": {"TPS", "PS"},
    "ECOLE ELEMENTAIRE": {"CP"},
}


@dataclass(frozen=True)
class Pupil:
    """An Eleve record (add or modify: the whole pupil; delete: the id only)."""

    op: str
    feed_id: str
    ine: str = ""
    first: str = ""
    last: str = ""
    level: str = ""
    school: str = ""  # UAI
    class_code: str = ""
    relatives: tuple[str, ...] = ()
    born: str = ""


@dataclass(frozen=True)
class Relative:
    op: str
    feed_id: str
    first: str = ""
    last: str = ""


@dataclass(frozen=True)
class StaffMember(Relative):
    """A PersEducNat record of a teacher (delete: the id only)."""

    schools: tuple[str, ...] = ()  # UAIs


@dataclass(frozen=True)
class Delivery:
    year: str
    day: str  # YYYYMMDD
    complete: bool
    pupils: tuple[Pupil, ...]
    relatives: tuple[Relative, ...]
    staff: tuple[StaffMember, ...] | None = None  # a staff delivery (no family files)

    @property
    def types(self) -> tuple[str, ...]:
        return TYPES if self.staff is None else STAFF_TYPES


@dataclass
class Account:
    profile: str  # Student | Relative
    login: str | None
    ine: str | None
    level: str | None
    missing_since: date | None = None


def login_base(first: str, last: str) -> str:
    """R3: firstname.lastname, lower case, letters only (each part at most 30)."""

    def part(name: str) -> str:
        ascii_name = unicodedata.normalize("NFKD", name.lower())
        letters = "".join(c for c in ascii_name if "a" <= c <= "z")[:30]
        return letters or "x"

    return f"{part(first)}.{part(last)}"


@dataclass
class ModelDirectory:
    accounts: dict[str, Account] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # feed id -> account (R1)
    school_links: set[tuple[str, str]] = field(default_factory=set)  # (account, UAI), feed
    manual_links: set[tuple[str, str]] = field(default_factory=set)  # (account, UAI), by hand
    class_links: set[tuple[str, str, str]] = field(default_factory=set)  # (account, class, year)
    classes: set[str] = field(default_factory=set)
    relations: set[tuple[str, str]] = field(default_factory=set)  # (student, relative)
    frozen: set[str] = field(default_factory=set)
    switched: set[str] = field(default_factory=set)
    years: list[str] = field(default_factory=list)  # the years the directory holds, in order
    newest: dict[tuple[str, str], str] = field(default_factory=dict)  # (year, type) -> day
    held: set[tuple[str, str, str, str]] = field(default_factory=set)  # year, day, type, rule
    # deliveries in landing/ (year, day) -> (delivery, its types still to import)
    landing: dict[tuple[str, str], tuple[Delivery, tuple[str, ...]]] = field(default_factory=dict)
    # deliveries whose family files wait for the switch (R9), in held/
    parked: dict[tuple[str, str], tuple[Delivery, tuple[str, ...]]] = field(default_factory=dict)
    # R10: teacher attachment requests (teacher, class id) kept pending, and those applied
    pending: set[tuple[str, str]] = field(default_factory=set)
    attached: set[tuple[str, str]] = field(default_factory=set)

    # -- the timeline ---------------------------------------------------------------------

    def freeze(self, year: str, successor: str) -> None:
        self.frozen.add(year)
        for y in (year, successor):
            if y not in self.years:
                self.years.append(y)

    def switch(self, year: str) -> None:
        self.switched.add(year)

    def land(self, delivery: Delivery) -> None:
        self.landing[(delivery.year, delivery.day)] = (delivery, delivery.types)

    def import_pending(self, year: str, today: date) -> None:
        """The family import of a year: R9 holds end once switched (their files land again),
        then every landing delivery is imported in extraction-date order."""
        if year not in self.years:
            self.years.append(year)
        if year in self.switched:
            for key in [k for k in self.parked if k[0] == year]:
                delivery, types = self.parked.pop(key)
                self.held -= {(year, key[1], t, "R9") for t in types}
                self.landing[key] = (delivery, types)
        for key in sorted(k for k in self.landing if k[0] == year):
            delivery, types = self.landing.pop(key)
            self._import(delivery, types, today)

    def _route(self, delivery: Delivery, file_type: str) -> str | None:
        """Why a type of a delivery is held (R7, R9, order), or None: it applies."""
        year = delivery.year
        if year in self.frozen:
            return "R7"
        first_year = self.years.index(year) == 0
        if not first_year and file_type in FAMILY and year not in self.switched:
            return "R9"
        newest = self.newest.get((year, file_type))
        if newest is not None and delivery.day < newest:
            return "order"
        return None

    def _import(self, delivery: Delivery, types: tuple[str, ...], today: date) -> None:
        applied: list[str] = []
        waiting: list[str] = []
        for file_type in types:
            rule = self._route(delivery, file_type)
            if rule is None:
                applied.append(file_type)
            else:
                self.held.add((delivery.year, delivery.day, file_type, rule))
                if rule == "R9":
                    waiting.append(file_type)
        if waiting:
            self.parked[(delivery.year, delivery.day)] = (delivery, tuple(waiting))
        for file_type in applied:
            key = (delivery.year, file_type)
            self.newest[key] = max(self.newest.get(key, delivery.day), delivery.day)
        if set(FAMILY) & set(applied):
            self._apply_family(delivery, today, set(applied))
        if "PersEducNat" in applied:
            self._apply_staff(delivery, today)
        if applied:  # R10: every import the year applies decides its pending requests again
            for teacher, class_id in sorted(self.pending):
                if class_id.startswith(f"{delivery.year}:"):
                    self.request_attachment(teacher, class_id)

    # -- one family delivery (feeds.md, domain.md R1, R11) --------------------------------

    def _account_of(self, feed_id: str, profile: str) -> str | None:
        own = self.accounts.get(feed_id)
        if own is not None and own.profile == profile:
            return feed_id
        return self.aliases.get(feed_id)

    def _apply_family(self, delivery: Delivery, today: date, types: set[str]) -> None:
        relatives_alive: set[str] = set()
        if "PersRelEleve" in types:
            seen: set[str] = set()
            for record in delivery.relatives:
                account = self._account_of(record.feed_id, "Relative") or record.feed_id
                seen.add(account)
                if record.op == "delete":
                    self._mark(account, today)
                    continue
                relatives_alive.add(account)
                if account not in self.accounts:
                    self.accounts[account] = Account("Relative", None, None, None)
                self.accounts[account].missing_since = None
            if delivery.complete:
                for account, person in self.accounts.items():
                    if person.profile == "Relative" and account not in seen:
                        self._mark(account, today)
        if "Eleve" in types:
            self._apply_pupils(delivery, today, relatives_alive)
        # a present relative's feed schools are the schools of their children
        schools_of: dict[str, set[str]] = {}
        for student, relative in self.relations:
            for account, uai in self.school_links:
                if account == student:
                    schools_of.setdefault(relative, set()).add(uai)
        for account, person in self.accounts.items():
            if person.profile == "Relative" and person.missing_since is None:
                self.school_links -= {(a, u) for a, u in self.school_links if a == account}
                self.school_links |= {(account, u) for u in schools_of.get(account, set())}

    def _free_login(self, base: str) -> str:
        """R3: the base, or with the smallest free number from 2 on when it is taken."""
        taken = {p.login for p in self.accounts.values() if p.login}
        number = 2
        login = base
        while login in taken:
            login, number = f"{base}{number}", number + 1
        return login

    def _holder(self, ine: str) -> str | None:
        """The account a pupil's INE belongs to (the first by id, were there two)."""
        return min(
            (a for a, p in self.accounts.items() if p.profile == "Student" and p.ine == ine),
            default=None,
        )

    def _apply_pupils(self, delivery: Delivery, today: date, relatives_alive: set[str]) -> None:
        year = delivery.year
        records = list(delivery.pupils)
        spared: set[str] = set()  # accounts neither changed nor marked missing
        # feeds.md: an INE given to two pupils of a delivery rejects every such record
        given = Counter(r.ine for r in records if r.op != "delete")
        twice_given = [r for r in records if r.op != "delete" and given[r.ine] > 1]
        spared |= {self._account_of(r.feed_id, "Student") or r.feed_id for r in twice_given}
        records = [r for r in records if r not in twice_given]
        # R1: by feed id (own or linked), then by INE for a new id
        known = [(r, a) for r in records if (a := self._account_of(r.feed_id, "Student"))]
        named_alive = {a for r, a in known if r.op != "delete"}
        refused: set[str] = set()  # feed ids of records that would merge or duplicate people
        for record, account in known:
            holder = self._holder(record.ine) if record.op != "delete" else None
            if holder is not None and holder != account:  # another pupil's INE
                refused.add(record.feed_id)
                spared |= {account, holder}
                refused |= {r.feed_id for r, a in known if a == holder and r.op != "delete"}
        matched = list(known)
        fresh: list[Pupil] = []
        for record in records:
            if self._account_of(record.feed_id, "Student"):
                continue
            holder = self._holder(record.ine) if record.op == "add" else None
            if holder is None:
                fresh.append(record)
            elif holder in named_alive:  # the INE moved between two ids of the delivery
                refused.add(record.feed_id)
                refused |= {r.feed_id for r, a in known if a == holder and r.op != "delete"}
                spared.add(holder)
            else:
                matched.append((record, holder))
        alive_count = Counter(a for r, a in matched if r.op != "delete")
        for record, account in matched:
            if record.op != "delete" and alive_count[account] > 1:
                refused.add(record.feed_id)  # the same account twice
        alive = {a for r, a in matched if r.op != "delete"}
        spared |= {a for r, a in matched if r.feed_id in refused}
        resolved: list[tuple[Pupil, str]] = []
        for record, account in matched:
            if record.feed_id in refused:
                continue
            if record.feed_id != account and record.feed_id not in self.aliases:
                self.aliases[record.feed_id] = account  # R1: found by INE under a new id
            resolved.append((record, account))
        for record in sorted(fresh, key=lambda r: r.feed_id):  # R3 numbers them in id order
            if record.op == "add":
                login = self._free_login(login_base(record.first, record.last))
                self.accounts[record.feed_id] = Account("Student", login, None, None)
                resolved.append((record, record.feed_id))
        known_relatives = relatives_alive | {
            a for a, p in self.accounts.items() if p.profile == "Relative"
        }
        for record, account in resolved:
            if record.op == "delete":
                if account not in alive:  # a delete of someone present again is dropped
                    self._mark(account, today)
                continue
            person = self.accounts[account]
            person.ine, person.level, person.missing_since = record.ine, record.level, None
            self.school_links = {(a, u) for a, u in self.school_links if a != account}
            self.school_links.add((account, record.school))
            cid = f"{year}:{record.school}:{record.class_code}"
            self.classes.add(cid)
            self.class_links = {
                (a, c, y) for a, c, y in self.class_links if not (a == account and y == year)
            }
            self.class_links.add((account, cid, year))
            named = {self._account_of(r, "Relative") or r for r in record.relatives}
            self.relations = {(s, r) for s, r in self.relations if s != account}
            self.relations |= {(account, r) for r in named if r in known_relatives}
        if delivery.complete:
            named = {a for _, a in resolved} | spared
            for account, person in self.accounts.items():
                if person.profile == "Student" and account not in named:
                    self._mark(account, today)

    # -- one staff delivery (R8, R11) ------------------------------------------------------

    def _apply_staff(self, delivery: Delivery, today: date) -> None:
        """Teachers get the schools their record names and leave the others (feed links
        only: a link made by hand stays, and gets no feed twin); no class link is made."""
        seen: set[str] = set()
        for record in delivery.staff or ():
            seen.add(record.feed_id)
            if record.op == "delete":
                self._mark(record.feed_id, today)
                continue
            if record.feed_id not in self.accounts:
                if record.op != "add":
                    continue
                self.accounts[record.feed_id] = Account("Teacher", None, None, None)
            self.accounts[record.feed_id].missing_since = None
            self.school_links = {(a, u) for a, u in self.school_links if a != record.feed_id}
            self.school_links |= {(record.feed_id, u) for u in record.schools} - self.manual_links
        if delivery.complete:
            for account, person in self.accounts.items():
                if person.profile == "Teacher" and account not in seen:
                    self._mark(account, today)

    # -- teacher attachments (R10) --------------------------------------------------------

    def request_attachment(self, teacher: str, class_id: str) -> None:
        """Attached once a present pupil of the class is in the ENT, else kept pending."""
        has_pupil = any(
            c == class_id
            and self.accounts[a].profile == "Student"
            and self.accounts[a].missing_since is None
            for a, c, _ in self.class_links
        )
        present = self.accounts[teacher].missing_since is None
        if (teacher, class_id) in self.attached or (has_pupil and present):
            self.attached.add((teacher, class_id))
            self.pending.discard((teacher, class_id))
        else:
            self.pending.add((teacher, class_id))

    # -- the late-entry watch (R12) --------------------------------------------------------

    def late_entries(self, year: str, natures: dict[str, str]) -> set[tuple[str, str]]:
        """(UAI, level) on the watch: an entry level of the school that a class of last year
        had, while the school has present pupils this year but none of that level."""
        start = int(year[:4])
        last_year = f"{start - 1}-{start}"
        had = set()
        for cid in self.classes:
            class_year, uai, code = cid.split(":")
            level = code.split("-")[0]  # the world's class codes start with their level
            if class_year == last_year and level in ENTRY_LEVELS[natures[uai]]:
                had.add((uai, level))
        present = set()
        for account, cid, class_year in self.class_links:
            person = self.accounts[account]
            if class_year == year and person.profile == "Student" and not person.missing_since:
                present.add((cid.split(":")[1], person.level))
        schools = {uai for uai, _ in present}
        return {(uai, level) for uai, level in had if uai in schools} - present

    def _mark(self, account: str, today: date) -> None:
        person = self.accounts.get(account)
        if person is not None and person.missing_since is None:
            person.missing_since = today
