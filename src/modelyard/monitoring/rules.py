"""Alert rules against the values one check produced."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.entities.monitoring import RuleObservation
from modelyard.monitoring.spec import RuleSpec

__all__ = ["observe"]


def observe(
    rules: Sequence[RuleSpec],
    values: Mapping[str, float | None],
    evidence: Mapping[str, Mapping[str, Any]],
    reasons: Mapping[str, str],
) -> list[RuleObservation]:
    """One observation per rule. A metric without a value (not enough data, no profile, a check
    that failed) gives ``breached=None``: the rule cannot tell, so nothing opens or resolves.

    ``evidence``: per check kind, what to store with an alert; ``reasons``: per check kind, why
    its values are missing."""
    out = []
    for rule in rules:
        value = values.get(rule.metric)
        proof = dict(evidence.get(rule.kind, {}))
        if value is None:
            why = reasons.get(rule.kind) or f"{rule.metric} could not be computed"
            out.append(_observation(rule, None, None, f"{rule.rule_name}: unknown ({why})", proof))
            continue
        breached = rule.breached(value)
        verdict = "holds" if breached else "clear"
        message = f"{rule.metric} = {value:.4g} ({rule.rule_name}: {verdict})"
        out.append(_observation(rule, value, breached, message, proof))
    return out


def _observation(
    rule: RuleSpec,
    value: float | None,
    breached: bool | None,
    message: str,
    evidence: dict[str, Any],
) -> RuleObservation:
    return RuleObservation(
        rule=rule.rule_name,
        metric=rule.metric,
        kind=rule.kind,
        value=value,
        threshold=rule.threshold,
        op=rule.op,
        breached=breached,
        severity=rule.severity,
        message=message,
        evidence=evidence,
    )
