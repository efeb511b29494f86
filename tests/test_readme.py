"""The README's Python example runs as written, and the demo runs end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python example", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README.md has no python block under '## Python example'"
    return match.group(1)


def test_readme_example_runs_as_written(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(readme_example())
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"\[[01] [01] [01] [01] [01]\]", result.stdout)
    assert (tmp_path / ".modelyard" / "modelyard.db").is_file(), list(tmp_path.rglob("*.db"))


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```", 2)[1]
    assert "make demo" in first_block and "make test" in first_block
