"""The options of a run, checked against the directory before any work starts.

One checker for the command line and the flows (a Prefect run started from the UI with a
bad parameter fails at once with the same sentence): the school year's format and
existence, the UAIs of `schools`/`school`, `approve` without `hold_id`, an unknown or
already decided hold, an unknown run to undo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from rentree.infra.naming import check_school_year, check_uai, held_prefix, landing_prefix
from rentree.infra.schema import classes, holds, runs, school_years, structures
from rentree.infra.storage import ObjectStore

# Flows whose school year must already be in the directory; the import flows may also take
# a year that only has deliveries waiting (its first import creates it).
YEAR_MUST_EXIST = frozenset({"freeze", "share-purge", "attach-teachers", "retire-missing"})
# The kind of hold each flow decides on (the import flows and nightly: delivery holds).
HOLD_KINDS = {"share-purge": "share_purge", "retire-missing": "retirement"}


class OptionError(ValueError):
    """An option of a run that cannot be used; the message is one sentence."""


def check_flow_options(
    conn: Connection, store: ObjectStore, flow: str, params: Mapping[str, Any]
) -> None:
    """Raise OptionError when one of the run's parameters cannot be used."""
    year = params.get("year")
    if year is not None:
        check_year_option(conn, store, flow, str(year))
    schools = list(params.get("schools") or [])
    if params.get("school"):
        schools.append(params["school"])
    check_schools(conn, schools)
    hold_id, approve = params.get("hold_id"), params.get("approve")
    if approve is not None and not hold_id:
        raise OptionError(
            f"{'approve' if approve else 'reject'} needs the id of the hold to decide on "
            "(hold_id, --hold-id); `rentree status` lists the pending holds."
        )
    if hold_id:
        check_pending_hold(conn, str(hold_id), HOLD_KINDS.get(flow, "delivery"))
    undo = params.get("undo_run_id")
    if undo:
        check_run(conn, str(undo), flow)


def check_year_option(conn: Connection, store: ObjectStore, flow: str, year: str) -> None:
    try:
        check_school_year(year)
    except ValueError as exc:
        raise OptionError(f"school year {exc}") from None
    if _year_known(conn, year):
        return
    if flow not in YEAR_MUST_EXIST and (
        store.list(landing_prefix(year)) or store.list(held_prefix(year))
    ):
        return
    held = (
        ", ".join(
            conn.scalars(select(school_years.c.school_year).order_by(school_years.c.school_year))
        )
        or "none yet"
    )
    waiting = "" if flow in YEAR_MUST_EXIST else f" and no delivery waits in landing/{year}/"
    raise OptionError(
        f"school year {year}: the directory holds no such year{waiting} (it holds: {held}); "
        "give one of those."
    )


def _year_known(conn: Connection, year: str) -> bool:
    """The directory holds the year: recorded, or classes of it exist."""
    recorded = select(school_years.c.school_year).where(school_years.c.school_year == year)
    with_classes = select(classes.c.school_year).where(classes.c.school_year == year).limit(1)
    return conn.scalar(recorded) is not None or conn.scalar(with_classes) is not None


def check_schools(conn: Connection, schools: Sequence[str]) -> None:
    for uai in schools:
        try:
            check_uai(uai)
        except ValueError as exc:
            raise OptionError(f"school {exc}") from None
    if not schools:
        return
    known = set(conn.scalars(select(structures.c.uai).where(structures.c.uai.in_(schools))))
    unknown = [u for u in schools if u not in known]
    if unknown:
        raise OptionError(
            f"school {', '.join(unknown)}: no school with this UAI in the directory; check it "
            "(`rentree export` lists the structures)."
        )


def check_pending_hold(conn: Connection, hold_id: str, kind: str) -> None:
    row = conn.execute(
        select(holds.c.kind, holds.c.status, holds.c.decided_by).where(holds.c.hold_id == hold_id)
    ).first()
    if row is None:
        raise OptionError(f"hold {hold_id}: no such hold; `rentree status` lists the pending ones.")
    if row.status != "pending":
        by = f" by {row.decided_by}" if row.decided_by else ""
        raise OptionError(f"hold {hold_id}: already {row.status}{by}; nothing to decide.")
    expected = kind
    if row.kind != expected:
        raise OptionError(
            f"hold {hold_id}: a {row.kind.replace('_', ' ')} hold, not a "
            f"{expected.replace('_', ' ')} hold; decide it with the flow that raised it."
        )


def check_run(conn: Connection, run_id: str, flow: str) -> None:
    known = conn.scalar(select(func.count()).where(runs.c.run_id == run_id, runs.c.flow == flow))
    if not known:
        raise OptionError(
            f"run {run_id}: no {flow} run has this id; `rentree status` lists the last runs of "
            "each flow."
        )
