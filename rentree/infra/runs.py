"""The run record: the one writer of the `runs` table.

Every run that changes or reports on the directory (the phase flows, the CLI's own commands,
the content import) records itself here: `start_run` when it begins (status `running`),
`finish_run` with its outcome, or `record_run` for a run recorded once it is over.

A delivery's apply records its run `applied` in the very transaction that applies it
(`record_committed`: the delivery, its counts, its change set's summary, where its reports
go): a run killed or failing after that commit stays `applied` with its counts, and the
steps after the commit (moves, reports) that it did not finish are done by the next run
(`unreported` finds them, `mark_reported` says they are done).
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, delete, func, insert, select, update

from rentree.infra.schema import runs


def json_safe(value: Any) -> Any:
    """What can go into the `runs.summary` JSON column (and into artifacts)."""
    return json.loads(json.dumps(value, default=str))


def start_run(
    conn: Connection,
    *,
    run_id: str,
    flow: str,
    school_year: str | None,
    started_at: datetime,
    dry_run: bool,
) -> None:
    """The run's row, status `running` (a retried flow run replaces its earlier row), with
    the process that runs it, so that a later run can tell a run that was killed."""
    conn.execute(delete(runs).where(runs.c.run_id == run_id))
    conn.execute(
        insert(runs).values(
            run_id=run_id,
            flow=flow,
            school_year=school_year,
            started_at=started_at,
            status="running",
            dry_run=dry_run,
            summary={"process": this_process()},
        )
    )


# A run that committed a delivery is applied, whatever stopped it after the commit.
AFTER_COMMIT_FAILURES = frozenset({"failed", "interrupted"})


def finish_run(
    conn: Connection,
    run_id: str,
    status: str,
    summary: dict[str, Any],
    *,
    finished_at: datetime | None = None,
) -> None:
    """The run's outcome: its status (completed, held, rejected, failed) and summary. The
    deliveries it committed stay in the summary (`committed`); a failure or a stop after such
    a commit leaves the run `applied`."""
    earlier = conn.scalar(select(runs.c.summary).where(runs.c.run_id == run_id)) or {}
    committed = earlier.get("committed") if isinstance(earlier, dict) else None
    if committed:
        summary = {"counts": _totals(committed), **summary, "committed": committed}
        if status in AFTER_COMMIT_FAILURES:
            status = "applied"
    conn.execute(
        update(runs)
        .where(runs.c.run_id == run_id)
        .values(
            status=status,
            finished_at=finished_at or datetime.now(UTC),
            summary=json_safe(summary),
        )
    )


# -- deliveries committed by a run ----------------------------------------------------------


def record_committed(conn: Connection, run_id: str, delivery: dict[str, Any]) -> None:
    """In the transaction that applies a delivery: the run becomes `applied` (unless it is
    over already), with the delivery (`school_year`, `academy`, `delivery`, `counts`,
    `change_set` summary, `reports` prefix, `reason`) in its summary, not yet reported."""
    row = conn.execute(select(runs.c.status, runs.c.summary).where(runs.c.run_id == run_id)).first()
    if row is None:
        return
    summary = dict(row.summary or {})
    committed = [*summary.get("committed", []), json_safe({**delivery, "reported": False})]
    conn.execute(
        update(runs)
        .where(runs.c.run_id == run_id)
        .values(
            status="applied" if row.status == "running" else row.status,
            summary={**summary, "committed": committed, "counts": _totals(committed)},
        )
    )


def _totals(committed: list[dict[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for entry in committed:
        for kind, n in (entry.get("counts") or {}).items():
            totals[kind] = totals.get(kind, 0) + int(n)
    return totals


def _same_delivery(entry: dict[str, Any], school_year: str, academy: str | None, day: str) -> bool:
    return (entry.get("school_year"), entry.get("academy"), entry.get("delivery")) == (
        school_year,
        academy,
        day,
    )


def mark_reported(
    conn: Connection, run_id: str, school_year: str, academy: str | None, delivery: str
) -> None:
    """The reports of a delivery the run committed are written (by it, or by a later run)."""
    summary = conn.scalar(select(runs.c.summary).where(runs.c.run_id == run_id))
    if not isinstance(summary, dict) or not summary.get("committed"):
        return
    committed = [
        {**e, "reported": True} if _same_delivery(e, school_year, academy, delivery) else e
        for e in summary["committed"]
    ]
    conn.execute(
        update(runs)
        .where(runs.c.run_id == run_id)
        .values(summary={**summary, "committed": committed})
    )


def unreported(
    conn: Connection, run_ids: list[str], school_year: str, academy: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """(run id, committed delivery) of these runs whose reports were never all written."""
    if not run_ids:
        return []
    rows = conn.execute(
        select(runs.c.run_id, runs.c.summary).where(runs.c.run_id.in_(run_ids))
    ).all()
    return [
        (row.run_id, entry)
        for row in rows
        if isinstance(row.summary, dict)
        for entry in row.summary.get("committed", [])
        if not entry.get("reported")
        and (entry.get("school_year"), entry.get("academy")) == (school_year, academy)
    ]


def record_run(
    conn: Connection,
    *,
    run_id: str,
    flow: str,
    school_year: str | None,
    started_at: datetime,
    status: str,
    dry_run: bool,
    summary: dict[str, Any],
) -> None:
    """A run recorded in one go, in the caller's transaction (started and finished)."""
    start_run(
        conn,
        run_id=run_id,
        flow=flow,
        school_year=school_year,
        started_at=started_at,
        dry_run=dry_run,
    )
    finish_run(conn, run_id, status, summary)


