"""The compute backend protocol: run many independent tasks at once, somewhere.

A backend takes a picklable, module-level function and a list of picklable arguments, starts
them (up to ``parallelism`` at a time) and hands back a :class:`TaskGroup` the caller can poll
while it shows progress. Results come back in the order of the arguments.

Adding a backend (e.g. Ray) is one module with a subclass and one ``register_backend`` call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

__all__ = ["ComputeBackend", "TaskGroup"]

T = TypeVar("T")


class TaskGroup(ABC, Generic[T]):
    """Tasks started together. ``wait`` polls; ``results`` blocks and re-raises a task's error."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` seconds; True once every task has finished (or failed)."""

    @abstractmethod
    def results(self) -> list[T]:
        """Every task's result, in submission order; raises the first task's exception."""

    @abstractmethod
    def cancel(self) -> None:
        """Stop tasks that have not started and release the workers."""

    def __enter__(self) -> TaskGroup[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class ComputeBackend(ABC):
    """Where parallel work (tuning trials, batch scoring) runs."""

    name: ClassVar[str]

    @property
    @abstractmethod
    def parallelism(self) -> int:
        """How many tasks this backend runs at once."""

    @property
    def shares_local_files(self) -> bool:
        """True when tasks see this machine's files (a local process pool); a remote cluster
        must be given data another way (an artifact store URI)."""
        return True

    @abstractmethod
    def start(
        self, fn: Callable[[Any], T], args: Sequence[Any], *, max_parallel: int | None = None
    ) -> TaskGroup[T]:
        """Start ``fn(arg)`` for each argument; returns at once."""

    def map(
        self, fn: Callable[[Any], T], args: Sequence[Any], *, max_parallel: int | None = None
    ) -> list[T]:
        """Run ``fn`` over ``args`` and wait for every result."""
        with self.start(fn, args, max_parallel=max_parallel) as group:
            return group.results()

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release long-lived resources (worker pools, cluster connections)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} parallelism={self.parallelism}>"
