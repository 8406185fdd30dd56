"""A retirement run put together without writing: who gets a notice, who is deactivated,
who is retired, the handover of the retired people's productions, the counts per school,
and the reasons to hold it for approval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, func, select

from rentree.infra.frames import select_frame
from rentree.infra.reports import write_report
from rentree.infra.schema import resources, shares, user_structures, users
from rentree.infra.staging import staging_table
from rentree.infra.storage import ObjectStore
from rentree.tasks.rules.holds import REGION_MIN_FACTOR
from rentree.tasks.rules.retirement.eligibility import missing_people, split_stages
from rentree.tasks.rules.retirement.notice import (
    productions_of,
    retirement_notice,
    write_retirement_notice,
)
from rentree.tasks.rules.retirement.rules import RetirementRules

DEACTIVATION_REPORT = "retirement-deactivated"
RETIREMENT_REPORT = "retirement-retired"
HANDOVER_REPORT = "retirement-handover"
HANDOVER_OWNERS_REPORT = "retirement-handover-owners"
SCHOOLS_REPORT = "retirement-per-school"

STEPS = ("to_notice", "waiting", "to_deactivate", "deactivated", "to_retire")
PERSON_COLUMNS = (
    "external_id", "profile", "login", "first_name", "last_name", "structure_uai",
    "missing_since", "noticed_at", "deactivated_at",
)  # fmt: skip

_HANDOVER_SCHEMA: dict[str, Any] = {
    "owner_external_id": pl.String,
    "resource_id": pl.String,
    "app": pl.String,
    "area": pl.String,
    "size_bytes": pl.Int64,
    "shared_with_kind": pl.String,
    "shared_with_id": pl.String,
    "rights": pl.String,
}


@dataclass(frozen=True)
class RetirementPlan:
    """What a run would do on `today`. `people[step]` holds one row per person and school
    for each step of `eligibility.split_stages`; `notice` is the notice about the
    `to_notice` people; `handover` lists, per retired owner, each production and each
    share of it (R4: nothing of it is deleted)."""

    school_year: str | None
    today: date
    rules: RetirementRules
    people: dict[str, pl.DataFrame]
    notice: pl.DataFrame
    handover: pl.DataFrame
    per_school: pl.DataFrame

    def ids(self, step: str) -> pl.DataFrame:
        return self.people[step].select("external_id").unique().sort("external_id")

    def count(self, step: str) -> int:
        return self.people[step]["external_id"].n_unique()

    @property
    def changes(self) -> int:
        """Accounts this run changes (deactivated or retired); notices change no account."""
        return self.count("to_deactivate") + self.count("to_retire")

    def summary(self) -> dict[str, Any]:
        """JSON-able figures for holds, artifacts and the run's summary."""
        return {
            "today": self.today.isoformat(),
            "notices": self.count("to_notice"),
            "notice_rows": self.notice.height,
            "waiting_notice_period": self.count("waiting"),
            "deactivations": self.count("to_deactivate"),
            "deactivated_waiting": self.count("deactivated"),
            "retirements": self.count("to_retire"),
            "productions_to_hand_over": self.handover["resource_id"].n_unique(),
            "kept_manual_link": self.count("kept"),
            "unconfirmed_marks": self.count("unconfirmed"),
            "schools": self.per_school.height,
            "grace_days": {
                "deactivate_after": self.rules.deactivate_after_days,
                "retire_after": self.rules.retire_after_days,
                "notice": self.rules.notice_days,
            },
        }


def _handover(conn: Connection, retiring: pl.DataFrame) -> pl.DataFrame:
    """Each production of the retiring people and each share of it (one row per share, or
    one row without a recipient for a production shared with nobody)."""
    if retiring.is_empty():
        return pl.DataFrame(schema=_HANDOVER_SCHEMA)
    people = staging_table(conn, "retire_handover", retiring, ["external_id"])
    r, s = resources.c, shares.c
    query = (
        select(
            r.owner_external_id,
            r.resource_id,
            r.app,
            r.area,
            r.size_bytes,
            s.recipient_kind,
            s.recipient_id,
            s.rights,
        )
        .select_from(productions_of(people).outerjoin(shares, s.resource_id == r.resource_id))
        .order_by(r.owner_external_id, r.resource_id, s.recipient_kind, s.recipient_id)
    )
    return select_frame(conn, query, _HANDOVER_SCHEMA)


