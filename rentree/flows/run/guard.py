"""The concurrency guard: one run at a time changes the directory.

The slot of `rentree-directory` is held under a Prefect lease that the run renews while it
lives. A run that stops without releasing it (killed, machine down) blocks nobody for long:

- the run records its lease's id in its `runs` row: the next run releases the lease of a
  run whose process is gone at once, on any Prefect server (only that lease: another
  workspace's runs on a shared server keep theirs);
- on a standing Prefect server, the server also frees the slot when the lease ends (at most
  `RENTREE_DIRECTORY_LEASE_SECONDS` plus Prefect's check interval);
- with Prefect's embedded server (no `PREFECT_API_URL`: `rentree run`, `rentree demo`) no
  server outlives the run to do so: the next run reclaims the slot at once when no run that
  claims the directory is still alive (its process is gone, `infra.runs`).

The stopped runs are recorded `interrupted`; a run that waits says so, and who holds the slot,
on the console and in its log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import timedelta
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from prefect.concurrency._leases import maintain_concurrency_lease
from prefect.concurrency._sync import (
    acquire_concurrency_slots_with_lease,
    release_concurrency_slots_with_lease,
)
from prefect.exceptions import ObjectAlreadyExists
from prefect.settings import PREFECT_API_URL

from rentree.flows.run.context import RunContext, run_logger
from rentree.infra.runs import (
    claim_directory,
    directory_claimants,
    mark_interrupted,
    stopped_leases,
)

# The one global concurrency limit every run that changes the directory holds (limit 1).
DIRECTORY_LIMIT = "rentree-directory"


def ensure_directory_limit() -> None:
    """Create (or reset to 1) the global concurrency limit; idempotent, done at serve time too."""
    # Another run may create it at the same moment: it exists, which is all we need.
    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.upsert_global_concurrency_limit_by_name(DIRECTORY_LIMIT, 1)


def embedded_server() -> bool:
    """Whether this process runs Prefect's embedded server (nothing else frees a lease)."""
    return not PREFECT_API_URL.value()


def reclaim_stopped_holders(ctx: RunContext) -> list[dict[str, object]]:
    """Record the runs whose process is gone as interrupted; with the embedded server, free
    the slot when no other run that claims the directory is alive. Returns those alive."""
    with ctx.workspace.engine.begin() as conn:
        stopped = mark_interrupted(conn)
        alive = directory_claimants(conn, besides=ctx.run_id)
        leases = stopped_leases(conn)
        for run_id in leases:
            claim_directory(conn, run_id, False)
    if stopped:
        run_logger().warning(
            "Runs stopped before they finished, recorded as interrupted: %s.", ", ".join(stopped)
        )
    for run_id, lease in leases.items():
        # the lease may have ended already (the server freed it): nothing left to free
        with suppress(Exception):
            release_concurrency_slots_with_lease(UUID(lease))
            say(f"The directory's slot held by the stopped run {run_id} is free again.")
    if not alive and embedded_server():
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(DIRECTORY_LIMIT)
            if limit.active_slots:
                client.update_global_concurrency_limit(
                    DIRECTORY_LIMIT, GlobalConcurrencyLimitUpdate(active_slots=0)
                )
                say("The directory's slot was held by a run that stopped; it is free again.")
    return alive


# Where only directory-changing runs write (they hold the slot): what a write left unfinished
# there belongs to a run that stopped. `landing/` is the academy transfer's, never cleaned.
RUN_WRITTEN_ROOTS = ("archive/", "quarantine/", "held/", "snapshots/")


def clean_after_stopped_runs(ctx: RunContext) -> None:
    """Holding the slot: drop the temporary files and unfinished multipart uploads that a
    stopped run left where only such runs write."""
    cleaned = sum(ctx.store.clean_unfinished(timedelta(0), root) for root in RUN_WRITTEN_ROOTS)
    if cleaned:
        run_logger().info("Dropped %d unfinished uploads left by a stopped run.", cleaned)


def say(sentence: str) -> None:
    """To the console (flows print, and `log_prints` copies it into the run's log)."""
    print(sentence, flush=True)


@contextmanager
def _directory_slot(
    ctx: RunContext, *, timeout_seconds: float, lease_duration: float
) -> Iterator[None]:
    """The slot, under a lease renewed while the run lives, its id recorded in the run's row.

    Prefect's `concurrency()` does the same but keeps the lease's id to itself; its parts are
    used here so that a later run can free the lease of a run that was killed."""
    acquired = acquire_concurrency_slots_with_lease(
        [DIRECTORY_LIMIT],
        1,
        timeout_seconds=timeout_seconds,
        lease_duration=lease_duration,
        strict=True,
    )
    try:
        with ctx.workspace.engine.begin() as conn:
            claim_directory(conn, ctx.run_id, True, lease=str(acquired.lease_id))
        with maintain_concurrency_lease(
            acquired.lease_id, lease_duration, raise_on_lease_renewal_failure=True
        ):
            yield
    finally:
        release_concurrency_slots_with_lease(acquired.lease_id)


@contextmanager
def directory_guard(ctx: RunContext) -> Iterator[None]:
    """Hold the one slot of `rentree-directory` while the run changes the directory.

    A dry run changes nothing and takes no slot, so a preview never waits for an import.
    """
    if ctx.dry_run:
        yield
        return
    ensure_directory_limit()
    settings = ctx.settings
    with ctx.workspace.engine.begin() as conn:
        claim_directory(conn, ctx.run_id, True)
    try:
        # the slot is released (ExitStack) before the claim is withdrawn (finally): a run
        # that sees no claimant alive never frees a slot that a living run still holds
        with ExitStack() as held:
            while True:
                alive = reclaim_stopped_holders(ctx)
                try:
                    held.enter_context(
                        _directory_slot(
                            ctx,
                            timeout_seconds=settings.directory_wait_notice_seconds,
                            lease_duration=settings.directory_lease_seconds,
                        )
                    )
                    break
                except TimeoutError:
                    holders = ", ".join(f"{r['flow']} run {r['run_id']}" for r in alive)
                    say(
                        f"Waiting for the directory: {holders or 'a run that stopped'} holds it"
                        + ("" if alive else " until its lease ends")
                        + "; this run goes on as soon as it is free."
                    )
            clean_after_stopped_runs(ctx)
            yield
    finally:
        with ctx.workspace.engine.begin() as conn:
            claim_directory(conn, ctx.run_id, False)
