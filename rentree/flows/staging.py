"""Scale-out of a delivery's staging: each file (chunk) is read and checked as one task on
the run's task runner (threads, processes or Dask), then stage.py assembles the results.

The runner is started on the first delivery that has files to check and stopped when the
flow run ends, so a run with nothing to import never starts a Dask cluster; with
RENTREE_TASK_RUNNER=dask, a delivery below RENTREE_DASK_MIN_DELIVERY_MB is checked on threads
(`task_runner.choose_runner`), and the run's log says which runner each delivery got and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner
from prefect.utilities.annotations import unmapped

from rentree.flows.run.artifacts import Progress
from rentree.flows.run.context import run_logger
from rentree.flows.run.task_runner import RunnerChoice, RunnerKind, choose_runner, make_task_runner
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
        self._runners: dict[RunnerKind, TaskRunner[Any]] = {}
        self.files_checked = 0
        self.choices: list[RunnerChoice] = []

    def __enter__(self) -> FileCheckMapper:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        while self._runners:
            _, runner = self._runners.popitem()
            runner.__exit__(exc_type, exc, tb)

    def _choice(self, files: Sequence[StoredFile]) -> RunnerChoice:
        """The runner for these files; their sizes are asked of the store only when Dask
        is set (one HEAD per file on S3, a stat on a folder)."""
        if self.settings.task_runner != "dask":
            return choose_runner(self.settings, 0)
        store = files[0].store.open()
        return choose_runner(self.settings, sum(store.size(f.key) for f in files))

    def _started(self, kind: RunnerKind) -> TaskRunner[Any]:
        if kind not in self._runners:
            runner = make_task_runner(self.settings, cluster_kwargs=self.cluster_kwargs, kind=kind)
            self._runners[kind] = runner.__enter__()
        return self._runners[kind]

    def __call__(
        self,
        check: FileChecker,
        files: Sequence[StoredFile],
        names: Sequence[str],
        contexts: Sequence[CheckContext],
    ) -> Iterable[FileCheck]:
        if not files:
            return []
        label = f"{_delivery_of(names)} ({len(files)} files)"
        choice = self._choice(files)
        self.choices.append(choice)
        run_logger().info("Checking %s on the %s runner: %s.", label, choice.kind, choice.why)
        progress = Progress(f"checking {label}", len(files))
        futures = self._started(choice.kind).map(
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
