"""The model-based test of the directory rules: random timelines (Complet and Delta family
and staff deliveries; pupils arriving, moving school and class, leaving, coming back,
re-registered with a new id; teachers hired, moving school, leaving, linked by hand; teacher
attachment requests; freezes and switches; re-runs, files sent again, older deliveries after
newer ones)
driven through the real engine on SQLite and PostgreSQL, the directory compared with the
reference model after every step. `make soak` runs it for a long time (RENTREE_SOAK_SECONDS)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy import Engine

from rentree.infra.db import truncate_all
from rentree.infra.engine import make_engine
from rentree.infra.migrate import upgrade
from tests.model.machine import CLOSING, NEW, DirectoryMachine, Figures, engine_view
from tests.model.world import UAI_OF

SOAK_SECONDS = float(os.environ.get("RENTREE_SOAK_SECONDS", "0"))
QUICK = settings(
    max_examples=int(os.environ.get("RENTREE_MODEL_EXAMPLES", "3")),
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def fresh_engines(
    request: pytest.FixtureRequest, engine: Engine, tmp_path: Path
) -> Iterator[Callable[[], tuple[Engine, Callable[[], None]]]]:
    """A maker of empty directories: SQLite files copied from one migrated template, or the
    PostgreSQL test database emptied."""
    if engine.dialect.name == "sqlite":
        template = tmp_path / "template.db"
        made = make_engine(f"sqlite:///{template}")
        upgrade(made)
        made.dispose()
        count = iter(range(10**9))

        def sqlite_engine() -> tuple[Engine, Callable[[], None]]:
            path = tmp_path / f"timeline-{next(count)}.db"
            shutil.copyfile(template, path)
            fresh = make_engine(f"sqlite:///{path}")

            def cleanup() -> None:
                fresh.dispose()
                path.unlink(missing_ok=True)

            return fresh, cleanup

        yield sqlite_engine
    else:

        def postgres_engine() -> tuple[Engine, Callable[[], None]]:
            with engine.begin() as conn:
                truncate_all(conn)
            return engine, lambda: None

        yield postgres_engine


def test_the_directory_follows_the_model(
    fresh_engines: Callable[[], tuple[Engine, Callable[[], None]]],
) -> None:
    DirectoryMachine.fresh_engine = staticmethod(fresh_engines)  # type: ignore[assignment]
    run_state_machine_as_test(DirectoryMachine, settings=QUICK)


@pytest.mark.skipif(not SOAK_SECONDS, reason="the soak runs with RENTREE_SOAK_SECONDS set")
def test_soak_the_model(
    fresh_engines: Callable[[], tuple[Engine, Callable[[], None]]],
) -> None:
    """Batches of random timelines until the time is up; prints what was checked."""
    DirectoryMachine.fresh_engine = staticmethod(fresh_engines)  # type: ignore[assignment]
    soak = settings(
        max_examples=3, stateful_step_count=30, deadline=None,
        suppress_health_check=list(HealthCheck), database=None,
    )  # fmt: skip
    Figures.timelines = Figures.steps = 0
    end = time.monotonic() + SOAK_SECONDS
    while time.monotonic() < end:
        run_state_machine_as_test(DirectoryMachine, settings=soak)
    print(f"\nsoak: {Figures.timelines} timelines, {Figures.steps} steps checked "
          f"in {SOAK_SECONDS:.0f} s")  # fmt: skip


def replay(
    fresh: Callable[[], tuple[Engine, Callable[[], None]]],
    steps: list[tuple[str, dict[str, object]]],
) -> None:
    """One timeline, step by step, checked after each step as the machine does."""
    DirectoryMachine.fresh_engine = staticmethod(fresh)  # type: ignore[assignment]
    machine = DirectoryMachine()
    try:
        machine.directory_matches_the_model()
        for name, arguments in steps:
            getattr(machine, name)(**arguments)
            machine.directory_matches_the_model()
    finally:
        machine.teardown()


def test_empty_files_of_a_frozen_year_are_each_held(
    fresh_engines: Callable[[], tuple[Engine, Callable[[], None]]],
) -> None:
    """Found by the model: an empty register sent, the year frozen, an empty closing-year
    delivery held (R7): every file is recorded as held (the timeline's files differ by their
    header, as real files do; see tests.model.world.aaf_files)."""
    replay(fresh_engines, [("deliver_delta", {}), ("freeze", {}), ("deliver_closing_year", {})])


def test_a_missing_entry_level_is_watched_until_its_pupils_arrive(
    fresh_engines: Callable[[], tuple[Engine, Callable[[], None]]],
) -> None:
    """R12 on a timeline: last year's CP of the élémentaire and PS of the maternelle move up,
    no new CP or PS is registered: both are on the watch; CP pupils arrive: CP leaves it."""
    DirectoryMachine.fresh_engine = staticmethod(fresh_engines)  # type: ignore[assignment]
    machine = DirectoryMachine()
    try:
        machine.register.arrive(UAI_OF["S3"], "CP", "A", 2023)
        machine.register.arrive(UAI_OF["S2"], "PS", "A", 2023)
        for step in ("deliver_complete", "freeze", "switch", "deliver_complete"):
            getattr(machine, step)()
            machine.directory_matches_the_model()
        watch = {(NEW, UAI_OF["S2"], "PS"), (NEW, UAI_OF["S3"], "CP")}
        assert engine_view(machine.engine)["late_entries"] == watch
        machine.register.arrive(UAI_OF["S3"], "CP", "B", 2024)
        machine.deliver_delta()
        machine.directory_matches_the_model()
        assert engine_view(machine.engine)["late_entries"] == {(NEW, UAI_OF["S2"], "PS")}
    finally:
        machine.teardown()


def test_a_pending_attachment_is_applied_when_a_pupil_of_the_class_arrives(
    fresh_engines: Callable[[], tuple[Engine, Callable[[], None]]],
) -> None:
    """R10 on a timeline: a teacher asked for a class nobody is in yet waits, pending; the
    next delivery brings a pupil of that class: the import attaches the teacher."""
    DirectoryMachine.fresh_engine = staticmethod(fresh_engines)  # type: ignore[assignment]
    machine = DirectoryMachine()
    try:
        school = UAI_OF["S1"]
        machine.staff.hire((school,))
        machine.deliver_staff(complete=True)
        machine.request_attachment(school, FixedDraws(["P0", "CP", "A"]))
        machine.directory_matches_the_model()
        wanted = ("P0", f"{CLOSING}:{school}:CP-A")
        assert engine_view(machine.engine)["pending"] == {wanted}
        machine.register.arrive(school, "CP", "A", 2023)
        machine.deliver_delta()
        machine.directory_matches_the_model()
        found = engine_view(machine.engine)
        assert (found["pending"], found["attached"]) == (set(), {wanted})
    finally:
        machine.teardown()


class FixedDraws:
    """Stands for Hypothesis's `data` in a written timeline: the given values, in order."""

    def __init__(self, values: list[object]) -> None:
        self.values = iter(values)

    def draw(self, strategy: object) -> object:
        return next(self.values)