def run_exists(conn: Connection, run_id: str, flow: str) -> bool:
    """Whether `flow` recorded a run with this id."""
    found = conn.scalar(select(func.count()).where(runs.c.run_id == run_id, runs.c.flow == flow))
    return bool(found)


# -- runs that stopped without finishing (killed, machine down) -------------------------------

Liveness = Literal["alive", "dead", "unknown"]
# The statuses of a run that may still be going (`applied`: it committed a delivery).
LIVE_STATUSES = ("running", "applied")


def this_process() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def process_liveness(process: Any) -> Liveness:
    """Whether the process a `running` row names still runs: known on this host only."""
    if not isinstance(process, dict) or process.get("host") != socket.gethostname():
        return "unknown"
    try:
        os.kill(int(process["pid"]), 0)
    except ProcessLookupError:
        return "dead"
    except (PermissionError, KeyError, TypeError, ValueError):
        return "unknown"
    return "alive"


def shown_status(status: str, summary: Any) -> str:
    """A run's status as `status` shows it: a `running` row whose process is gone is
    `interrupted`, whether or not a later run recorded it so yet."""
    if status == "running" and process_liveness((summary or {}).get("process")) == "dead":
        return "interrupted"
    return status


def mark_interrupted(conn: Connection, *, now: datetime | None = None) -> list[str]:
    """Record as `interrupted` the running runs whose process is gone; returns their ids."""
    rows = conn.execute(
        select(runs.c.run_id, runs.c.summary).where(runs.c.status == "running")
    ).all()
    stopped = [r for r in rows if shown_status("running", r.summary) == "interrupted"]
    for row in stopped:
        summary = {
            **(row.summary or {}),
            "error": "its process stopped before the run finished (killed, or the machine "
            "went down); what it had not committed was not applied.",
        }
        finish_run(conn, row.run_id, "interrupted", summary, finished_at=now)
    return [r.run_id for r in stopped]


def claim_directory(
    conn: Connection, run_id: str, claimed: bool, *, lease: str | None = None
) -> None:
    """Say in the run's row that it waits for, or holds, the directory's slot (or no more),
    and the id of the slot's lease once it holds it (a later run frees the lease of a run
    whose process is gone)."""
    summary = dict(conn.scalar(select(runs.c.summary).where(runs.c.run_id == run_id)) or {})
    summary.pop("directory_lease", None)
    if claimed and lease is not None:
        summary["directory_lease"] = lease
    conn.execute(
        update(runs)
        .where(runs.c.run_id == run_id)
        .values(summary={**summary, "claims_directory": claimed})
    )


def stopped_leases(conn: Connection) -> dict[str, str]:
    """Run id -> the directory slot's lease still held in the name of a run whose process
    is gone (killed while holding the slot)."""
    rows = conn.execute(
        select(runs.c.run_id, runs.c.summary).where(
            runs.c.status.in_((*LIVE_STATUSES, "interrupted"))
        )
    ).all()
    return {
        r.run_id: str(r.summary["directory_lease"])
        for r in rows
        if isinstance(r.summary, dict)
        and r.summary.get("claims_directory")
        and r.summary.get("directory_lease")
        and process_liveness(r.summary.get("process")) == "dead"
    }


def directory_claimants(conn: Connection, *, besides: str) -> list[dict[str, Any]]:
    """The other running runs that wait for or hold the directory's slot and may be alive
    (their process runs, or runs on another host)."""
    rows = conn.execute(
        select(runs.c.run_id, runs.c.flow, runs.c.started_at, runs.c.summary).where(
            runs.c.status.in_(LIVE_STATUSES), runs.c.run_id != besides
        )
    ).all()
    return [
        {"run_id": r.run_id, "flow": r.flow, "started_at": r.started_at}
        for r in rows
        if (r.summary or {}).get("claims_directory")
        and process_liveness((r.summary or {}).get("process")) != "dead"
    ]
