"""Steps 1-3: track a scikit-learn model, register the best run, promote it, load it by alias."""

from __future__ import annotations

from typing import Any

from modelyard.demo.common import console, step


@step("1. Track a scikit-learn model")
def track_sklearn(ws: Any) -> dict[str, Any]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard.tracking import TrackingClient

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    client = TrackingClient(ws)
    results = {}
    for c in (0.05, 1.0):
        with client.start_run("breast-cancer", f"logreg-C{c}") as run:
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
            model.fit(X_train, y_train)
            proba = model.predict_proba(X_test)[:, 1]
            run.log_params({"model": "logistic_regression", "C": c})
            run.log_input(X_train, source="sklearn.datasets.load_breast_cancer", name="train")
            auc = roc_auc_score(y_test, proba)
            run.log_metrics({"roc_auc": auc, "accuracy": accuracy_score(y_test, proba > 0.5)})
            logged = run.log_model(model, "model", sample=X_train.head(50))
            results[logged.uri] = auc
            console.print(f"run {run.run_id}  C={c}  roc_auc={auc:.4f}")
    return {"X_test": X_test, "runs": results}


@step("2. Register the best run and promote it to production")
def register_and_promote(ws: Any, tracked: dict[str, Any]) -> Any:
    from modelyard.registry import RegistryClient
    from modelyard.tracking import TrackingClient

    best = TrackingClient(ws).search_runs(
        "breast-cancer", "attributes.status = 'FINISHED'", "metrics.roc_auc desc", max_results=1
    )[0]
    console.print(f"best run by roc_auc: {best.name} ({best.metrics['roc_auc']:.4f})")
    registry = RegistryClient(ws)
    version = registry.register_model(
        f"runs:/{best.run_id}/model", "breast-cancer", description="demo: logistic regression"
    )
    registry.promote(
        "breast-cancer", version.version, "staging", reason="best roc_auc of the sweep"
    )
    registry.promote("breast-cancer", version.version, "production", reason="demo approval")
    console.print(f"registered breast-cancer v{version.version} and promoted it to production")
    return version


@step("3. Load by alias and predict")
def load_and_predict(ws: Any, tracked: dict[str, Any]) -> None:
    from modelyard.registry import RegistryClient

    model = RegistryClient(ws).load_model("models:/breast-cancer@production")
    sample = tracked["X_test"].head(5)
    proba = model.predict_proba(sample)[:, 1]
    console.print(f"flavor={model.flavor}  predictions={model.predict(sample).tolist()}")
    console.print("probabilities=" + ", ".join(f"{p:.3f}" for p in proba))
