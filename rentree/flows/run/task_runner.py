"""The task runner a run maps its per-file work over, and when a Dask cluster pays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from rentree.infra.settings import Settings

RunnerKind = Literal["threads", "processes", "dask"]
MB = 1024**2


@dataclass(frozen=True)
class RunnerChoice:
    """The runner a delivery's file checks get, and the sentence the run's log says why."""

    kind: RunnerKind
    why: str


def choose_runner(settings: Settings, delivery_bytes: int) -> RunnerChoice:
    """RENTREE_TASK_RUNNER, except that a Dask cluster is used only for a delivery of at least
    RENTREE_DASK_MIN_DELIVERY_MB: below it, starting (or shipping work to) the cluster costs
    more than the parallel checks save, so the threads runner checks the files instead."""
    setting = settings.task_runner
    if setting != "dask":
        return RunnerChoice(setting, f"RENTREE_TASK_RUNNER={setting}")
    size = f"{delivery_bytes / MB:,.1f} MB"
    threshold = settings.dask_min_delivery_mb
    if delivery_bytes >= threshold * MB:
        return RunnerChoice(
            "dask",
            f"RENTREE_TASK_RUNNER=dask and the files to check ({size}) reach "
            f"RENTREE_DASK_MIN_DELIVERY_MB={threshold}",
        )
    return RunnerChoice(
        "threads",
        f"the files to check ({size}) are below RENTREE_DASK_MIN_DELIVERY_MB={threshold}: "
        "a Dask cluster would cost more than it saves",
    )


def make_task_runner(
    settings: Settings,
    *,
    cluster_kwargs: dict[str, Any] | None = None,
    kind: RunnerKind | None = None,
) -> TaskRunner[Any]:
    """The task runner `kind` names (RENTREE_TASK_RUNNER by default): threads, processes, or
    a Dask cluster.

    For Dask, RENTREE_DASK_ADDRESS points at a running scheduler; without it a LocalCluster
    of RENTREE_MAX_WORKERS workers is started for the run and stopped after it.
    """
    kind = kind or settings.task_runner
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=settings.max_workers)
    if kind == "processes":
        return ProcessPoolTaskRunner(max_workers=settings.max_workers)
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_kwargs=cluster_kwargs
        or {"n_workers": settings.max_workers, "threads_per_worker": 1, "dashboard_address": None}
    )
