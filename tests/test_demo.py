"""`make demo` runs end to end on embedded defaults (here in a temporary home)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modelyard.demo", "--home", str(tmp_path / "home")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Summary" in result.stdout
    assert "live requests: 400 answered" in result.stdout  # the model server step
    assert "prediction log: 402 rows" in result.stdout
    assert (tmp_path / "home" / "modelyard.db").is_file()
