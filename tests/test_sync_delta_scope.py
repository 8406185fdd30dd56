"""A Delta planned on the part of the directory its records can touch (`tasks.sync.scope`)
makes exactly the change set planned on the whole directory: staff links made and removed by
hand between deliveries, and random Delta deliveries (pupils
added, re-registered under a new id, moved between schools and classes, given other
relatives, renamed, deleted; relatives added, changed, deleted; staff hired, moved, made
directors, changed profile, deleted; rejected records) onto a directory the engine built,
on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, select
from sync_frames import NEW, deleted, delivery, modified, relative, school, staff, student

from rentree.infra import schema
from rentree.infra.db import truncate_all
from rentree.tasks.intake.stage import StagedDelivery
from rentree.tasks.sync.apply import apply_change_set
from rentree.tasks.sync.changeset import KINDS, ChangeSet
from rentree.tasks.sync.directory import read_directory
from rentree.tasks.sync.plan import plan_delivery
from rentree.tasks.sync.scope import read_delta_scope

NOW = datetime(2024, 9, 5, 2, 0, tzinfo=UTC)
FIRST_DAY = date(2024, 9, 2)
# (structure id, UAI, type, RPI): two schools of one RPI, whose final level is their highest
SCHOOLS = [
    ("SA", "0590001A", "primaire", None),
    ("SB", "0590002B", "maternelle", None),
    ("SC", "0590003C", "elementaire", "RPI-1"),
    ("SD", "0590004D", "primaire", "RPI-1"),
]
CODES = ("A", "B")
LEVELS = ("MS", "GS", "CP", "CE1", "CM1", "CM2")
# few names: new pupils' logins collide with the directory's and with each other
NAMES = (("Léa", "Martin"), ("Léa", "Martin"), ("Hugo", "Petit"), ("Inès", "Roux"))


@dataclass
class World:
    """What the academy's register holds, to write records about it."""

    pupils: dict[str, dict[str, Any]] = field(default_factory=dict)
    relatives: dict[str, dict[str, Any]] = field(default_factory=dict)
    staff: dict[str, dict[str, Any]] = field(default_factory=dict)
    serial: int = 0

    def new_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial:03d}"


def pupil_record(pid: str, p: dict[str, Any]) -> dict[str, Any]:
    sid = SCHOOLS[p["school"]][0]
    first, last = p["name"]
    return student(pid, p["ine"], last, first, sid, p["code"], p["level"], relatives=p["relatives"])


def relative_record(rid: str, r: dict[str, Any]) -> dict[str, Any]:
    return relative(rid, r["last"], "Anne", email=r["email"])


def staff_record(tid: str, t: dict[str, Any]) -> dict[str, Any]:
    sids = [SCHOOLS[i][0] for i in t["schools"]]
    directed = [SCHOOLS[i][0] for i in t["director_of"]]
    return staff(tid, t["last"], "Paul", sids, director_of=directed, teacher=t["teacher"])


def pupil_values(draw: Any, world: World) -> dict[str, Any]:
    return {
        "ine": f"{world.serial:09d}AB",
        "name": draw(st.sampled_from(NAMES)),
        "school": draw(st.integers(0, len(SCHOOLS) - 1)),
        "code": draw(st.sampled_from(CODES)),
        "level": draw(st.sampled_from(LEVELS)),
        "relatives": draw(
            st.lists(st.sampled_from(sorted(world.relatives)), max_size=2, unique=True)
        )
        if world.relatives
        else [],
    }


def build(engine: Engine) -> tuple[World, date]:
    """A Complet of the new year: four schools, pupils with relatives, staff."""
    world = World()
    for _ in range(6):
        rid = world.new_id("R")
        world.relatives[rid] = {"last": rid, "email": f"{rid.lower()}@example.org"}
    for n in range(12):
        pid = world.new_id("E")
        world.pupils[pid] = {
            "ine": f"{world.serial:09d}AB",
            "name": NAMES[n % len(NAMES)],
            "school": n % len(SCHOOLS),
            "code": CODES[n % 2],
            "level": LEVELS[n % len(LEVELS)],
            "relatives": [sorted(world.relatives)[n % 6]],
        }
    for n in range(4):
        tid = world.new_id("P")
        world.staff[tid] = {
            "last": tid,
            "schools": (n % 4,),
            "director_of": (n % 4,) if n < 2 else (),
            "teacher": n != 3,
        }
    schools = [{**school(s, u, kind=k), "rpi": r} for s, u, k, r in SCHOOLS]
    staged = delivery(
        NEW,
        FIRST_DAY,
        {
            "EtabEducNat": schools,
            "PersEducNat": [staff_record(t, v) for t, v in world.staff.items()],
            "Eleve": [pupil_record(p, v) for p, v in world.pupils.items()],
            "PersRelEleve": [relative_record(r, v) for r, v in world.relatives.items()],
        },
    )
    with engine.begin() as conn:
        apply_change_set(conn, plan_delivery(conn, staged, today=FIRST_DAY), "run-base", NOW)
        # accounts made by hand hold logins new pupils' could collide with: a gap in the
        # numbers, a suffix with a leading zero, `base1`
        for guest, login in (("G1", "lea.martin9"), ("G2", "lea.martin07"), ("G3", "hugo.petit1")):
            conn.execute(
                insert(schema.users).values(
                    external_id=guest,
                    profile="Guest",
                    source="manual",
                    identity="local",
                    login=login,
                    first_name="Léa",
                    last_name="Martin",
                    activation_state="pending",
                )
            )
    return world, FIRST_DAY


