"""Functions the compute tests run in worker processes (they must be importable)."""

from __future__ import annotations

import os
import time


def square_with_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def sleep_then(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def fail_on(x: int) -> int:
    if x == 2:
        raise ValueError(f"bad input {x}")
    return x


def exit_hard(_: int) -> int:
    os._exit(3)
