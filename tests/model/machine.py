"""The model-based test's state machine: random timelines driven through the real engine
(landing files, `import_pending`, freeze, switch) and compared after each step with the
reference model (`tests.model.directory`)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import Engine, Select, insert, select

from rentree.infra import schema
from rentree.infra.naming import landing_key
from rentree.infra.settings import Settings
from rentree.infra.storage import LocalStore
from rentree.tasks.imports.outcome import FAMILY_IMPORT_TYPES, STAFF_TYPES
from rentree.tasks.imports.pending import import_pending
from rentree.tasks.rules.attachments.apply import request_attachments
from rentree.tasks.rules.years import freeze_year, record_onde_switch
from tests.model.directory import Delivery, ModelDirectory
from tests.model.world import (
    CODES,
    LEVELS_OF,
    SCHOOLS,
    Entry,
    Register,
    Staff,
    Teacher,
    aaf_files,
    delivery_of,
    staff_delivery_of,
)  # fmt: skip

CLOSING, NEW = "2023-2024", "2024-2025"
START = {CLOSING: date(2023, 9, 4), NEW: date(2024, 9, 2)}
# thresholds out of reach: the model says nothing of deliveries held for approval
# and no share of invalid records rejects a delivery (a tiny register makes any share large)
SETTINGS = Settings(
    database_url="sqlite://",
    storage_url="unused",
    hold_school_min_people=10**6,
    invalid_record_ratio=1.0,
)
UAIS = [uai for _, uai, _, _ in SCHOOLS]
NATURES = {uai: nature for _, uai, nature, _ in SCHOOLS}
SCHOOL_SETS = st.lists(st.sampled_from(UAIS), min_size=1, max_size=2, unique=True).map(tuple)


class Figures:
    """What a run checked, for the soak's report."""

    timelines = 0
    steps = 0
    outcomes: ClassVar[dict[str, int]] = {}


