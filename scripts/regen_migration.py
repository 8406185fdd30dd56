"""Regenerate the initial migration from `infra/schema.py` (only while nothing is deployed).

Once a directory runs in production, schema changes get a new revision instead:
`alembic revision --autogenerate` against a database at head.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from rentree.infra.db import alembic_config, make_engine

VERSIONS = Path(__file__).resolve().parents[1] / "rentree/infra/migrations/versions"


def main() -> None:
    for old in VERSIONS.glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/empty.db")
        command.revision(
            alembic_config(engine), message="directory schema", autogenerate=True, rev_id="0001"
        )
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "ruff"), "format", "-q", str(VERSIONS)], check=True)


if __name__ == "__main__":
    main()
