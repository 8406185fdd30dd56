"""Who a retirement run is about: people marked missing past the first grace period.

Left out for good: manual accounts (Guest, any `source = manual` account, never in a feed)
and people holding a manual link (a school link made by hand, or a class attachment of the
current year made by hand): someone decided by hand that they belong.

Left out until confirmed: a mark made while a year was frozen or before the new year's ONDE
switch (the rollover transition: the first staff files of August come before the pupils')
counts only once a complete delivery of the new year of the person's feed type, applied
after the switch, still leaves them missing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import (
    Connection,
    DateTime,
    and_,
    case,
    exists,
    false,
    literal,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.sql.elements import ColumnElement

from rentree.infra.frames import select_frame
from rentree.infra.naming import next_school_year
from rentree.infra.schema import (
    feed_files,
    retirement_notices,
    school_years,
    user_classes,
    user_structures,
    users,
)
from rentree.tasks.rules.retirement.rules import RetirementRules

# The feed that carries each profile (feeds.md): a mark is confirmed by that feed only.
FEED_OF_PROFILE = {"Student": "Eleve", "Relative": "PersRelEleve"}
STAFF_FEED = "PersEducNat"

PEOPLE_SCHEMA: dict[str, Any] = {
    "external_id": pl.String,
    "profile": pl.String,
    "identity": pl.String,
    "login": pl.String,
    "first_name": pl.String,
    "last_name": pl.String,
    "missing_since": pl.Date,
    "deactivated_at": pl.Datetime("us", "UTC"),
    "noticed_at": pl.Datetime("us", "UTC"),
    "structure_uai": pl.String,
    "manual_link": pl.Boolean,
    "confirmed": pl.Boolean,
}


def _feed_type() -> ColumnElement[str]:
    return case(
        *((users.c.profile == p, literal(f)) for p, f in FEED_OF_PROFILE.items()),
        else_=literal(STAFF_FEED),
    )


def confirmed_mark(conn: Connection) -> ColumnElement[bool]:
    """True for a mark that counts: outside every rollover transition, or confirmed since.

    A transition runs from a year's freeze to its successor's ONDE switch (both days
    included: a mark is a date, so a mark of the switch day may come from a file applied
    before the switch); the years are few, so each becomes one literal condition.
    """
    years = conn.execute(
        select(school_years.c.school_year, school_years.c.frozen_at).where(
            school_years.c.frozen_at.is_not(None)
        )
    ).all()
    switched = dict(
        conn.execute(
            select(school_years.c.school_year, school_years.c.onde_switched_at).where(
                school_years.c.onde_switched_at.is_not(None)
            )
        ).all()
    )
    unconfirmed: list[ColumnElement[bool]] = []
    for year, frozen_at in years:
        successor = next_school_year(year)
        switch_at = switched.get(successor)
        during = users.c.missing_since >= frozen_at.date()
        if switch_at is None:
            unconfirmed.append(during)
            continue
        complete_since_switch = exists().where(
            feed_files.c.school_year == successor,
            feed_files.c.status == "applied",
            feed_files.c.mode == "Complet",
            feed_files.c.file_type == _feed_type(),
            feed_files.c.recorded_at >= literal(switch_at, DateTime(timezone=True)),
        )
        unconfirmed.append(
            and_(during, users.c.missing_since <= switch_at.date(), ~complete_since_switch)
        )
    return ~or_(false(), *unconfirmed) if unconfirmed else true()


def missing_people(
    conn: Connection, rules: RetirementRules, today: date, school_year: str | None
) -> pl.DataFrame:
    """Every feed account missing past the first grace period, once per school it is linked
    to (`structure_uai` null without a link), with its notice time and two flags:
    `manual_link` (kept for good) and `confirmed` (its mark counts)."""
    u, us, uc = users.c, user_structures.c, user_classes.c
    # one set of ids, built once (a correlated test per person would walk every class link
    # of the year on SQLite, which picks the school-year index)
    by_hand = union(
        select(us.user_external_id).where(us.source == "manual"),
        select(uc.user_external_id).where(
            uc.source == "manual", uc.school_year == (school_year or "")
        ),
    )
    manual_link = u.external_id.in_(by_hand)
    query = (
        select(
            u.external_id,
            u.profile,
            u.identity,
            u.login,
            u.first_name,
            u.last_name,
            u.missing_since,
            u.deactivated_at,
            retirement_notices.c.noticed_at,
            us.structure_uai,
            manual_link.label("manual_link"),
            confirmed_mark(conn).label("confirmed"),
        )
        .select_from(
            users.outerjoin(
                retirement_notices, retirement_notices.c.user_external_id == u.external_id
            ).outerjoin(user_structures, us.user_external_id == u.external_id)
        )
        .where(
            u.missing_since.is_not(None),
            u.missing_since <= rules.deactivation_cutoff(today),
            u.source == "feed",
            u.profile != "Guest",
        )
        .order_by(u.external_id, us.structure_uai)
    )
    frame = select_frame(conn, query, PEOPLE_SCHEMA)
    return frame.with_columns(pl.col("manual_link", "confirmed").fill_null(False))


def split_stages(
    people: pl.DataFrame, rules: RetirementRules, today: date, now: datetime
) -> dict[str, pl.DataFrame]:
    """The people of each step of a run (one row per person and school):

    - `kept`: a manual link; `unconfirmed`: a transition mark not confirmed yet;
    - `to_notice`: due for deactivation, no notice written yet;
    - `waiting`: notice written, the notice period not over;
    - `to_deactivate`: notice written at least the notice period ago;
    - `deactivated`: deactivated, not yet past the second grace period;
    - `to_retire`: deactivated before this run and past both grace periods.
    """
    counted = pl.col("confirmed") & ~pl.col("manual_link")
    active = pl.col("deactivated_at").is_null()
    noticed = pl.col("noticed_at").is_not_null()
    past_notice = pl.col("noticed_at") <= rules.notice_cutoff(now)
    past_second = pl.col("missing_since") <= rules.retirement_cutoff(today)
    before_run = pl.col("deactivated_at") < now
    return {
        "kept": people.filter(pl.col("manual_link")),
        "unconfirmed": people.filter(~pl.col("confirmed") & ~pl.col("manual_link")),
        "to_notice": people.filter(counted & active & ~noticed),
        "waiting": people.filter(counted & active & noticed & ~past_notice),
        "to_deactivate": people.filter(counted & active & noticed & past_notice),
        "deactivated": people.filter(counted & ~active & ~(past_second & before_run)),
        "to_retire": people.filter(counted & ~active & past_second & before_run),
    }
