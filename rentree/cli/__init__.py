"""The `rentree` command: from a terminal, what the Prefect UI does."""

from __future__ import annotations

import typer

from rentree.cli import directory, feeds, flows, generate, inventory, sync

app = typer.Typer(
    name="rentree",
    help="School-year rollover of a regional primary-school ENT.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help: typer's rich help formatter imports markdown and syntax highlighting,
    # which would double the time of `rentree --help`.
    rich_markup_mode=None,
)


def _show_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"rentree {version('rentree')}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        help="Print rentree's version and exit.",
    ),
) -> None:
    """School-year rollover of a regional primary-school ENT."""


directory.register(app)
feeds.register(app)
inventory.register(app)
flows.register(app)
generate.register(app)
sync.register(app)


def main() -> None:
    app()