@st.composite
def delta(draw: Any, world: World) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """A Delta about the world (which it updates): records by feed type, rejected ids."""
    records: dict[str, list[dict[str, Any]]] = {"Eleve": [], "PersRelEleve": [], "PersEducNat": []}
    named: set[str] = set()
    for _ in range(draw(st.integers(1, 7))):
        op = draw(
            st.sampled_from(
                (
                    "pupil_add", "pupil_again", "pupil_move", "pupil_class", "pupil_level",
                    "pupil_relatives", "pupil_delete", "relative_add", "relative_change",
                    "relative_delete", "staff_add", "staff_move", "staff_director",
                    "staff_profile", "staff_delete",
                )
            )
        )  # fmt: skip
        family, _, action = op.partition("_")
        pool = {"pupil": world.pupils, "relative": world.relatives, "staff": world.staff}[family]
        free = sorted(set(pool) - named)
        if action not in {"add", "again"} and not free:
            continue
        who = draw(st.sampled_from(free)) if action not in {"add"} else ""
        if op == "pupil_add":
            if draw(st.booleans()):  # a new relative comes with the pupil
                rid = world.new_id("R")
                world.relatives[rid] = {"last": rid, "email": None}
                records["PersRelEleve"].append(relative_record(rid, world.relatives[rid]))
                named.add(rid)
            pid = world.new_id("E")
            world.pupils[pid] = pupil_values(draw, world)
            records["Eleve"].append(pupil_record(pid, world.pupils[pid]))
        elif op == "pupil_again":
            # re-registered under a new id with the same INE, in another school
            pid = world.new_id("E")
            world.pupils[pid] = {**world.pupils.pop(who), "school": draw(st.integers(0, 3))}
            records["Eleve"].append(pupil_record(pid, world.pupils[pid]))
        elif op in {"pupil_move", "pupil_class", "pupil_level", "pupil_relatives"}:
            p = world.pupils[who]
            if op == "pupil_move":
                p["school"], p["code"] = draw(st.integers(0, 3)), draw(st.sampled_from(CODES))
                attrs = ("ENTPersonStructRattach", "ENTPersonClasses")
            elif op == "pupil_class":
                p["code"] = draw(st.sampled_from(CODES))
                attrs = ("ENTPersonClasses",)
            elif op == "pupil_level":
                p["level"] = draw(st.sampled_from(LEVELS))
                attrs = ("ENTEleveNiveau",)
            else:
                p["relatives"] = pupil_values(draw, world)["relatives"]
                attrs = ("ENTEleveAutoriteParentale",)
            records["Eleve"].append(modified(pupil_record(who, p), *attrs))
        elif op == "pupil_delete":
            world.pupils.pop(who)
            records["Eleve"].append(deleted(who))
        elif op == "relative_add":
            rid = world.new_id("R")
            world.relatives[rid] = {"last": rid, "email": None}
            records["PersRelEleve"].append(relative_record(rid, world.relatives[rid]))
            who = rid
        elif op == "relative_change":
            world.relatives[who]["email"] = f"{world.new_id('m')}@example.org"
            change = modified(relative_record(who, world.relatives[who]), "ENTPersonMail")
            records["PersRelEleve"].append(change)
        elif op == "relative_delete":
            world.relatives.pop(who)
            records["PersRelEleve"].append(deleted(who))
        elif op == "staff_add":
            tid = world.new_id("P")
            world.staff[tid] = {
                "last": tid,
                "schools": tuple(draw(st.sets(st.integers(0, 3), min_size=1, max_size=2))),
                "director_of": (),
                "teacher": draw(st.booleans()),
            }
            records["PersEducNat"].append(staff_record(tid, world.staff[tid]))
            who = tid
        elif op in {"staff_move", "staff_director", "staff_profile"}:
            t = world.staff[who]
            if op == "staff_move":
                t["schools"] = tuple(draw(st.sets(st.integers(0, 3), min_size=1, max_size=2)))
                attrs = ("ENTPersonStructRattach",)
            elif op == "staff_director":
                t["director_of"] = t["schools"][:1] if not t["director_of"] else ()
                attrs = ("ENTEnsFonctionDir",)
            else:
                t["teacher"] = not t["teacher"]
                attrs = ("ENTPersonCategorieEnseignant",)
            records["PersEducNat"].append(modified(staff_record(who, t), *attrs))
        else:
            world.staff.pop(who)
            records["PersEducNat"].append(deleted(who))
        named.add(who)
    # a pupil whose record validation rejected: neither updated nor marked missing
    others = sorted(set(world.pupils) - named)
    rejected = draw(st.lists(st.sampled_from(others), max_size=1)) if others else []
    return {t: r for t, r in records.items() if r}, rejected


