"""Holds ("mises en attente"): a delivery or a share purge that crosses a threshold waits for
an operator's approval or rejection, nothing of it applied (operations.md).

Delivery thresholds are computed on the unexpected newly-missing people: those a complete
delivery would mark missing (R11) beyond the expected leavers (last year's final level of
each school, and the relatives whose children all leave). Per school, for students and for
staff, over the school's present people of that family (only schools with at least
`hold_school_min_people` of them); region-wide, for each family (students, relatives,
staff), over all present people of that family, when the region has at least ten times the
school minimum of them: a smaller region (a demo) is judged school by school, not held for
one teacher who retired.

Approving and rejecting a held delivery are in `tasks.imports` (they re-stage and apply).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, case, distinct, func, select, update

from rentree.infra.frames import read_frame
from rentree.infra.naming import hold_id as make_hold_id
from rentree.infra.naming import hold_prefix
from rentree.infra.schema import holds, relations, user_structures, users
from rentree.infra.settings import Settings
from rentree.infra.staging import staging_table
from rentree.infra.storage import ObjectStore
from rentree.tasks.sync.changeset import ChangeSet

FAMILIES = {
    "Student": "students",
    "Teacher": "staff",
    "Personnel": "staff",
    "Relative": "relatives",
}
_SCHOOL_FAMILIES = ("students", "staff")
# the region-wide ratio needs this many times `hold_school_min_people` people of a family
REGION_MIN_FACTOR = 10


class HoldError(Exception):
    """A hold decision that cannot be made; the message is one sentence for the operator."""


@dataclass(frozen=True)
class Hold:
    hold_id: str
    school_year: str
    kind: str
    delivery: str | None
    status: str
    reason: str
    summary: dict[str, Any] | None
    fingerprint: str | None
    change_set_key: str | None
    run_id: str | None
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None


def missing_ratios(conn: Connection, change_set: ChangeSet) -> pl.DataFrame:
    """Unexpected newly-missing people against the present population, per school and family
    and region-wide (`structure_uai` null): structure_uai, family, missing, present, ratio."""
    schema = {
        "structure_uai": pl.String,
        "family": pl.String,
        "missing": pl.Int64,
        "present": pl.Int64,
        "ratio": pl.Float64,
    }
    missing = with_expected_relatives(conn, change_set.users_missing)
    missing = missing.filter(~pl.col("expected_leaver").fill_null(False))
    missing = missing.with_columns(
        pl.col("profile")
        .replace_strict(FAMILIES, default=None, return_dtype=pl.String)
        .alias("family")
    ).filter(pl.col("family").is_not_null())
    if missing.is_empty():
        return pl.DataFrame(schema=schema)
    per_school_missing = (
        missing.filter(
            pl.col("family").is_in(_SCHOOL_FAMILIES) & pl.col("structure_uai").is_not_null()
        )
        .unique(["external_id", "structure_uai"])
        .group_by("structure_uai", "family")
        .agg(pl.len().cast(pl.Int64).alias("missing"))
    )
    region_missing = (
        missing.unique("external_id")
        .group_by("family")
        .agg(pl.len().cast(pl.Int64).alias("missing"))
    )
    present = users.c.missing_since.is_(None)
    school_population = read_frame(
        conn,
        select(
            user_structures.c.structure_uai,
            users.c.profile,
            func.count(distinct(users.c.external_id)).label("present"),
        )
        .join_from(
            users, user_structures, user_structures.c.user_external_id == users.c.external_id
        )
        .where(present, users.c.profile.in_(("Student", "Teacher", "Personnel")))
        .group_by(user_structures.c.structure_uai, users.c.profile),
        schema_overrides={"structure_uai": pl.String, "profile": pl.String, "present": pl.Int64},
    )
    region_population = read_frame(
        conn,
        select(users.c.profile, func.count().label("present"))
        .where(present)
        .group_by(users.c.profile),
        schema_overrides={"profile": pl.String, "present": pl.Int64},
    )
    schools = per_school_missing.join(
        _by_family(school_population, ["structure_uai"]),
        on=["structure_uai", "family"],
        how="left",
    )
    region = region_missing.join(_by_family(region_population, []), on="family", how="left")
    region = region.with_columns(pl.lit(None, dtype=pl.String).alias("structure_uai"))
    both = pl.concat([schools.select(list(schema)[:4]), region.select(list(schema)[:4])])
    return both.with_columns(
        pl.col("present").fill_null(0),
        (pl.col("missing") / pl.col("present").fill_null(0).clip(lower_bound=1)).alias("ratio"),
    ).sort("structure_uai", "family", nulls_last=True)


def with_expected_relatives(conn: Connection, users_missing: pl.DataFrame) -> pl.DataFrame:
    """A missing relative is expected when none of their children stays: each one is an
    expected leaver of this change set or was already marked missing (the family left with
    its last pupil; the plan flags pupils only)."""
    relatives = users_missing.filter(pl.col("profile") == "Relative").select("external_id")
    if relatives.is_empty():
        return users_missing
    leavers = users_missing.filter(
        (pl.col("profile") == "Student") & pl.col("expected_leaver").fill_null(False)
    ).select(pl.col("external_id").alias("student_external_id"))
    asked = staging_table(conn, "hold_relatives", relatives, ["external_id"])
    r, child = relations.c, users.alias("child")
    children = read_frame(
        conn,
        select(
            r.relative_external_id,
            r.student_external_id,
            case((child.c.missing_since.is_(None), 0), else_=1).label("gone"),
        )
        .select_from(asked)
        .join(relations, r.relative_external_id == asked.c.external_id)
        .join(child, child.c.external_id == r.student_external_id),
        schema_overrides={
            "relative_external_id": pl.String,
            "student_external_id": pl.String,
            "gone": pl.Int64,
        },
    )
    if children.is_empty():
        return users_missing
    staying = (
        children.join(leavers, on="student_external_id", how="anti")
        .filter(pl.col("gone") == 0)
        .select(pl.col("relative_external_id").alias("external_id"))
        .unique()
    )
    with_children = children.select(pl.col("relative_external_id").alias("external_id")).unique()
    expected = with_children.join(staying, on="external_id", how="anti").with_columns(
        pl.lit(True).alias("family_left")
    )
    return (
        users_missing.join(expected, on="external_id", how="left")
        .with_columns(
            (
                pl.col("expected_leaver").fill_null(False)
                | ((pl.col("profile") == "Relative") & pl.col("family_left").fill_null(False))
            ).alias("expected_leaver")
        )
        .drop("family_left")
    )


def _by_family(population: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    if population.is_empty():
        return pl.DataFrame(
            schema={**{k: pl.String for k in keys}, "family": pl.String, "present": pl.Int64}
        )
    return (
        population.with_columns(
            pl.col("profile")
            .replace_strict(FAMILIES, default=None, return_dtype=pl.String)
            .alias("family")
        )
        .filter(pl.col("family").is_not_null())
        .group_by(*keys, "family")
        .agg(pl.col("present").sum().cast(pl.Int64))
    )


def evaluate_holds(conn: Connection, change_set: ChangeSet, settings: Settings) -> list[str]:
    """The reasons to hold this change set (one sentence each); empty when it may apply."""
    ratios = missing_ratios(conn, change_set)
    reasons: list[str] = []
    school_limit = settings.hold_school_missing_ratio
    region_limit = settings.hold_region_missing_ratio
    for row in ratios.iter_rows(named=True):
        share = f"{row['missing']} of {row['present']} {row['family']} ({row['ratio']:.1%})"
        if row["structure_uai"] is not None:
            if row["present"] >= settings.hold_school_min_people and row["ratio"] > school_limit:
                reasons.append(
                    f"School {row['structure_uai']}: {share} newly missing beyond the expected "
                    f"leavers, above the {school_limit:.0%} threshold."
                )
        elif (
            row["present"] >= REGION_MIN_FACTOR * settings.hold_school_min_people
            and row["ratio"] > region_limit
        ):
            reasons.append(
                f"Region-wide: {share} newly missing beyond the expected leavers, above the "
                f"{region_limit:.0%} threshold."
            )
    return reasons


def create_hold(
    conn: Connection,
    store: ObjectStore,
    *,
    kind: str,
    school_year: str,
    reason: str,
    summary: dict[str, Any],
    run_id: str,
    now: datetime,
    delivery: str | None = None,
    change_set: ChangeSet | None = None,
    fingerprint: str | None = None,
    label: str | None = None,
) -> str:
    """Record a pending hold (delivery or share_purge) and return its id.

    A change set given is written under `reports/<year>/holds/<hold id>/` (it is what an
    approval applies); its fingerprint is the directory state it was computed on.
    """
    new_id = make_hold_id(kind, school_year, label or delivery or run_id, now)
    change_set_key = None
    if change_set is not None:
        change_set_key = hold_prefix(school_year, new_id)
        change_set.write(store, change_set_key)
        fingerprint = fingerprint or change_set.fingerprint
    conn.execute(
        holds.insert().values(
            hold_id=new_id,
            school_year=school_year,
            kind=kind,
            delivery=delivery,
            status="pending",
            reason=reason,
            summary=summary,
            fingerprint=fingerprint,
            change_set_key=change_set_key,
            run_id=run_id,
            created_at=now,
        )
    )
    return new_id


def get_hold(conn: Connection, hold_id: str) -> Hold:
    row = conn.execute(select(holds).where(holds.c.hold_id == hold_id)).first()
    if row is None:
        raise HoldError(f"There is no hold {hold_id!r}; `rentree status` lists the pending ones.")
    return Hold(**row._asdict())


def pending_holds(
    conn: Connection, school_year: str, kind: str | None = None, delivery: str | None = None
) -> list[Hold]:
    query = select(holds).where(holds.c.school_year == school_year, holds.c.status == "pending")
    if kind is not None:
        query = query.where(holds.c.kind == kind)
    if delivery is not None:
        query = query.where(holds.c.delivery == delivery)
    return [Hold(**row._asdict()) for row in conn.execute(query.order_by(holds.c.created_at))]


def decide_hold(
    conn: Connection, hold_id: str, status: str, decided_by: str, now: datetime
) -> Hold:
    """Record an operator's decision on a pending hold (approved, rejected, superseded)."""
    hold = get_hold(conn, hold_id)
    if hold.status != "pending":
        raise HoldError(
            f"The hold {hold_id} was already {hold.status}"
            + (f" by {hold.decided_by}" if hold.decided_by else "")
            + "; nothing to decide."
        )
    conn.execute(
        update(holds)
        .where(holds.c.hold_id == hold_id)
        .values(status=status, decided_at=now, decided_by=decided_by)
    )
    return get_hold(conn, hold_id)
