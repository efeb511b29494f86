"""A model step the tests control: slow it down or make it fail, from the test, while a server
in the same process scores with it (saved by reference, trusted through the registry)."""

from __future__ import annotations

import time
from typing import Any

STATE: dict[str, float] = {"delay_s": 0.0, "fail": 0.0}
CALLS: list[int] = []


def passthrough(X: Any) -> Any:
    CALLS.append(len(X))
    if STATE["delay_s"]:
        time.sleep(STATE["delay_s"])
    if STATE["fail"]:
        raise RuntimeError("the model is broken (test)")
    return X


def reset() -> None:
    STATE.update(delay_s=0.0, fail=0.0)
    CALLS.clear()