def test_staff_follow_the_feed_and_a_link_made_by_hand_stays(
    fresh_engines: Callable[[], tuple[Engine, Callable[[], None]]],
) -> None:
    """R8 on a timeline: a teacher moves school (Delta): attached to the new schools, detached
    from the old one, the school linked by hand stays a manual link without a feed twin; gone
    from a Complet: marked missing (R11), links kept; pupils' links untouched throughout."""
    DirectoryMachine.fresh_engine = staticmethod(fresh_engines)  # type: ignore[assignment]
    machine = DirectoryMachine()
    s1, s2, s3 = UAI_OF["S1"], UAI_OF["S2"], UAI_OF["S3"]
    try:
        machine.register.arrive(s1, "CP", "A", 2023)
        machine.deliver_complete()
        machine.staff.hire((s1,))
        machine.deliver_staff(complete=True)
        machine.link_by_hand(FixedDraws(["P0"]), s2)
        machine.staff.transfer(0, (s2, s3))
        machine.deliver_staff(complete=False)
        machine.directory_matches_the_model()
        found = engine_view(machine.engine)
        assert ("P0", s3) in found["school_links"] and ("P0", s1) not in found["school_links"]
        assert found["manual_links"] == {("P0", s2)} and ("P0", s2) not in found["school_links"]
        machine.staff.leave(0)
        machine.deliver_staff(complete=True)
        machine.directory_matches_the_model()
        found = engine_view(machine.engine)
        assert found["users"]["P0"][-1] is not None and ("P0", s3) in found["school_links"]
        assert ("E0", s1) in found["school_links"]
    finally:
        machine.teardown()