def by_hand(engine: Engine, account: str, school_index: int) -> None:
    """An operator's link of a staff member to a school (a content import): made if there
    is none, removed if it was made by hand; the next plan puts them in the school's group."""
    uai = SCHOOLS[school_index][1]
    us = schema.user_structures
    mine = (us.c.user_external_id == account) & (us.c.structure_uai == uai)
    with engine.begin() as conn:
        source = conn.execute(select(us.c.source).where(mine)).scalar()
        if source is None:
            conn.execute(
                insert(us).values(
                    user_external_id=account, structure_uai=uai, source="manual", director=False
                )
            )
        elif source == "manual":
            conn.execute(delete(us).where(mine))


def comparable(cs: ChangeSet) -> dict[str, list[str]]:
    """Every frame of a change set as sorted rows (activation codes are random)."""
    frames = {kind: getattr(cs, kind) for kind in KINDS} | {"refused": cs.refused}
    return {
        kind: sorted(repr(row) for row in frame.drop("activation_code", strict=False).rows())
        for kind, frame in frames.items()
    }


def plan_both(engine: Engine, staged: StagedDelivery, today: date) -> ChangeSet:
    """The scoped plan, checked against the plan on the whole directory."""
    with engine.connect() as conn:
        whole = plan_delivery(conn, staged, today=today, whole_directory=True)
        scoped = plan_delivery(conn, staged, today=today)
    expected, found = comparable(whole), comparable(scoped)
    differing = {k: (found[k], expected[k]) for k in expected if found[k] != expected[k]}
    assert not differing, differing
    return scoped


@settings(
    max_examples=int(os.environ.get("RENTREE_SCOPE_EXAMPLES", "4")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    phases=(Phase.explicit, Phase.generate),
)
@given(data=st.data())
def test_a_delta_plans_the_same_changes_from_its_part_of_the_directory(
    engine: Engine, data: st.DataObject
) -> None:
    with engine.begin() as conn:
        truncate_all(conn)
    world, day = build(engine)
    for step in range(3):
        if world.staff and data.draw(st.booleans(), label=f"link by hand {step}"):
            by_hand(
                engine,
                data.draw(st.sampled_from(sorted(world.staff))),
                data.draw(st.integers(0, 3)),
            )
        records, rejected = data.draw(delta(world), label=f"delta {step}")
        if not records:
            continue
        day += timedelta(days=1)
        staged = delivery(NEW, day, records, mode="Delta", rejected=rejected)
        scoped = plan_both(engine, staged, day)
        with engine.begin() as conn:
            apply_change_set(conn, scoped, f"run-{step}", NOW)


def test_a_staff_delta_reads_its_staff_and_not_the_families(engine: Engine) -> None:
    """What a Delta's plan reads follows its records: a teacher moving school reads that
    teacher's rows, the structures and the year's school groups, no pupil, relative or login."""
    world, day = build(engine)
    moving = sorted(world.staff)[0]
    teacher = {**world.staff[moving], "schools": (2,)}
    staged = delivery(
        NEW,
        day + timedelta(days=1),
        {"PersEducNat": [modified(staff_record(moving, teacher), "ENTPersonStructRattach")]},
        mode="Delta",
    )
    with engine.connect() as conn:
        scope = read_delta_scope(conn, NEW, staged.frames, [])
        whole = read_directory(conn, NEW)
    part = scope.directory
    assert part.users["external_id"].to_list() == [moving]
    assert set(part.structure_links["user_external_id"]) == {moving}
    assert set(part.group_members["user_external_id"]) == {moving}
    assert part.relations.is_empty() and part.logins.is_empty()
    assert part.structures.equals(whole.structures)
    assert whole.users.height > 20 and whole.logins.len() > 10
