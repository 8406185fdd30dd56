"""The concurrency guard: one run at a time changes the directory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from prefect import get_client, get_run_logger
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists

from rentree.flows.run.context import RunContext

# The one global concurrency limit every run that changes the directory holds (limit 1).
DIRECTORY_LIMIT = "rentree-directory"


def ensure_directory_limit() -> None:
    """Create (or reset to 1) the global concurrency limit; idempotent, done at serve time too."""
    # Another run may create it at the same moment: it exists, which is all we need.
    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.upsert_global_concurrency_limit_by_name(DIRECTORY_LIMIT, 1)


@contextmanager
def directory_guard(ctx: RunContext) -> Iterator[None]:
    """Hold the one slot of `rentree-directory` while the run changes the directory.

    A dry run changes nothing and takes no slot, so a preview never waits for an import.
    """
    if ctx.dry_run:
        yield
        return
    ensure_directory_limit()
    logger = get_run_logger()
    logger.info("Waiting for the directory (concurrency limit %s).", DIRECTORY_LIMIT)
    with concurrency(DIRECTORY_LIMIT, occupy=1, strict=True):
        yield
