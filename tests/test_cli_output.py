"""What the CLI writes stays usable in a file: a long path or URL is whole on one line (rich
never cuts it at the width of a terminal it does not have)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_a_summary_written_to_a_file_keeps_long_paths_whole(tmp_path: Path) -> None:
    deep = tmp_path / ("a-folder-with-a-long-name-" * 3) / "and-another-one-below-it"
    deep.mkdir(parents=True)
    database, storage = deep / "rentree-directory.db", deep / "storage-root-folder"
    out = tmp_path / "summary.txt"
    env = {
        **os.environ,
        "RENTREE_DATABASE_URL": f"sqlite:///{database}",
        "RENTREE_STORAGE_URL": str(storage),
        "COLUMNS": "80",
    }
    with out.open("w") as summary:
        done = subprocess.run(
            [str(BIN / "rentree"), "init"], env=env, stdout=summary, stderr=subprocess.PIPE
        )
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert len(str(database)) > 80
    assert any(str(database) in line for line in lines), lines
    assert any(storage.as_uri() in line for line in lines), lines
