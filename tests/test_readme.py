"""The README's Python examples run as written, and its links resolve in a clone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_example(heading: str = "## Python example") -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, f"README.md has no python block under {heading!r}"
    return match.group(1)


def run_example(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = cwd / "example.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    src = str(ROOT / "src")  # this checkout's modelyard, whatever the working directory
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_readme_example_runs_as_written(tmp_path: Path) -> None:
    result = run_example(readme_example(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"\[[01] [01] [01] [01] [01]\]", result.stdout)
    assert (tmp_path / ".modelyard" / "modelyard.db").is_file(), list(tmp_path.rglob("*.db"))


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```", 2)[1]
    assert "make demo" in first_block and "make test" in first_block


def test_readme_drift_example_runs_as_written(tmp_path: Path) -> None:
    result = run_example(readme_example("## Drift monitoring"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True ['amount']"
    assert "<html" in (tmp_path / "drift.html").read_text().lower()


def test_readme_links_resolve_in_a_clone() -> None:
    text = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            path = (ROOT / target).resolve()
            assert ROOT in path.parents and path.exists(), f"README links {target}"
