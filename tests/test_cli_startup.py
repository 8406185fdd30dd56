"""`rentree --help` stays instant: the command line imports the heavy libraries (polars,
SQLAlchemy, Prefect, pandera, pydantic settings, rich) only when a command runs; the storage
report imports matplotlib only to draw its charts."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "polars",
    "sqlalchemy",
    "prefect",
    "pandera",
    "pydantic_settings",
    "lxml",
    "numpy",
    "rich",
)


def test_help_imports_no_heavy_library() -> None:
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rentree.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "for name in ('run', 'generate', 'validate'):\n"
        "    assert CliRunner().invoke(app, [name, '--help']).exit_code == 0\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"imported by --help: {done.stdout.strip()}"


def test_storage_report_imports_matplotlib_only_to_draw() -> None:
    probe = (
        "import sys\n"
        "import rentree.tasks.content.storage_report\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
