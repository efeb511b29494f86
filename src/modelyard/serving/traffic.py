"""Traffic splitting: a weighted choice of variant, sticky by a request key, and shadow sampling.

With a routing key (a header, e.g. a customer id), the variant is a pure function of the key
(BLAKE2b of the key, mapped onto the cumulative weights): the same key always lands on the same
variant, in every worker process and after every restart, as long as the weights stay the same.
Without one, the choice is random by weight.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Sequence

__all__ = ["Router", "key_fraction"]

_SCALE = float(2**64)


def key_fraction(key: str, salt: str = "") -> float:
    """A stable number in [0, 1) for ``key`` (the same in every process)."""
    digest = hashlib.blake2b((salt + "\x00" + key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


class Router:
    """Picks one of ``names`` with probability proportional to ``weights``."""

    def __init__(self, names: Sequence[str], weights: Sequence[float], *, salt: str = "") -> None:
        total = float(sum(weights))
        self.names = list(names)
        self.salt = salt
        self._cumulative: list[float] = []
        running = 0.0
        for weight in weights:
            running += weight / total
            self._cumulative.append(running)
        self._cumulative[-1] = 1.0
        self._random = random.Random()
        self.single = len([w for w in weights if w > 0]) == 1
        self._only = self.names[next(i for i, w in enumerate(weights) if w > 0)]

    def pick(self, key: str | None = None) -> str:
        if self.single:
            return self._only
        point = key_fraction(key, self.salt) if key else self._random.random()
        return self.names[bisect.bisect_right(self._cumulative, point)]

    def sample(self, fraction: float, key: str | None = None) -> bool:
        """Whether a request takes part in something done for ``fraction`` of the traffic
        (sticky by key too, with another salt)."""
        if fraction >= 1.0:
            return True
        point = key_fraction(key, self.salt + ":shadow") if key else self._random.random()
        return point < fraction