class DirectoryMachine(RuleBasedStateMachine):
    """One timeline: a fresh directory, a register of pupils and the model beside them."""

    # set by the test: a fresh, migrated, empty database for each timeline, and its cleanup
    fresh_engine: ClassVar[Callable[[], tuple[Engine, Callable[[], None]]]]

    def __init__(self) -> None:
        super().__init__()
        self.engine, self.cleanup = type(self).fresh_engine()
        self.folder = Path(tempfile.mkdtemp(prefix="rentree-model-"))
        self.store = LocalStore(self.folder / "storage")
        self.store.ensure_layout()
        self.model = ModelDirectory()
        self.staff = Staff()
        self.staff_base: dict[int, Teacher] | None = None  # the staff as last delivered
        self.register = Register()
        self.phase = 0  # 0 closing year open, 1 frozen, 2 new year switched
        self.days: dict[str, set[int]] = {CLOSING: set(), NEW: set()}
        self.base: dict[int, Entry] | None = None  # the register as last delivered
        self.applied_files: list[tuple[str, str, bytes]] = []
        self.clock = datetime(2023, 9, 5, 2, 0, tzinfo=UTC)
        Figures.timelines += 1

    def teardown(self) -> None:
        self.cleanup()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the register changes -------------------------------------------------------------

    @property
    def year(self) -> str:
        return CLOSING if self.phase == 0 else NEW

    @rule(school=st.sampled_from(UAIS), data=st.data(), count=st.integers(1, 3))
    def arrive(self, school: str, data: st.DataObject, count: int) -> None:
        for _ in range(count):
            level = data.draw(st.sampled_from(LEVELS_OF[school]))
            code = data.draw(st.sampled_from(CODES))
            self.register.arrive(school, level, code, START[self.year].year)

    @precondition(lambda self: self.register.present)
    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(self.register.present)))
        school = data.draw(st.sampled_from(UAIS))
        level = data.draw(st.sampled_from(LEVELS_OF[school]))
        self.register.move(number, school, level, data.draw(st.sampled_from(CODES)))

    @precondition(lambda self: self.register.present)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        self.register.leave(data.draw(st.sampled_from(sorted(self.register.present))))

    @precondition(lambda self: set(self.register.known) - set(self.register.present))
    @rule(data=st.data(), new_id=st.booleans())
    def come_back(self, data: st.DataObject, new_id: bool) -> None:
        gone = sorted(set(self.register.known) - set(self.register.present))
        self.register.come_back(data.draw(st.sampled_from(gone)), new_id)

    @precondition(lambda self: len(self.register.known) > 1 and self.register.present)
    @rule(data=st.data())
    def mistype_ine(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(self.register.present)))
        other = data.draw(st.sampled_from(sorted(set(self.register.known) - {number})))
        self.register.mistype_ine(number, other)

    @precondition(lambda self: any(e.wrong_ine for e in self.register.present.values()))
    @rule(data=st.data())
    def correct_ine(self, data: st.DataObject) -> None:
        wrong = sorted(n for n, e in self.register.present.items() if e.wrong_ine)
        self.register.correct_ine(data.draw(st.sampled_from(wrong)))

    # -- the staff changes (R8) ----------------------------------------------------------

    @rule(schools=SCHOOL_SETS)
    def hire(self, schools: tuple[str, ...]) -> None:
        self.staff.hire(schools)

    @precondition(lambda self: self.staff.present)
    @rule(data=st.data(), schools=SCHOOL_SETS)
    def transfer(self, data: st.DataObject, schools: tuple[str, ...]) -> None:
        self.staff.transfer(data.draw(st.sampled_from(sorted(self.staff.present))), schools)

    @precondition(lambda self: self.staff.present)
    @rule(data=st.data())
    def staff_leave(self, data: st.DataObject) -> None:
        self.staff.leave(data.draw(st.sampled_from(sorted(self.staff.present))))

    @precondition(lambda self: set(self.staff.known) - set(self.staff.present))
    @rule(data=st.data())
    def staff_come_back(self, data: st.DataObject) -> None:
        gone = sorted(set(self.staff.known) - set(self.staff.present))
        self.staff.come_back(data.draw(st.sampled_from(gone)))

    @rule(complete=st.booleans())
    def deliver_staff(self, complete: bool) -> None:
        """The academy sends the staff (PersEducNat, with its schools); the staff import runs."""
        year = self.year
        day = self._day(year, older=False)
        assert day is not None
        base = None if complete else self.staff_base or {}
        self._land(staff_delivery_of(self.staff, base, year, day))
        self.staff_base = dict(self.staff.present)
        self._run(year, STAFF_TYPES)

    @precondition(lambda self: self._teachers())
    @rule(data=st.data(), school=st.sampled_from(UAIS))
    def link_by_hand(self, data: st.DataObject, school: str) -> None:
        """An operator links a teacher to a school by hand (a link the feed never cuts)."""
        teacher = data.draw(st.sampled_from(self._teachers()))
        if (teacher, school) in self.model.school_links | self.model.manual_links:
            return  # linked already, by the feed or by hand
        with self.engine.begin() as conn:
            conn.execute(
                insert(schema.user_structures).values(
                    user_external_id=teacher, structure_uai=school, source="manual"
                )
            )
        self.model.manual_links.add((teacher, school))

    def _teachers(self) -> list[str]:
        return sorted(a for a, p in self.model.accounts.items() if p.profile == "Teacher")

    # -- deliveries and runs --------------------------------------------------------------

    def _day(self, year: str, older: bool) -> str | None:
        used = self.days[year]
        if older:
            free = [d for d in range(max(used, default=0)) if d not in used]
            if not free:
                return None
            offset = free[-1]
        else:
            # two days apart: an older delivery can still come in between
            offset = max(used, default=-1) + 2
        used.add(offset)
        return (START[year] + timedelta(days=offset)).strftime("%Y%m%d")

    def _land(self, delivery: Delivery) -> None:
        for name, content in aaf_files(delivery).items():
            self.store.write_bytes(landing_key(delivery.year, name), content)
            self.applied_files.append((delivery.year, name, content))
        self.model.land(delivery)

    def _run(self, year: str, types: tuple[str, ...] = FAMILY_IMPORT_TYPES) -> None:
        self.clock += timedelta(days=1)
        outcomes = import_pending(
            self.engine, self.store, SETTINGS, year, types,
            run_id=f"run-{Figures.steps}", now=self.clock, today=self.clock.date(),
        )  # fmt: skip
        for outcome in outcomes:
            assert outcome.status in {"applied", "held", "already_applied"}, outcome.reason
            Figures.outcomes[outcome.status] = Figures.outcomes.get(outcome.status, 0) + 1
            if "refused" in outcome.reason:
                Figures.outcomes["with records refused (R1)"] = (
                    Figures.outcomes.get("with records refused (R1)", 0) + 1
                )
        self.model.import_pending(year, self.clock.date())

    @rule()
    def deliver_complete(self) -> None:
        """The academy sends the whole register."""
        self.deliver(complete=True)

    @rule()
    def deliver_delta(self) -> None:
        """The academy sends what changed since the last delivery it sent."""
        self.deliver(complete=False)

    def deliver(self, complete: bool) -> None:
        year = self.year
        day = self._day(year, older=False)
        assert day is not None
        self._land(delivery_of(self.register, None if complete else self.base, year, day))
        self.base = dict(self.register.present)
        self._run(year)

    @precondition(lambda self: self.days[self.year])
    @rule()
    def deliver_older(self) -> None:
        """A Complet extracted before one already sent arrives late: held for good (order)."""
        year = self.year
        day = self._day(year, older=True)
        if day is None:
            return
        self._land(delivery_of(self.register, None, year, day))
        self._run(year)

    @precondition(lambda self: self.phase > 0)
    @rule()
    def deliver_closing_year(self) -> None:
        """A file of the frozen year still arrives: held (R7)."""
        day = self._day(CLOSING, older=False)
        assert day is not None
        self._land(delivery_of(self.register, None, CLOSING, day))
        self._run(CLOSING)

    @precondition(lambda self: self.applied_files)
    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        """A file already applied is sent again (same name, same bytes): nothing changes."""
        year, name, content = data.draw(st.sampled_from(self.applied_files[-3:]))
        if any(h[0] == year and h[1] == name.split("_")[2] for h in self.model.held):
            return  # only files that applied are re-sent here
        self.store.write_bytes(landing_key(year, name), content)
        self._run(year)

    @rule()
    def rerun(self) -> None:
        """The nightly runs again with nothing new."""
        self._run(self.year)

    @precondition(lambda self: self._teachers())
    @rule(school=st.sampled_from(UAIS), data=st.data())
    def request_attachment(self, school: str, data: st.DataObject) -> None:
        """An operator asks for a teacher in a class of the current year, known or not yet
        (R10): attached if a pupil of it is in the ENT, else kept pending."""
        teacher = data.draw(st.sampled_from(self._teachers()))
        level = data.draw(st.sampled_from(LEVELS_OF[school]))
        class_id = f"{self.year}:{school}:{level}-{data.draw(st.sampled_from(CODES))}"
        request = pl.DataFrame({"teacher_external_id": [teacher], "class_external_id": [class_id]})
        with self.engine.begin() as conn:
            result = request_attachments(conn, request, f"run-{Figures.steps}", self.clock)
        assert result.refused.is_empty(), result.refused["reason"].to_list()
        self.model.request_attachment(teacher, class_id)

    @precondition(lambda self: self.phase == 0 and self.days[CLOSING])
    @rule()
    def freeze(self) -> None:
        """End of the closing year (R7); the register rolls over to the new year."""
        with self.engine.begin() as conn:
            freeze_year(conn, CLOSING, self.clock)
        self.model.freeze(CLOSING, NEW)
        self.register.roll_over()
        self.phase = 1

    @precondition(lambda self: self.phase == 1)
    @rule()
    def switch(self) -> None:
        """The ONDE switch (R9): held family files of the new year are imported."""
        with self.engine.begin() as conn:
            record_onde_switch(conn, NEW, "detected", self.clock)
        self.model.switch(NEW)
        self.phase = 2
        self._run(NEW)

    # -- the check ------------------------------------------------------------------------

    @invariant()
    def directory_matches_the_model(self) -> None:
        Figures.steps += 1
        found, expected = engine_view(self.engine), model_view(self.model)
        assert found == expected, differences(found, expected)


