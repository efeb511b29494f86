"""One conformance suite for the metadata store, run against every backend (SQLite and a real
PostgreSQL). Each test gets a fresh, empty database."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from modelyard.entities import DatasetInput, LineageNode, Metric, RunStatus
from modelyard.errors import (
    AlreadyExistsError,
    ConflictError,
    FilterSyntaxError,
    InvalidArgumentError,
    NotFoundError,
)
from modelyard.storage.metadata import MetadataStore, open_metadata_store

ROOT = "file:///tmp/artifacts"


@pytest.fixture
def store(metadata_uri: str) -> Iterator[MetadataStore]:
    s = open_metadata_store(metadata_uri)
    yield s
    s.close()


def new_run(store: MetadataStore, exp: str = "exp", **kwargs: object) -> str:
    experiment = store.tracking.get_experiment_by_name(exp) or store.tracking.create_experiment(
        exp, ROOT
    )
    run = store.tracking.create_run(experiment.experiment_id, name="r", user="tester", **kwargs)
    return run.run_id


# -- experiments and runs ------------------------------------------------------------------
def test_experiments(store: MetadataStore) -> None:
    exp = store.tracking.create_experiment("fraud", ROOT, tags={"team": "risk"})
    assert exp.name == "fraud"
    assert exp.artifact_location == f"{ROOT}/{exp.experiment_id}"
    assert dict(exp.tags) == {"team": "risk"}
    with pytest.raises(AlreadyExistsError):
        store.tracking.create_experiment("fraud", ROOT)
    assert store.tracking.get_experiment(exp.experiment_id).name == "fraud"
    assert store.tracking.get_experiment_by_name("nope") is None
    with pytest.raises(NotFoundError):
        store.tracking.get_experiment("999")
    store.tracking.set_experiment_tag(exp.experiment_id, "team", "fraud-ops")
    assert store.tracking.get_experiment(exp.experiment_id).tags["team"] == "fraud-ops"
    assert [e.name for e in store.tracking.list_experiments()] == ["fraud"]
    store.tracking.delete_experiment(exp.experiment_id)
    assert store.tracking.list_experiments() == []
    assert len(store.tracking.list_experiments(include_deleted=True)) == 1


def test_run_lifecycle(store: MetadataStore) -> None:
    run_id = new_run(store, tags={"source": "unit"})
    run = store.tracking.get_run(run_id)
    assert run.status is RunStatus.RUNNING
    assert run.end_time is None
    assert run.artifact_uri.endswith(f"/{run_id}/artifacts")
    assert run.tags["source"] == "unit"
    store.tracking.update_run(run_id, status="finished", end_time=run.start_time + 5)
    done = store.tracking.get_run(run_id)
    assert done.status is RunStatus.FINISHED
    assert done.duration_ms == 5
    with pytest.raises(InvalidArgumentError, match="Invalid run status"):
        store.tracking.update_run(run_id, status="DONE")
    with pytest.raises(NotFoundError, match="No run with id"):
        store.tracking.get_run("0" * 32)


def test_child_runs_need_a_real_parent(store: MetadataStore) -> None:
    parent = new_run(store)
    child = new_run(store, parent_run_id=parent)
    assert store.tracking.get_run(child).parent_run_id == parent
    with pytest.raises(NotFoundError):
        new_run(store, parent_run_id="f" * 32)


def test_params_are_immutable(store: MetadataStore) -> None:
    run_id = new_run(store)
    store.tracking.log_params(run_id, {"lr": 0.1, "model": "lgbm", "depth": 6})
    store.tracking.log_params(run_id, {"lr": 0.1})  # same value again is fine
    with pytest.raises(ConflictError, match="Param 'lr'.*already '0.1'"):
        store.tracking.log_params(run_id, {"lr": 0.2})
    assert dict(store.tracking.get_run(run_id).params) == {
        "lr": "0.1",
        "model": "lgbm",
        "depth": "6",
    }
    with pytest.raises(InvalidArgumentError, match="Invalid param name"):
        store.tracking.log_params(run_id, {"bad\nname": 1})
    with pytest.raises(InvalidArgumentError, match="6000"):
        store.tracking.log_params(run_id, {"long": "x" * 7000})
    with pytest.raises(NotFoundError):
        store.tracking.log_params("0" * 32, {"a": 1})


def test_tags(store: MetadataStore) -> None:
    run_id = new_run(store)
    store.tracking.set_tags(run_id, {"a": "1", "b": "2"})
    store.tracking.set_tags(run_id, {"a": "3"})
    store.tracking.delete_tag(run_id, "b")
    assert store.tracking.get_run(run_id).tags == {"a": "3"}
    with pytest.raises(NotFoundError):
        store.tracking.delete_tag(run_id, "b")


# -- metrics -------------------------------------------------------------------------------
def test_metric_history_and_latest(store: MetadataStore) -> None:
    run_id = new_run(store)
    for step in range(5):
        store.tracking.log_metric(
            run_id, "loss", 1.0 / (step + 1), step=step, timestamp=1000 + step
        )
    written = store.tracking.log_metrics(
        run_id, [Metric("acc", 0.5, 0, 10), Metric("acc", 0.7, 2, 12), Metric("acc", 0.6, 1, 11)]
    )
    assert written == 3
    history = store.tracking.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    assert history[-1].value == pytest.approx(0.2)
    acc = store.tracking.get_metric_history(run_id, "acc")
    assert [(m.step, m.value) for m in acc] == [(0, 0.5), (1, 0.6), (2, 0.7)]
    # the latest value is the one at the highest step, whatever the order of logging
    assert store.tracking.get_run(run_id).metrics == {"loss": pytest.approx(0.2), "acc": 0.7}
    # an older step logged later does not replace the latest
    store.tracking.log_metric(run_id, "acc", 0.1, step=1, timestamp=99)
    assert store.tracking.get_run(run_id).metrics["acc"] == 0.7


def test_metric_values_nan_inf_and_bad_types(store: MetadataStore) -> None:
    run_id = new_run(store)
    store.tracking.log_metrics(
        run_id, [Metric("m", math.nan, 0, 1), Metric("m", math.inf, 1, 2), Metric("m", -3, 2, 3)]
    )
    values = [m.value for m in store.tracking.get_metric_history(run_id, "m")]
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -3.0
    import numpy as np

    store.tracking.log_metric(run_id, "np", np.float32(0.5))
    with pytest.raises(InvalidArgumentError, match="must be a number"):
        store.tracking.log_metric(run_id, "m", "high")
    with pytest.raises(InvalidArgumentError, match="step must be an integer"):
        store.tracking.log_metric(run_id, "m", 1.0, step="two")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        store.tracking.log_metric("0" * 32, "m", 1.0)
    # a failed batch writes nothing
    with pytest.raises(InvalidArgumentError):
        store.tracking.log_metrics(run_id, [Metric("ok", 1.0, 5, 1), Metric("ok", "x", 6, 1)])
    assert store.tracking.get_metric_history(run_id, "ok") == []


def test_many_points_in_one_call(store: MetadataStore) -> None:
    run_id = new_run(store)
    points = [Metric(f"m{k}", float(i), i, 1000 + i) for k in range(5) for i in range(2000)]
    assert store.tracking.log_metrics(run_id, points) == 10_000
    history = store.tracking.get_metric_history(run_id, "m3")
    assert len(history) == 2000
    assert history[1999].value == 1999.0
    assert store.tracking.get_run(run_id).metrics["m4"] == 1999.0


# -- inputs, artifacts, lineage ------------------------------------------------------------
def test_inputs_and_lineage(store: MetadataStore) -> None:
    run_id = new_run(store)
    ds = DatasetInput("train", "a" * 64, "s3://b/train.parquet", 100, {"x": "float64"})
    store.tracking.log_inputs(run_id, [ds, ds], actor="tester")
    run = store.tracking.get_run(run_id)
    assert run.inputs == (ds,)
    edges = store.audit.get_lineage(LineageNode("run", run_id), "upstream")
    assert [(e.source, e.relation) for e in edges] == [
        (LineageNode("dataset", "a" * 64), "input:training")
    ]


def test_artifact_records(store: MetadataStore) -> None:
    from modelyard.entities import ArtifactFile

    run_id = new_run(store)
    store.tracking.record_artifacts(
        run_id,
        [ArtifactFile("model/MODEL.yaml", 10, "1" * 64), ArtifactFile("plot.png", 5, "2" * 64)],
    )
    store.tracking.record_artifacts(run_id, [ArtifactFile("plot.png", 6, "3" * 64)])
    files = store.tracking.list_artifacts(run_id)
    assert [(f.path, f.size) for f in files] == [("model/MODEL.yaml", 10), ("plot.png", 6)]
    assert [f.path for f in store.tracking.list_artifacts(run_id, "model")] == ["model/MODEL.yaml"]


# -- search --------------------------------------------------------------------------------
@pytest.fixture
def searchable(store: MetadataStore) -> dict[str, str]:
    ids = {}
    for i, (model, auc, team) in enumerate(
        [
            ("lgbm", 0.91, "risk"),
            ("lgbm", 0.85, "risk"),
            ("xgb", 0.95, "growth"),
            ("logreg", None, "risk"),
        ]
    ):
        run_id = new_run(store, exp="e1" if i < 3 else "e2", start_time=1000 + i)
        store.tracking.log_params(run_id, {"model": model, "n": i})
        store.tracking.set_tags(run_id, {"team": team})
        if auc is not None:
            store.tracking.log_metric(run_id, "auc", auc)
        ids[f"{model}-{auc}"] = run_id
    store.tracking.update_run(ids["lgbm-0.85"], status="FAILED", end_time=2000)
    return ids


def names(page: object) -> list[str]:
    return [r.params["model"] + "-" + str(r.metrics.get("auc")) for r in page]  # type: ignore[attr-defined]


def test_search_filter_and_order(store: MetadataStore, searchable: dict[str, str]) -> None:
    t = store.tracking
    assert names(t.search_runs(filter="metrics.auc > 0.9 and params.model = 'lgbm'")) == [
        "lgbm-0.91"
    ]
    assert names(t.search_runs(filter="metrics.auc > 0.8", order_by="metrics.auc desc")) == [
        "xgb-0.95",
        "lgbm-0.91",
        "lgbm-0.85",
    ]
    # runs without the metric sort last, in either direction
    assert names(t.search_runs(order_by="metrics.auc"))[-1] == "logreg-None"
    assert names(t.search_runs(order_by="metrics.auc desc"))[-1] == "logreg-None"
    assert names(
        t.search_runs(filter="params.model in ('xgb', 'logreg')", order_by="params.model")
    ) == ["logreg-None", "xgb-0.95"]
    assert names(t.search_runs(filter="tags.team = 'growth' or metrics.auc < 0.9")) == [
        "xgb-0.95",
        "lgbm-0.85",
    ]
    assert names(t.search_runs(filter="attributes.status = 'failed'")) == ["lgbm-0.85"]
    assert names(t.search_runs(filter="metrics.auc is null")) == ["logreg-None"]
    assert names(
        t.search_runs(filter="params.model like 'l%'", order_by="attributes.start_time")
    ) == ["lgbm-0.91", "lgbm-0.85", "logreg-None"]
    assert names(t.search_runs(filter="params.model like 'L%'")) == []
    assert len(t.search_runs(filter="params.model ilike 'L%'")) == 3
    assert names(t.search_runs(filter="params.model != 'lgbm'", order_by="params.model desc")) == [
        "xgb-0.95",
        "logreg-None",
    ]
    e2 = t.get_experiment_by_name("e2")
    assert e2 is not None
    assert names(t.search_runs([e2.experiment_id])) == ["logreg-None"]


def test_search_pagination(store: MetadataStore, searchable: dict[str, str]) -> None:
    seen = []
    token = None
    while True:
        page = store.tracking.search_runs(
            order_by="attributes.start_time", max_results=3, page_token=token
        )
        seen += [r.run_id for r in page]
        token = page.next_page_token
        if token is None:
            break
    assert len(seen) == 4 and len(set(seen)) == 4
    with pytest.raises(InvalidArgumentError, match="page token"):
        store.tracking.search_runs(page_token="garbage")
    with pytest.raises(InvalidArgumentError, match="max_results"):
        store.tracking.search_runs(max_results=0)


def test_search_excludes_deleted_runs(store: MetadataStore, searchable: dict[str, str]) -> None:
    store.tracking.delete_run(searchable["xgb-0.95"])
    assert "xgb-0.95" not in names(store.tracking.search_runs())


def test_bad_filter_is_a_clear_error(store: MetadataStore) -> None:
    with pytest.raises(FilterSyntaxError, match="Unknown field prefix"):
        store.tracking.search_runs(filter="metric_s.auc > 1")


# -- registry ------------------------------------------------------------------------------
def register(store: MetadataStore, name: str = "fraud", run_id: str | None = None) -> int:
    v = store.registry.create_model_version(
        name,
        actor="alice",
        artifact_uri=f"{ROOT}/m",
        flavor="sklearn",
        run_id=run_id,
        files={"model.skops": "a" * 64},
        metrics={"auc": 0.9, "bad": math.nan},
    )
    return v.version


def test_registered_models(store: MetadataStore) -> None:
    m = store.registry.create_registered_model(
        "fraud", actor="alice", description="d", tags={"t": 1}
    )
    assert (m.name, m.description, dict(m.tags), m.latest_version) == (
        "fraud",
        "d",
        {"t": "1"},
        None,
    )
    with pytest.raises(AlreadyExistsError):
        store.registry.create_registered_model("fraud", actor="alice")
    with pytest.raises(InvalidArgumentError, match="Invalid model name"):
        store.registry.create_registered_model("bad name!", actor="alice")
    store.registry.update_registered_model("fraud", actor="bob", description="new")
    store.registry.set_registered_model_tag("fraud", "owner", "risk", actor="bob")
    got = store.registry.get_registered_model("fraud")
    assert got.description == "new" and got.tags["owner"] == "risk"
    with pytest.raises(NotFoundError, match="did you mean 'fraud'"):
        store.registry.get_registered_model("frau")
    assert [x.name for x in store.registry.list_registered_models()] == ["fraud"]


def test_versions_are_numbered_and_recorded(store: MetadataStore) -> None:
    run_id = new_run(store)
    assert register(store, run_id=run_id) == 1
    assert register(store) == 2
    v1 = store.registry.get_model_version("fraud", 1)
    assert v1.run_id == run_id and v1.created_by == "alice"
    assert dict(v1.files) == {"model.skops": "a" * 64}
    assert dict(v1.metrics) == {"auc": 0.9}  # NaN metrics are dropped
    assert [v.version for v in store.registry.list_model_versions("fraud")] == [1, 2]
    with pytest.raises(NotFoundError, match="versions are 1..2"):
        store.registry.get_model_version("fraud", 7)
    with pytest.raises(InvalidArgumentError, match="positive integers"):
        store.registry.get_model_version("fraud", "one")
    edges = store.audit.get_lineage(LineageNode("model_version", "fraud/1"), "upstream")
    assert edges[0].source == LineageNode("run", run_id)


def test_aliases(store: MetadataStore) -> None:
    register(store)
    register(store)
    store.registry.set_alias("fraud", "champion", 1, actor="alice")
    assert store.registry.resolve_alias("fraud", "champion").version == 1
    store.registry.set_alias("fraud", "champion", 2, actor="alice")
    assert store.registry.resolve_alias("fraud", "champion").version == 2
    assert store.registry.resolve_alias("fraud", "latest").version == 2
    assert store.registry.get_model_version("fraud", 2).aliases == ("champion",)
    for bad in ("production", "latest", "9lives", "has space", ""):
        with pytest.raises(InvalidArgumentError):
            store.registry.set_alias("fraud", bad, 1, actor="alice")
    with pytest.raises(NotFoundError, match="no version at 'nope'.*champion"):
        store.registry.resolve_alias("fraud", "nope")
    store.registry.delete_alias("fraud", "champion", actor="alice")
    with pytest.raises(NotFoundError):
        store.registry.delete_alias("fraud", "champion", actor="alice")


def test_stage_transitions_archive_the_previous_holder(store: MetadataStore) -> None:
    for _ in range(3):
        register(store)
    store.registry.transition_stage("fraud", 1, "production", actor="alice", reason="first")
    moved = store.registry.transition_stage("fraud", 2, "production", actor="bob", reason="better")
    assert [(t.version, t.from_stage, t.to_stage) for t in moved] == [
        (1, "production", "archived"),
        (2, None, "production"),
    ]
    assert store.registry.resolve_alias("fraud", "production").version == 2
    assert store.registry.get_model_version("fraud", 1).stage == "archived"
    assert store.registry.resolve_alias("fraud", "archived").version == 1
    # staging is exclusive too, and promoting the same version again is a no-op
    store.registry.transition_stage("fraud", 3, "staging", actor="carol")
    assert store.registry.transition_stage("fraud", 3, "staging", actor="carol") == []
    assert store.registry.get_registered_model("fraud").aliases["staging"] == 3
    history = store.registry.get_stage_history("fraud", stage="production")
    assert [(t.version, t.to_stage, t.actor, t.reason) for t in history] == [
        (1, "production", "alice", "first"),
        (1, "archived", "bob", "better"),
        (2, "production", "bob", "better"),
    ]
    with pytest.raises(InvalidArgumentError, match="did you mean 'production'"):
        store.registry.transition_stage("fraud", 1, "prod", actor="x")
    with pytest.raises(NotFoundError):
        store.registry.transition_stage("fraud", 9, "staging", actor="x")
    # an unknown model is an error, not an empty history
    with pytest.raises(NotFoundError, match="did you mean 'fraud'"):
        store.registry.get_stage_history("frau")


def test_every_registry_mutation_is_audited(store: MetadataStore) -> None:
    register(store)
    store.registry.set_alias("fraud", "champion", 1, actor="alice")
    store.registry.transition_stage("fraud", 1, "production", actor="bob", reason="go")
    store.registry.set_model_version_tag("fraud", 1, "k", "v", actor="carol")
    events = store.audit.list_events()
    actions = [e.action for e in reversed(events)]
    assert actions == [
        "registered_model.create",
        "model_version.create",
        "alias.set",
        "model_version.transition",
        "model_version.set_tag",
    ]
    promote = store.audit.list_events(action="model_version.transition")[0]
    assert (promote.actor, promote.object_id, promote.details["to"], promote.details["reason"]) == (
        "bob",
        "fraud/1",
        "production",
        "go",
    )


def test_a_failed_mutation_writes_no_audit_event(store: MetadataStore) -> None:
    register(store)
    before = len(store.audit.list_events())
    with pytest.raises(NotFoundError):
        store.registry.transition_stage("fraud", 5, "production", actor="x")
    with pytest.raises(InvalidArgumentError):
        store.registry.set_alias("fraud", "production", 1, actor="x")
    assert len(store.audit.list_events()) == before


def test_delete_model_keeps_history(store: MetadataStore) -> None:
    register(store)
    store.registry.transition_stage("fraud", 1, "production", actor="a")
    store.registry.delete_registered_model("fraud", actor="a")
    with pytest.raises(NotFoundError):
        store.registry.get_registered_model("fraud")
    assert store.registry.get_stage_history("fraud")
    assert store.audit.list_events(action="registered_model.delete")


def test_webhooks(store: MetadataStore) -> None:
    hook = store.registry.create_webhook(
        "http://127.0.0.1:1/h", "s3cret", actor="a", model_name="fraud"
    )
    store.registry.create_webhook("https://example.invalid/all", "s", actor="a")
    assert [w.url for w in store.registry.list_webhooks("fraud")] == [
        "http://127.0.0.1:1/h",
        "https://example.invalid/all",
    ]
    assert [w.url for w in store.registry.list_webhooks("other")] == ["https://example.invalid/all"]
    with pytest.raises(InvalidArgumentError):
        store.registry.create_webhook("ftp://x", "s", actor="a")
    store.registry.delete_webhook(hook.webhook_id, actor="a")
    with pytest.raises(NotFoundError):
        store.registry.delete_webhook(hook.webhook_id, actor="a")
