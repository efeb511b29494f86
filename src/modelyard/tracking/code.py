"""Where the code of a run came from: the git commit (and whether the tree was dirty)."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path


def _git(args: list[str], cwd: str) -> str | None:
    """stdout of a git command, or None when git is missing or the directory is no repository."""
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=32)
def _commit(cwd: str) -> str | None:
    commit = _git(["rev-parse", "HEAD"], cwd)
    return commit if commit is not None and len(commit) == 40 else None


def git_commit(directory: str | None = None) -> str | None:
    """The HEAD commit of the repository around ``directory`` (default: cwd), or None."""
    return _commit(str(Path(directory or Path.cwd()).resolve()))


def git_dirty(directory: str | None = None) -> bool | None:
    status = _git(["status", "--porcelain", "--untracked-files=no"], directory or str(Path.cwd()))
    return None if status is None else bool(status)


def source_name() -> str:
    """The script that is running, or 'interactive'."""
    main = sys.argv[0] if sys.argv and sys.argv[0] else ""
    return main if main and main != "-c" else "interactive"