def differences(found: dict[str, Any], expected: dict[str, Any]) -> str:
    """What differs, part by part: (engine only, model only)."""
    lines = []
    for part in expected:
        a, b = found[part], expected[part]
        if a == b:
            continue
        if isinstance(a, dict):
            keys = sorted(set(a) | set(b), key=str)
            diff = {k: (a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)}
            lines.append(f"{part}: engine vs model {diff}")
        else:
            lines.append(f"{part}: engine only {sorted(a - b)}; model only {sorted(b - a)}")
    return "\n".join(lines)


def model_view(model: ModelDirectory) -> dict[str, Any]:
    return {
        "users": {
            a: (p.profile, p.login, p.ine, p.level, p.missing_since)
            for a, p in model.accounts.items()
        },
        "aliases": dict(model.aliases),
        "school_links": set(model.school_links),
        "manual_links": set(model.manual_links),
        "class_links": set(model.class_links),
        "classes": set(model.classes),
        "relations": set(model.relations),
        "held": set(model.held),
        "pending": set(model.pending),
        "attached": set(model.attached),
        "late_entries": {
            (year, *entry) for year in (CLOSING, NEW) for entry in model.late_entries(year, NATURES)
        },
    }


def engine_view(engine: Engine) -> dict[str, Any]:
    u, us, uc = schema.users.c, schema.user_structures.c, schema.user_classes.c
    f, late, pending = schema.feed_files.c, schema.late_entries.c, schema.pending_attachments.c
    ids, relations = schema.user_feed_ids.c, schema.relations.c
    with engine.connect() as conn:

        def rows(query: Select[Any]) -> set[tuple[Any, ...]]:
            return {tuple(r) for r in conn.execute(query)}

        users = rows(select(u.external_id, u.profile, u.login, u.ine, u.level, u.missing_since))
        held = rows(
            select(f.school_year, f.extraction_date, f.file_type, f.held_rule).where(
                f.status == "held"
            )
        )
        return {
            "users": {r[0]: r[1:] for r in users},
            "aliases": dict(rows(select(ids.feed_external_id, ids.user_external_id))),
            "school_links": rows(
                select(us.user_external_id, us.structure_uai).where(us.source == "feed")
            ),
            "manual_links": rows(
                select(us.user_external_id, us.structure_uai).where(us.source == "manual")
            ),
            "class_links": rows(
                select(uc.user_external_id, uc.class_external_id, uc.school_year).where(
                    uc.source == "feed"
                )
            ),
            "classes": set(conn.scalars(select(schema.classes.c.external_id))),
            "relations": rows(
                select(relations.student_external_id, relations.relative_external_id)
            ),
            "held": {(r[0], _day(r[1]), r[2], r[3]) for r in held},
            "pending": rows(select(pending.teacher_external_id, pending.class_external_id)),
            "attached": rows(
                select(uc.user_external_id, uc.class_external_id).where(uc.source == "manual")
            ),
            "late_entries": rows(
                select(late.school_year, late.structure_uai, late.level).where(
                    late.resolved_at.is_(None)
                )
            ),
        }


def _day(value: date | str) -> str:
    return value.strftime("%Y%m%d") if isinstance(value, date) else value.replace("-", "")[:8]
