"""``make demo``: the end-to-end tour on embedded defaults (SQLite, local files).

Run with ``python -m modelyard.demo`` from the repository root. Everything lands under
``MODELYARD_HOME`` (default ``./.modelyard``), so the CLI shows it afterwards: ``modelyard runs
list``, ``modelyard models versions breast-cancer``, ``modelyard pipeline runs``, ``modelyard
features list``.

Steps 1-3 track, register and load a scikit-learn model. Steps 4-10 are the fraud project of
``examples/fraud``: generate payments, define and materialize features, train the fraud
pipeline on point-in-time features, re-run it from the cache, score payments with features
read online and the model loaded by alias, and check offline/online parity.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console(highlight=False)


def _step(title: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            console.rule(f"[bold]{title}")
            start = time.perf_counter()
            result = func(*args, **kwargs)
            console.print(f"[dim]{title}: {time.perf_counter() - start:.1f} s[/]")
            return result

        return run

    return wrap


@_step("1. Track a scikit-learn model")
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


@_step("2. Register the best run and promote it to production")
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


@_step("3. Load by alias and predict")
def load_and_predict(ws: Any, tracked: dict[str, Any]) -> None:
    from modelyard.registry import RegistryClient

    model = RegistryClient(ws).load_model("models:/breast-cancer@production")
    sample = tracked["X_test"].head(5)
    proba = model.predict_proba(sample)[:, 1]
    console.print(f"flavor={model.flavor}  predictions={model.predict(sample).tolist()}")
    console.print("probabilities=" + ", ".join(f"{p:.3f}" for p in proba))


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "fraud"
EXAMPLE_SPEC = EXAMPLES / "pipeline_features.yaml"
EXAMPLE_FEATURES = EXAMPLES / "features.py"


@dataclass(frozen=True)
class FraudProject:
    """The demo's copy of examples/fraud: definitions, spec and generated data, side by side
    (the feature views read ``data/transactions.parquet`` next to ``features.py``)."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data" / "transactions.parquet"

    @property
    def features(self) -> Path:
        return self.root / "features.py"


@_step("4. Generate card transactions")
def generate_transactions(ws: Any) -> FraudProject:
    import shutil

    from modelyard.datasets import write_transactions

    for example in (EXAMPLE_SPEC, EXAMPLE_FEATURES):
        if not example.is_file():
            raise SystemExit(f"{example} not found: run the demo from the repository root.")
    project = FraudProject(Path(ws.settings.home) / "demo" / "fraud")
    project.root.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE_FEATURES, project.features)
    write_transactions(project.data, n_rows=30_000, n_customers=1_500, days=30, seed=7)
    console.print(f"30,000 transactions over 30 days (about 1.5 % fraud) -> {project.data}")
    return project


@_step("5. Define features: apply examples/fraud/features.py")
def apply_features(ws: Any, project: FraudProject) -> None:
    from modelyard.features import FeatureStore

    for applied in FeatureStore(ws).apply(project.features):
        kind = applied.kind.replace("_", " ")
        console.print(f"  {kind:<16} {applied.name:<16} v{applied.version}  {applied.status}")


def _data_span(project: FraudProject) -> tuple[Any, Any]:
    """The first and last payment's times; the last is the demo's "now"."""
    import pyarrow.parquet as pq

    times = pq.read_table(project.data, columns=["event_ts"]).column(0).to_pandas()
    return times.min(), times.max()


@_step("6. Materialize the features into the online store")
def materialize_features(ws: Any, project: FraudProject) -> None:
    from modelyard.features import FeatureStore

    start, end = _data_span(project)
    done = FeatureStore(ws).materialize(start, end)
    for m in done:
        console.print(f"  {m.view:<16} {m.rows:>6,} entities online")
    console.print(
        f"materialized up to {end} (the demo's now), online store: {ws.settings.online_uri}"
    )


def _fraud_spec() -> dict[str, Any]:
    """examples/fraud/pipeline_features.yaml with a demo-sized search (fewer, smaller trees)."""
    import yaml

    spec: dict[str, Any] = yaml.safe_load(EXAMPLE_SPEC.read_text())
    spec["train"]["tune"]["n_trials"] = 6
    spec["train"]["tune"]["space"]["num_leaves"] = [15, 63]
    spec["evaluate"]["cross_validation"]["folds"] = 3
    return spec