def _per_school(people: dict[str, pl.DataFrame]) -> pl.DataFrame:
    counts = [
        people[step]
        .group_by("structure_uai")
        .agg(pl.col("external_id").n_unique().cast(pl.Int64).alias(step))
        for step in STEPS
    ]
    schools = pl.concat([c.select("structure_uai") for c in counts]).unique()
    for frame in counts:
        schools = schools.join(frame, on="structure_uai", how="left", nulls_equal=True)
    return schools.fill_null(0).sort("structure_uai", nulls_last=True)


def plan_retirement(
    conn: Connection,
    rules: RetirementRules,
    today: date,
    now: datetime,
    school_year: str | None,
) -> RetirementPlan:
    """What a retirement run on `today` (at `now`) would do; reads only."""
    people = split_stages(missing_people(conn, rules, today, school_year), rules, today, now)
    retiring = people["to_retire"].select("external_id").unique()
    return RetirementPlan(
        school_year=school_year,
        today=today,
        rules=rules,
        people=people,
        notice=retirement_notice(conn, people["to_notice"], today, rules.notice_days),
        handover=_handover(conn, retiring),
        per_school=_per_school(people),
    )


def retirement_hold_reasons(conn: Connection, plan: RetirementPlan) -> list[str]:
    """One sentence per threshold the run crosses: accounts deactivated or retired against
    the school's linked people (schools of at least `school_min_people`), and against the
    region's feed accounts (a region of at least ten times that)."""
    rules = plan.rules
    touched = pl.concat([plan.people["to_deactivate"], plan.people["to_retire"]])
    if touched.is_empty():
        return []
    us = user_structures.c
    population = select_frame(
        conn,
        select(us.structure_uai, func.count(us.user_external_id.distinct())).group_by(
            us.structure_uai
        ),
        {"structure_uai": pl.String, "people": pl.Int64},
    )
    per_school = (
        touched.filter(pl.col("structure_uai").is_not_null())
        .group_by("structure_uai")
        .agg(pl.col("external_id").n_unique().cast(pl.Int64).alias("touched"))
        .join(population, on="structure_uai", how="left")
        .with_columns(pl.col("people").fill_null(0))
        .with_columns((pl.col("touched") / pl.col("people").clip(lower_bound=1)).alias("ratio"))
        .filter(
            (pl.col("people") >= rules.school_min_people) & (pl.col("ratio") > rules.school_ratio)
        )
        .sort("structure_uai")
    )
    reasons = [
        f"School {row['structure_uai']}: {row['touched']} of {row['people']} people "
        f"deactivated or retired ({row['ratio']:.1%}), above the {rules.school_ratio:.0%} "
        "threshold."
        for row in per_school.iter_rows(named=True)
    ]
    region = conn.execute(
        select(func.count()).select_from(users).where(users.c.source == "feed")
    ).scalar_one()
    share = touched["external_id"].n_unique() / max(region, 1)
    if region >= REGION_MIN_FACTOR * rules.school_min_people and share > rules.region_ratio:
        reasons.append(
            f"Region-wide: {touched['external_id'].n_unique()} of {region} people deactivated "
            f"or retired ({share:.1%}), above the {rules.region_ratio:.0%} threshold."
        )
    return reasons


def handover_owners(handover: pl.DataFrame) -> pl.DataFrame:
    """Per retired owner: productions to hand over, their size, and how many shares."""
    return (
        handover.group_by("owner_external_id")
        .agg(
            pl.col("resource_id").n_unique().alias("productions"),
            pl.col("size_bytes").sum().alias("bytes"),
            pl.col("shared_with_id").drop_nulls().len().alias("shares"),
        )
        .sort("owner_external_id")
    )


def write_retirement_plan(store: ObjectStore, prefix: str, plan: RetirementPlan) -> list[str]:
    """The run's reports: notice, people deactivated and retired (no activation code),
    handover per owner, counts per school; returns the keys."""
    keys = write_retirement_notice(store, prefix, plan.notice)
    for name, frame in (
        (DEACTIVATION_REPORT, plan.people["to_deactivate"].select(PERSON_COLUMNS)),
        (RETIREMENT_REPORT, plan.people["to_retire"].select(PERSON_COLUMNS)),
        (HANDOVER_REPORT, plan.handover),
        (HANDOVER_OWNERS_REPORT, handover_owners(plan.handover)),
        (SCHOOLS_REPORT, plan.per_school),
    ):
        written = write_report(store, prefix, name, frame)
        keys += [written.csv_key, written.parquet_key]
    return keys
