"""The register step: gate, then register (and promote) in one transaction, or record why not.

Never cached: it reads the registry as it is now. A model a previous run already registered
(same training inputs, found by the ``modelyard.pipeline.train_key`` tag) is reused rather than
registered twice. Every registered version gets a reference profile for drift monitoring: the
raw training inputs (what the server logs as ``input.<name>``) and the model's predictions on
them (the positive class's probability for two classes, else the predicted values or labels).
"""

from __future__ import annotations

from typing import Any

from modelyard.entities import LineageEdge, LineageNode
from modelyard.monitoring import PROFILE_TAG, Profile, build_profile, save_profile
from modelyard.pipeline.context import Context, StepOutcome
from modelyard.pipeline.gate import TRAIN_KEY_TAG, GateResult, evaluate_gate, find_version
from modelyard.pipeline.metrics import predict
from modelyard.pipeline.steps import evaluation_metrics
from modelyard.registry import RegistryClient

__all__ = ["register_step"]


def register_step(ctx: Context) -> StepOutcome:
    reg = ctx.spec.registration
    if reg is None:
        return StepOutcome("register", "skipped", summary="no register section")
    registry = RegistryClient(ctx.workspace)
    key = ctx.keys["train"]
    gate_metric = None
    if reg.gate is not None:
        gate_metric = next(m for m in evaluation_metrics(ctx) if m.name == reg.gate.metric)
    gate = evaluate_gate(
        reg.gate,
        model_name=reg.model,
        metric=gate_metric,
        value=ctx.metrics.get(reg.gate.metric) if reg.gate else None,
        train_key=key,
        registry=registry,
        X_test=ctx.X_test,  # type: ignore[arg-type]
        y_test=ctx.y_test,  # type: ignore[arg-type]
        threshold=ctx.spec.evaluate.threshold,
    )
    ctx.gate = gate
    ctx.artifact_json(gate.to_dict(), "register/gate.json")
    ctx.run.set_tags(
        {
            "modelyard.pipeline.gate": "passed" if gate.passed else "failed",
            "modelyard.pipeline.gate.reason": "; ".join(gate.reasons)[:8000] or "passed",
        }
    )
    if not gate.passed and reg.on_gate_failure == "skip":
        ctx.registered = "nothing registered: gate failed"
        return StepOutcome(
            "register",
            "ran",
            summary=f"gate failed ({'; '.join(gate.reasons)}); nothing registered",
        )
    promote_to = reg.promote_to if gate.passed else None
    summary = _register(ctx, registry, gate, promote_to)
    return StepOutcome("register", "ran", summary=summary)


def _reason(ctx: Context, gate: GateResult) -> str:
    checks = "; ".join(c["detail"] for c in gate.checks if c["check"] != "none")
    return f"pipeline {ctx.spec.name} run {ctx.run.run_id}" + (f": {checks}" if checks else "")


def _register(
    ctx: Context, registry: RegistryClient, gate: GateResult, promote_to: str | None
) -> str:
    reg = ctx.spec.registration
    assert reg is not None
    key = ctx.keys["train"]
    existing = find_version(registry, reg.model, key)
    if existing is not None:
        moved = ""
        if promote_to and existing.stage == "production" and promote_to == "staging":
            moved = ", already in production (not moved back to staging)"
        elif promote_to and existing.stage != promote_to:
            registry.promote(reg.model, existing.version, promote_to, _reason(ctx, gate))
            moved = f", promoted to {promote_to}"
        elif promote_to:
            moved = f", already in {promote_to}"
        version = registry.get_version(reg.model, existing.version)
        if PROFILE_TAG not in version.tags:  # registered before profiles existed
            save_profile(ctx.workspace, reg.model, version.version, _reference(ctx))
        ctx.workspace.metadata.audit.add_lineage(
            [
                LineageEdge(
                    LineageNode("run", ctx.run.run_id),
                    LineageNode("model_version", f"{version.name}/{version.version}"),
                    "reproduced",
                )
            ]
        )
        _record(ctx, version, new=False)
        return f"same model as {reg.model} v{version.version} (registered before){moved}"
    tags: dict[str, Any] = {
        TRAIN_KEY_TAG: key,
        "modelyard.pipeline": ctx.spec.name,
        "modelyard.pipeline.run_id": ctx.run.run_id,
        "modelyard.pipeline.gate": "passed" if gate.passed else "failed",
        **(ctx.features.tags() if ctx.features is not None else {}),
        **reg.tags,
    }
    version = registry.register_model(
        f"runs:/{ctx.run.run_id}/model",
        reg.model,
        description=reg.description or f"trained by pipeline {ctx.spec.name}",
        tags=tags,
        promote_to=promote_to,
        reason=_reason(ctx, gate),
        reference=_reference(ctx),
        trusted_types=ctx.trusted_types,  # declared by the spec's author (import paths)
    )
    _record(ctx, version, new=True)
    where = f" and promoted to {promote_to}" if promote_to else ""
    failed = "" if gate.passed else f" (gate failed: {'; '.join(gate.reasons)}; not promoted)"
    return f"registered {reg.model} v{version.version}{where}{failed}"


def _reference(ctx: Context) -> Profile:
    """The profile of the training inputs and of the model's predictions on the held-out rows:
    in-sample predictions are more confident than any the model makes in production, so a
    reference taken from them would report prediction drift on a healthy model."""
    assert ctx.X_train is not None
    held_out = ctx.X_test is not None and len(ctx.X_test) > 0
    X, y = (ctx.X_test, ctx.y_test) if held_out else (ctx.X_train, ctx.y_train)
    preds = predict(ctx.model, X, y, ctx.spec.evaluate.threshold)
    if preds.proba is not None and preds.binary:
        values, column, kind = preds.proba[:, 1], "proba", "numeric"
    else:
        values, column = preds.labels, "prediction"
        kind = "categorical" if ctx.task == "classification" else "numeric"
    return build_profile(
        ctx.X_train, predictions=values, prediction_column=column, prediction_kind=kind
    )


def _record(ctx: Context, version: Any, *, new: bool) -> None:
    ctx.version = version
    ctx.registered = f"{version.name}/{version.version}"
    ctx.run.set_tags(
        {
            "modelyard.pipeline.model_version": ctx.registered,
            "modelyard.pipeline.registered": "new" if new else "existing",
        }
    )
