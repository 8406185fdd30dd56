"""A run's result on the terminal: sentences and tables, never a printed dict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rentree.cli.common import console

# What a run's status means, said to the operator.
STATUS_SENTENCES = {
    "completed": "done",
    "held": "held: nothing of the held delivery applied, an operator decides (exit 1)",
    "rejected": "done, with rejected input (exit 1): see why below",
}
_NOT_SHOWN = {"status", "run_id", "message", "reports"}


def _label(key: str) -> str:
    return key.replace("_", " ")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def print_outcome(name: str, outcome: dict[str, Any], links: Callable[[str], str]) -> None:
    """A run's result as sentences and tables (never a printed dict); report folders as full
    paths or URLs, printed whole on one line so that a copied path works."""
    status = str(outcome.get("status", "completed"))
    console.print(
        f"[bold]{name}[/]: {STATUS_SENTENCES.get(status, status)}. Run {outcome.get('run_id')}.",
        highlight=False,
        soft_wrap=True,
    )
    if outcome.get("message"):
        console.print(str(outcome["message"]), highlight=False, soft_wrap=True)
    from rich.table import Table

    figures = Table("what", "value", title="Figures", title_justify="left")
    for key, value in outcome.items():
        if key in _NOT_SHOWN or value is None:
            continue
        if isinstance(value, dict):
            if value:
                table = Table(*map(_label, value), title=_label(key), title_justify="left")
                table.add_row(*map(_cell, value.values()))
                console.print(table)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            table = Table(*map(_label, value[0]), title=_label(key), title_justify="left")
            for row in value:
                table.add_row(*(_cell(row.get(c, "")) for c in value[0]))
            console.print(table)
        elif isinstance(value, list):
            if value:
                console.print(
                    f"{_label(key)}: {', '.join(map(str, value))}", highlight=False, soft_wrap=True
                )
        else:
            figures.add_row(_label(key), _cell(value))
    if figures.row_count:
        console.print(figures)
    folders: dict[str, int] = {}
    for key in outcome.get("reports", []) or []:
        folder = key.rsplit("/", 1)[0] + "/"
        folders[folder] = folders.get(folder, 0) + 1
    for folder, files in folders.items():
        console.print(f"Reports ({files} files): {links(folder)}", highlight=False, soft_wrap=True)
