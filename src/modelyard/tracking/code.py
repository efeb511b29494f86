"""Where the code of a run came from: the git commit (and whether the tree was dirty)."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path


@functools.lru_cache(maxsize=8)
def git_commit(directory: str | None = None) -> str | None:
    """The HEAD commit of the repository around ``directory`` (default: cwd), or None."""
    cwd = directory or str(Path.cwd())
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def git_dirty(directory: str | None = None) -> bool | None:
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory or None,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def source_name() -> str:
    """The script that is running, or 'interactive'."""
    main = sys.argv[0] if sys.argv and sys.argv[0] else ""
    return main if main and main != "-c" else "interactive"
