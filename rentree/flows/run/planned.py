"""Every flow that changes something: plan -> report -> apply, the apply skipped by a dry
run (`rentree.tasks.planned`). The plan is computed by reads only, and reported (its summary
in the run's record, its report files' links, its sections in the summary artifact) the
same way in a dry run and a real one; a dry run then ends in the state "Dry run"."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection

from rentree.flows.run.artifacts import publish_links, publish_summary
from rentree.flows.run.context import RunContext
from rentree.flows.run.tasks import safe_task
from rentree.infra.storage import ObjectStore
from rentree.tasks.planned import Plan, apply_unless_dry_run

P = TypeVar("P", bound=Plan)


def plan_then_apply(
    ctx: RunContext,
    title: str,
    plan: P,
    apply: Callable[[P], dict[str, Any]],
    *,
    reports: Sequence[str] = (),
    sections: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Report `plan` (`reports`: its files, already written under the run's reports;
    `sections`: how it reads in the summary artifact), then return `apply(plan)` (the apply
    step reports what it did and returns the flow's result) or, for a dry run, the result
    of the plan alone."""
    publish_links(ctx, reports)
    ctx.summary = {**plan.summary(), "reports": list(reports)}
    applied = apply_unless_dry_run(plan, apply, dry_run=ctx.dry_run)
    if applied is not None:
        return applied
    ctx.summary["message"] = f"Dry run of {title}: the plan is reported, nothing was applied."
    publish_summary(ctx, title, [*sections, ("Dry run", ctx.summary["message"])])
    return ctx.result()


@safe_task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30], task_run_name="plan")
def plan_and_report(
    ctx: RunContext,
    plan: Callable[[Connection], P],
    report: Callable[[ObjectStore, str, P], list[str]] | None = None,
) -> tuple[P, list[str]]:
    """The run's plan, computed on a connection that writes nothing, and its report files
    under the run's reports (`report`); connection and storage failures are retried."""
    with ctx.workspace.engine.connect() as conn:
        planned = plan(conn)
    keys = report(ctx.store, ctx.reports_prefix(), planned) if report is not None else []
    return planned, keys
