"""Every task of rentree's flows: Prefect's `@task`, with what leaves it translated.

An exception raised inside a task reaches Prefect's task-run log (its traceback) and the
task run's state message before the flow sees it: a database error quoting the row being
written, an OS error quoting a path that holds a name. So the exception that leaves a task
is one of rentree's own sentences, with no chained exception of a library behind it
(`infra.errors`): rentree's own errors as they are (flows catch them by type), any other
replaced by `RunFailed` with `safe_sentence`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task

from rentree.infra.errors import RunFailed, is_own_sentence, safe_sentence

P = ParamSpec("P")
R = TypeVar("R")


def safe_task(**options: Any) -> Callable[[Callable[P, R]], Task[P, R]]:
    """`@task(**options)` whose exceptions hold no record value (the task's boundary)."""

    def decorate(fn: Callable[P, R]) -> Task[P, R]:
        @functools.wraps(fn)
        def translated(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if is_own_sentence(exc):
                    # its sentence is safe; the library error it may chain is not
                    exc.__cause__ = exc.__context__ = None
                    exc.__suppress_context__ = True
                    raise
                raise RunFailed(safe_sentence(exc)) from None

        return task(translated, **options)

    return decorate
