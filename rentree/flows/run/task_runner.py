"""The task runner a run maps its per-file work over."""

from __future__ import annotations

from typing import Any

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from rentree.infra.settings import Settings


def make_task_runner(
    settings: Settings, *, cluster_kwargs: dict[str, Any] | None = None
) -> TaskRunner[Any]:
    """The task runner RENTREE_TASK_RUNNER names: threads, processes, or a Dask cluster.

    For Dask, RENTREE_DASK_ADDRESS points at a running scheduler; without it a LocalCluster
    of RENTREE_MAX_WORKERS workers is started for the run and stopped after it.
    """
    if settings.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=settings.max_workers)
    if settings.task_runner == "processes":
        return ProcessPoolTaskRunner(max_workers=settings.max_workers)
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_kwargs=cluster_kwargs
        or {"n_workers": settings.max_workers, "threads_per_worker": 1, "dashboard_address": None}
    )
