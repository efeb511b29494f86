"""Training-serving parity: offline point-in-time values against online values, for a sample
of entities at the same instant."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ParityMismatch", "ParityReport", "same_value"]


@dataclass(frozen=True, slots=True)
class ParityMismatch:
    view: str
    entity: dict[str, Any]
    feature: str
    offline: Any
    online: Any
    online_status: str


@dataclass
class ParityReport:
    at_ms: int
    entities: int = 0
    compared: int = 0
    skipped_newer_online: int = 0
    mismatches: list[ParityMismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict[str, Any]:
        return {
            "at_ms": self.at_ms,
            "entities": self.entities,
            "compared": self.compared,
            "skipped_newer_online": self.skipped_newer_online,
            "ok": self.ok,
            "mismatches": [
                {
                    "view": m.view,
                    "entity": m.entity,
                    "feature": m.feature,
                    "offline": m.offline,
                    "online": m.online,
                    "online_status": m.online_status,
                }
                for m in self.mismatches
            ],
        }


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def same_value(offline: Any, online: Any) -> bool:
    """Equal, with floats equal to 1e-9 relative (sums may add up in another order)."""
    a, b = _plain(offline), _plain(online)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def compare(
    report: ParityReport,
    view: str,
    keys: list[dict[str, Any]],
    names: list[str],
    offline_rows: list[list[Any]],
    online: Any,
) -> None:
    """Add one view's comparison to the report."""
    report.entities += len(keys)
    for i, entity in enumerate(keys):
        for j, name in enumerate(names):
            status = online.statuses[i][j]
            stamp = online.event_ms[i][j]
            if status == "present" and stamp is not None and stamp > report.at_ms:
                report.skipped_newer_online += 1
                continue
            report.compared += 1
            offline_value = _plain(offline_rows[i][j])
            online_value = online.values[i][j]
            if not same_value(offline_value, online_value):
                report.mismatches.append(
                    ParityMismatch(view, entity, name, offline_value, online_value, status)
                )
