"""What every command shares: exit codes, the one-sentence failure, the workspace."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from rentree.infra.workspace import Workspace

# Commands import what they need when they run: `rentree --help` stays instant.

# operations.md: 0 done, 1 done with rejected input or a hold, 2 unusable command or configuration.
EXIT_DONE = 0
EXIT_REJECTED = 1
EXIT_UNUSABLE = 2


class LazyConsole:
    """rich's Console, made on first use: importing rich costs more than the rest of
    importing the CLI, and `rentree --help` prints nothing through it."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def rich(self) -> Console:
        if self._console is None:
            from rich.console import Console

            # Soft wrap: a line is never cut by rich (a terminal folds it on screen, a file
            # keeps it whole), so that paths and URLs stay one piece to copy; tables still
            # fit the width.
            self._console = Console(stderr=self._stderr, soft_wrap=True)
        return self._console

    def print(self, *objects: object, **options: Any) -> None:
        self.rich.print(*objects, **options)


console = LazyConsole()
err_console = LazyConsole(stderr=True)

T = TypeVar("T")


def fail(sentence: str, code: int = EXIT_UNUSABLE) -> NoReturn:
    err_console.print(f"[bold red]rentree:[/] {sentence}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def workspace(*, create: bool = False) -> Iterator[Workspace]:
    """Open the workspace, turning configuration problems into one sentence and exit 2.

    Only `create` (`rentree init`) makes a new database, schema and storage layout."""
    import click
    from sqlalchemy.exc import ArgumentError

    from rentree.infra.errors import ADVICE, DatabaseError, safe_sentence
    from rentree.infra.settings import ConfigurationError, redact_url
    from rentree.infra.workspace import open_workspace

    try:
        ws = open_workspace(create=create)
    except ConfigurationError as exc:
        fail(str(exc))
    except DatabaseError as exc:
        fail(
            f"the database in RENTREE_DATABASE_URL cannot be opened ({exc}); "
            "check the URL and that the server is running."
        )
    except ArgumentError as exc:
        fail(f"RENTREE_DATABASE_URL is not a usable database URL ({redact_url(str(exc))}); fix it.")
    try:
        yield ws
    except ConfigurationError as exc:
        # raised while working, e.g. the bucket of RENTREE_STORAGE_URL cannot be reached
        fail(str(exc))
    except DatabaseError as exc:
        fail(f"{exc}; {ADVICE}.")
    except Exception as exc:
        # a sentence already said (`fail`) or a stop asked for: typer's Exit is not click's
        if isinstance(exc, typer.Exit | click.exceptions.Exit | click.exceptions.Abort):
            raise
        # never a traceback, never a library's text (it may quote the data)
        fail(f"the command stopped: {safe_sentence(exc)}; {ADVICE}.")
    finally:
        ws.engine.dispose()


def guarded(action: Callable[[], T]) -> T:
    from rentree.infra.settings import ConfigurationError

    try:
        return action()
    except ConfigurationError as exc:
        fail(str(exc))
