"""Scale-out of a delivery's staging: each file (chunk) is read and checked as one task on
the run's task runner (threads, processes or Dask), then stage.py assembles the results.

The runner is started on the first delivery that has files to check and stopped when the
flow run ends, so a run with nothing to import never starts a Dask cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner
from prefect.utilities.annotations import unmapped

from rentree.flows.run.artifacts import Progress
from rentree.flows.run.task_runner import make_task_runner
from rentree.flows.run.tasks import safe_task
from rentree.infra.naming import FeedNameError, parse_feed_name
from rentree.infra.settings import Settings
from rentree.tasks.intake.validate import (
    CheckContext,
    FileCheck,
    StoredFile,
    check_stored_file,
)

FileChecker = Callable[[StoredFile, str, CheckContext], FileCheck]


@safe_task(name="check-file", cache_policy=NO_CACHE, task_run_name="check {file_name}")
def check_file_task(
    file: StoredFile, file_name: str, context: CheckContext, check: FileChecker = check_stored_file
) -> FileCheck:
    """Read and validate one feed file (a chunk of a delivery) from the store."""
    return check(file, file_name, context)


def _delivery_of(names: Sequence[str]) -> str:
    """The delivery the files belong to, for the progress bar's label."""
    for name in names:
        try:
            return f"delivery {parse_feed_name(name).delivery}"
        except FeedNameError:
            continue
    return "files"


class FileCheckMapper:
    """A `stage.FileMapper` that maps the file checks over the settings' task runner."""

    def __init__(self, settings: Settings, *, cluster_kwargs: dict[str, Any] | None = None):
        self.settings = settings
        self.cluster_kwargs = cluster_kwargs
        self._runner: TaskRunner[Any] | None = None
        self.files_checked = 0

    def __enter__(self) -> FileCheckMapper:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            self._runner.__exit__(exc_type, exc, tb)
            self._runner = None

    def _started(self) -> TaskRunner[Any]:
        if self._runner is None:
            runner = make_task_runner(self.settings, cluster_kwargs=self.cluster_kwargs)
            self._runner = runner.__enter__()
        return self._runner

    def __call__(
        self,
        check: FileChecker,
        files: Sequence[StoredFile],
        names: Sequence[str],
        contexts: Sequence[CheckContext],
    ) -> Iterable[FileCheck]:
        if not files:
            return []
        progress = Progress(f"checking {_delivery_of(names)} ({len(files)} files)", len(files))
        futures = self._started().map(
            check_file_task,  # type: ignore[arg-type]
            parameters={
                "file": list(files),
                "file_name": list(names),
                "context": list(contexts),
                "check": unmapped(check),
            },
        )
        checks: list[FileCheck] = []
        for future in futures:
            checks.append(future.result())
            progress.advance()
        self.files_checked += len(checks)
        return checks
