"""Running the CLI as a user does: a real process, this checkout's modelyard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import modelyard


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``modelyard --home HOME ARGS`` in a new process (wide enough that tables do not wrap)."""
    src = str(Path(modelyard.__file__).parents[1])  # this checkout's modelyard, not another
    path = os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "modelyard.cli.main", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": path},
    )
