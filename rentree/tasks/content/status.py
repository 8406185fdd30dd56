"""What the directory holds today, per school year (`rentree status`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from rentree.infra.runs import shown_status
from rentree.infra.schema import (
    classes,
    feed_files,
    holds,
    late_entries,
    pending_attachments,
    runs,
    school_years,
    structures,
    users,
)
from rentree.tasks.intake.ledger import failed_deliveries
from rentree.tasks.rules.retirement.stages import retirement_stages, stage_totals


def directory_status(conn: Connection, last_runs: int = 3) -> dict[str, Any]:
    """Phase, counts, holds, late entries, pending attachments and last runs, as plain data."""
    profiles = {
        profile: {"present": present, "missing": missing}
        for profile, present, missing in conn.execute(
            select(
                users.c.profile,
                func.count().filter(users.c.missing_since.is_(None)),
                func.count().filter(users.c.missing_since.is_not(None)),
            ).group_by(users.c.profile)
        )
    }
    years: list[dict[str, Any]] = []
    for row in conn.execute(select(school_years).order_by(school_years.c.school_year)):
        year = row.school_year
        years.append(
            {
                "school_year": year,
                "phase": row.phase,
                "frozen_at": _iso(row.frozen_at),
                "onde_switched_at": _iso(row.onde_switched_at),
                "classes": conn.scalar(select(func.count()).where(classes.c.school_year == year)),
                "holds_pending": [
                    {
                        "hold_id": h.hold_id,
                        "kind": h.kind,
                        "delivery": h.delivery,
                        "academy": (h.summary or {}).get("academy"),
                        "reason": h.reason,
                    }
                    for h in conn.execute(
                        select(holds).where(
                            holds.c.school_year == year, holds.c.status == "pending"
                        )
                    )
                ],
                "failed_deliveries": _failed_per_academy(conn, year),
                "late_entries": [
                    {"uai": e.structure_uai, "level": e.level}
                    for e in conn.execute(
                        select(late_entries)
                        .where(
                            late_entries.c.school_year == year, late_entries.c.resolved_at.is_(None)
                        )
                        .order_by(late_entries.c.structure_uai)
                    )
                ],
                "pending_attachments": conn.scalar(
                    select(func.count()).where(pending_attachments.c.school_year == year)
                ),
            }
        )
    stages = retirement_stages(conn)
    return {
        "structures": conn.scalar(select(func.count()).select_from(structures)),
        "users": profiles,
        "retirement": {
            "totals": stage_totals(conn),
            "per_school": stages.to_dicts(),
        },
        "school_years": years,
        "last_runs": _last_runs_per_flow(conn, last_runs),
    }


def _failed_per_academy(conn: Connection, year: str) -> list[dict[str, Any]]:
    """The deliveries set aside after a failed apply, each under its academy (none in a
    region of one), oldest first."""
    academies = conn.scalars(
        select(feed_files.c.academy)
        .where(feed_files.c.school_year == year, feed_files.c.status == "failed")
        .distinct()
    ).all()
    return sorted(
        (
            {
                "academy": academy,
                "delivery": f.delivery,
                "types": sorted(f.types),
                "reason": f.reason,
            }
            for academy in academies
            for f in failed_deliveries(conn, year, academy).values()
        ),
        key=lambda f: (f["delivery"], f["academy"] or ""),
    )


def _last_runs_per_flow(conn: Connection, per_flow: int) -> list[dict[str, Any]]:
    """The newest runs of each flow (one query, ranked in SQL)."""
    rank = (
        func.row_number()
        .over(partition_by=runs.c.flow, order_by=runs.c.started_at.desc())
        .label("rank")
    )
    ranked = select(runs, rank).subquery()
    rows = conn.execute(
        select(ranked)
        .where(ranked.c.rank <= per_flow)
        .order_by(ranked.c.flow, ranked.c.started_at.desc())
    )
    return [
        {
            "run_id": r.run_id,
            "flow": r.flow,
            "school_year": r.school_year,
            "status": shown_status(r.status, r.summary),
            "dry_run": r.dry_run,
            "kind": _run_kind(r.dry_run, r.summary),
            "started_at": _iso(r.started_at),
            "finished_at": _iso(r.finished_at),
        }
        for r in rows
    ]


def _run_kind(dry_run: bool, summary: Any) -> str:
    """What a run was, beyond its flow: a dry run (nothing committed), an undo, or a run."""
    if dry_run:
        return "dry run"
    undone = (summary or {}).get("undone_run") if isinstance(summary, dict) else None
    return f"undo of {undone}" if undone else "run"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