@_step("7. Run the fraud pipeline on point-in-time features (validate, tune, train, register)")
def run_fraud_pipeline(ws: Any, project: FraudProject) -> Any:
    from modelyard.pipeline import Reporter, StepOutcome, run

    class Printer(Reporter):
        def step_finished(self, step: str, outcome: StepOutcome) -> None:
            console.print(
                f"  {step:<10} {outcome.status:<8} {outcome.seconds:5.1f} s  {outcome.summary}"
            )

    result = run(_fraud_spec(), workspace=ws, reporter=Printer(), base_dir=str(project.root))
    console.print(
        "held-out metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
    )
    if result.cv:
        auc = result.cv["roc_auc"]
        console.print(f"time-series CV roc_auc: {auc['mean']:.4f} +/- {auc['std']:.4f}")
    console.print(f"best params: {result.best_params}")
    console.print(f"register: {result.steps['register'].summary}")
    lineage = ws.metadata.audit.get_lineage(_node("run", result.run_id))
    views = sorted(e.source.id for e in lineage if e.source.kind == "feature_view")
    console.print(f"lineage: feature views {', '.join(views)} -> run {result.run_id}")
    console.print("plots:")
    for plot in result.plots:
        console.print(f"  {plot}")
    return result


def _node(kind: str, node_id: str) -> Any:
    from modelyard.entities import LineageNode

    return LineageNode(kind, node_id)


@_step("8. Run it again: unchanged steps come from the cache")
def rerun_fraud_pipeline(ws: Any, project: FraudProject) -> None:
    from modelyard.pipeline import run

    result = run(_fraud_spec(), workspace=ws, base_dir=str(project.root))
    console.print(
        f"cached: {', '.join(result.cached_steps)}; {result.seconds:.2f} s in all; "
        f"register: {result.steps['register'].summary}"
    )


@_step("9. Score payments: features read online, the model loaded by alias")
def score_with_online_features(ws: Any, project: FraudProject) -> None:
    import pandas as pd

    from modelyard.features import FeatureStore
    from modelyard.pipeline import FEATURE_SERVICE_TAG
    from modelyard.registry import RegistryClient

    registry = RegistryClient(ws)
    uri = "models:/fraud-detector@staging"
    version, model = registry.resolve(uri), registry.load_model(uri)
    service = version.tags[FEATURE_SERVICE_TAG]  # the model version says what it needs
    keys = version.tags["modelyard.features.join_keys"].split(",")
    console.print(f"{uri} is v{version.version}; it needs feature service {service!r} by {keys}")
    tx = pd.read_parquet(project.data)
    end = tx.event_ts.max()
    # each customer's latest payment: the online store holds its features as of that payment
    latest = tx.groupby("customer_id").tail(1)
    latest = latest[latest.event_ts > end - pd.Timedelta(days=3)]
    rows = pd.concat([latest[latest.is_fraud == 1].tail(3), latest[latest.is_fraud == 0].tail(3)])
    online = FeatureStore(ws).get_online_features(service, rows[keys].to_dict("records"), now=end)
    features = online.to_frame()
    request = pd.concat([rows.reset_index(drop=True), features], axis=1)
    assert model.signature is not None
    proba = model.predict_proba(request[model.signature.input_names])[:, 1]
    statuses = {s for row in online.statuses for s in row}
    console.print(
        f"{len(online.feature_names)} features for {len(rows)} payments read online as of "
        f"{end} (statuses: {', '.join(sorted(statuses))})"
    )
    for (_, row), (_, feats), p in zip(request.iterrows(), features.iterrows(), proba):
        console.print(
            f"  {row.transaction_id} {row.customer_id} {row.amount:>8.2f} "
            f"{row.merchant_category:<13} tx_1h {feats.tx_count_1h:>2.0f}  spend_24h "
            f"{feats.amount_sum_1d:>8.2f}  merchant_fraud_30d {_rate(feats.fraud_rate_30d)}  "
            f"p(fraud) {p:.3f}  (actual: {'fraud' if row.is_fraud else 'ok'})"
        )


def _rate(value: Any) -> str:
    import math

    return "  n/a" if value is None or math.isnan(value) else f"{value:5.3f}"


