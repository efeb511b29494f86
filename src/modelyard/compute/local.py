"""``local``: tasks run in worker processes on this machine.

Each task runs in a fresh interpreter (``python -m modelyard.compute.worker``), never a fork of
the caller: a fork would copy open database connections and OpenMP thread pools (LightGBM
deadlocks in such a child), and the ``spawn`` / ``forkserver`` start methods would re-import the
caller's script (which then needs an ``if __name__ == "__main__"`` guard). The function travels
by reference (``module:name``) with its argument in a file the worker reads; results come back
the same way. A thread per running task waits for its process, so at most ``workers`` run at
once and the rest queue.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path
from typing import Any, TypeVar

from modelyard.compute.base import ComputeBackend, TaskGroup
from modelyard.errors import ConfigError, InvalidArgumentError, ModelyardError

__all__ = ["LocalBackend", "TaskFailedError"]

T = TypeVar("T")


class TaskFailedError(ModelyardError):
    """A task's process died or its function raised something that could not be sent back."""


class _ProcessTasks(TaskGroup[T]):
    def __init__(self, fn: Callable[[Any], T], args: Sequence[Any], workers: int) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="modelyard-tasks-"))
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._cancelled = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelyard-task")
        self._futures: list[Future[T]] = [
            self._pool.submit(self._run_one, i, fn, arg) for i, arg in enumerate(args)
        ]

    def _run_one(self, index: int, fn: Callable[[Any], T], arg: Any) -> T:
        task, result, log = (self._dir / f"{index}.{ext}" for ext in ("task", "result", "log"))
        # The worker first takes this process's import path, so the function and anything the
        # argument names by import path (a user's feature functions) resolve the same way.
        task.write_bytes(pickle.dumps((list(sys.path), pickle.dumps((fn, arg)))))
        with self._lock:
            if self._cancelled:
                raise TaskFailedError("cancelled before it started")
            with open(log, "wb") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "modelyard.compute.worker", str(task), str(result)],
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=subprocess.STDOUT,
                )
            self._procs[index] = proc
        code = proc.wait()
        if result.is_file():
            status, value = pickle.loads(result.read_bytes())
            if status == "ok":
                return value  # type: ignore[no-any-return]
            raise value
        tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
        raise TaskFailedError(
            f"Task {index} ({getattr(fn, '__name__', fn)}) exited with code {code} and no "
            f"result.{' Its output ends with:' + chr(10) + tail if tail else ''}",
            task=index,
            exit_code=code,
        )

    def wait(self, timeout: float | None = None) -> bool:
        done, pending = wait_futures(self._futures, timeout, return_when=FIRST_EXCEPTION)
        failed = any(not f.cancelled() and f.exception() is not None for f in done)
        return not pending or failed

    def results(self) -> list[T]:
        try:
            return [f.result() for f in self._futures]
        finally:
            self.cancel()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            for proc in self._procs.values():
                if proc.poll() is None:
                    proc.terminate()
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for proc in self._procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        _remove(self._dir)


def _remove(directory: Path) -> None:
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


class LocalBackend(ComputeBackend):
    """Processes on this machine. ``workers`` defaults to the number of CPUs."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(
                f"compute 'local:{workers}' needs at least 1 worker; use 'local' for one per CPU.",
                setting="compute",
            )
        self.workers = workers or os.cpu_count() or 1

    @classmethod
    def from_uri(cls, uri: str) -> LocalBackend:
        """``local`` (one worker per CPU) or ``local:N``."""
        _, _, count = uri.partition(":")
        if not count:
            return cls()
        if not count.isdigit():
            raise ConfigError(
                f"Invalid compute setting {uri!r}: use 'local' or 'local:N' (N workers).",
                setting="compute",
                value=uri,
            )
        return cls(int(count))

    @property
    def parallelism(self) -> int:
        return self.workers

    def start(
        self, fn: Callable[[Any], T], args: Sequence[Any], *, max_parallel: int | None = None
    ) -> TaskGroup[T]:
        module = getattr(fn, "__module__", None)
        if module in (None, "__main__") or "<locals>" in getattr(fn, "__qualname__", ""):
            raise InvalidArgumentError(
                f"{fn!r} cannot run in a worker process: pass a function defined at the top "
                "level of an importable module (not in __main__ or inside another function).",
                field="fn",
            )
        n = max(1, min(len(args) or 1, max_parallel or self.workers, self.workers))
        return _ProcessTasks(fn, args, n)
