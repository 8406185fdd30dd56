"""A flow run with a parameter that cannot be used fails at once, with the one sentence
of `tasks.rules.options` as its state message (not a traceback)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from prefect import get_run_logger
from prefect.states import Failed

from rentree.tasks.rules.options import OptionError

F = TypeVar("F", bound=Callable[..., Any])


def refuse_bad_options(function: F) -> F:
    """Wrap a flow function (under `@flow`): an OptionError ends the run Failed, its
    sentence as the state message and in the run's log. The wrapper keeps the function's
    signature and docstring, which make the deployment's parameter form."""

    @wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except OptionError as exc:
            get_run_logger().error("Refused: %s", exc)
            return Failed(message=str(exc))

    return cast(F, checked)