@_step("10. Check training-serving parity: offline point-in-time vs online values")
def check_feature_parity(ws: Any) -> Any:
    from modelyard.features import FeatureStore

    report = FeatureStore(ws).check_parity("fraud_features", sample=200)
    console.print(
        f"{report.entities} entities, {report.compared} values compared: "
        f"{len(report.mismatches)} mismatches"
    )
    for m in report.mismatches[:10]:
        console.print(
            f"  {m.view} {m.entity} {m.feature}: offline {m.offline!r} online {m.online!r} "
            f"({m.online_status})"
        )
    return report


@_step("11. Serve the production model over HTTP and send a burst of live requests")
def serve_live_requests(
    ws: Any, tracked: dict[str, Any], n: int = 400, concurrency: int = 16
) -> None:
    """``modelyard serve`` in its own process on a free port; one-row requests from 16 threads."""
    import json
    import signal

    import httpx

    server, base = _start_model_server(ws, "models:/breast-cancer@production")
    url = f"{base}/v1/models/breast-cancer/predict"
    rows = json.loads(tracked["X_test"].to_json(orient="records"))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    try:
        with httpx.Client(limits=limits, timeout=30) as client:  # thread-safe, keep-alive
            first = client.post(url, json={"instances": rows[:2]})
            body = first.json()
            console.print(
                f"POST /v1/models/breast-cancer/predict -> {first.status_code}: version "
                f"{body['version']}, predictions {body['predictions']}, p(class 1) "
                + ", ".join(f"{p[1]:.3f}" for p in body["probabilities"])
            )
            latencies, seconds = _burst(client, url, rows, n, concurrency)
        console.print(
            f"live requests: {n} answered from {concurrency} threads, p50 "
            f"{latencies[n // 2]:.1f} ms, p99 {latencies[int(n * 0.99) - 1]:.1f} ms, "
            f"{n / seconds:,.0f} req/s (a Python client in this process: benchmarks/serving.py "
            "measures the server with wrk)"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    logged = ws.logs.read("predictions", partition={"model": "breast-cancer"})
    console.print(
        f"prediction log: {logged.num_rows if logged is not None else 0} rows under "
        f"{ws.settings.logs_uri}/predictions/model=breast-cancer/ (flushed at the stop)"
    )


def _start_model_server(ws: Any, uri: str) -> tuple[Any, str]:
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli.main", "--home", ws.settings.home, "serve", uri,
         "--port", str(port), "--no-access-log", "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not _healthy(base):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit("the model server did not start; see the messages above")
        time.sleep(0.2)
    return server, base


def _burst(
    client: Any, url: str, rows: list[dict[str, Any]], n: int, concurrency: int
) -> tuple[list[float], float]:
    """``n`` one-row requests from ``concurrency`` threads: sorted latencies (ms), seconds."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> float:
        start = time.perf_counter()
        client.post(url, json={"instances": [rows[i % len(rows)]]}).raise_for_status()
        return (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(one, range(n)))
    return latencies, time.perf_counter() - start


def _healthy(base: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m modelyard.demo", description=__doc__)
    parser.add_argument("--home", help="MODELYARD_HOME for the demo (default: ./.modelyard)")
    args = parser.parse_args(argv)

    from modelyard.config import Settings
    from modelyard.storage import Workspace

    ws = Workspace(Settings.resolve(home=args.home))
    start = time.perf_counter()
    console.print(f"[bold]modelyard demo[/] — home: {ws.settings.home}")
    tracked = track_sklearn(ws)
    register_and_promote(ws, tracked)
    load_and_predict(ws, tracked)
    project = generate_transactions(ws)
    apply_features(ws, project)
    materialize_features(ws, project)
    run_fraud_pipeline(ws, project)
    rerun_fraud_pipeline(ws, project)
    score_with_online_features(ws, project)
    check_feature_parity(ws)
    serve_live_requests(ws, tracked)
    console.rule("[bold]Summary")
    console.print(f"done in {time.perf_counter() - start:.1f} s. Look around with:")
    for cmd in (
        "modelyard runs list",
        "modelyard models versions breast-cancer",
        "modelyard models history breast-cancer",
        "modelyard pipeline runs",
        "modelyard models versions fraud-detector",
        "modelyard features list",
        "modelyard features get --service fraud_features -e customer_id=c000042 "
        "-e merchant_id=m00007 --at 2026-01-30T23:00:00",
        "modelyard features check-parity --service fraud_features",
        "modelyard audit",
    ):
        console.print(f"  .venv/bin/{cmd}")


if __name__ == "__main__":
    main()
