"""The step cache: a step's outputs, keyed by a hash of everything that determines them.

    key = step_key("train", spec.train, upstream=[transform_key, tune_key])
    hit = cache.get("train", key)            # a directory, or None
    out = cache.put("train", key, write)     # write(tmp_dir) fills a fresh directory

A key hashes the step's spec section, its upstream steps' keys (which hash their own inputs,
down to the data fingerprint), the global seed and the modelyard version, so changing a data
file or one section re-runs exactly the steps downstream of it. Entries live on local disk
under ``<cache_dir>/pipeline/<step>/<key>`` and are written to a temporary directory first, then
renamed: a crash never leaves a half-written entry that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["StepCache", "step_key"]

T = TypeVar("T")
_DONE = "_entry.json"


def package_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("modelyard")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "unknown"


def _canonical(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True)
    return value


def step_key(step: str, section: Any, *, upstream: Sequence[str] = (), seed: int = 0) -> str:
    """A sha256 of the step's inputs (JSON-canonical, so key order does not matter)."""
    payload = {
        "step": step,
        "section": _canonical(section),
        "upstream": list(upstream),
        "seed": seed,
        "modelyard": package_version(),
    }
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class StepCache:
    """Step outputs on local disk. ``enabled=False`` (``--no-cache``) reads nothing but still
    writes, so the next run can reuse what this one computed."""

    def __init__(self, root: str | Path, *, enabled: bool = True) -> None:
        self.root = Path(root)
        self.enabled = enabled

    def path(self, step: str, key: str) -> Path:
        return self.root / step / key[:40]

    def get(self, step: str, key: str) -> Path | None:
        if not self.enabled:
            return None
        entry = self.path(step, key)
        marker = entry / _DONE
        if not marker.is_file():
            return None
        try:
            if json.loads(marker.read_text()).get("key") != key:
                return None
        except (OSError, ValueError):
            return None
        return entry

    def info(self, entry: Path) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((entry / _DONE).read_text())
            return data
        except (OSError, ValueError):
            return {}

    def put(
        self, step: str, key: str, write: Callable[[Path], T], *, meta: dict[str, Any] | None = None
    ) -> tuple[T, Path]:
        """Run ``write(tmp)`` to fill a new entry; returns its result and the entry directory."""
        target = self.path(step, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        try:
            result = write(tmp)
            info = {"key": key, "step": step, "created": time.time(), **(meta or {})}
            (tmp / _DONE).write_text(json.dumps(info, default=str))
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
            try:
                tmp.rename(target)
            except OSError:  # another process wrote the same entry meanwhile: keep theirs
                shutil.rmtree(tmp, ignore_errors=True)
                return result, target
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return result, target

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
