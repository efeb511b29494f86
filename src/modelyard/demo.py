"""``make demo``: the end-to-end tour on embedded defaults (SQLite, local files).

Run with ``python -m modelyard.demo`` from the repository root. Everything lands under
``MODELYARD_HOME`` (default ``./.modelyard``), so the CLI shows it afterwards: ``modelyard runs
list``, ``modelyard models versions breast-cancer``, ``modelyard pipeline runs``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
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


EXAMPLE_SPEC = Path(__file__).resolve().parents[2] / "examples" / "fraud" / "pipeline.yaml"


@_step("4. Generate card transactions")
def generate_transactions(ws: Any) -> Path:
    from modelyard.datasets import write_transactions

    path = Path(ws.settings.home) / "demo" / "transactions.parquet"
    write_transactions(path, n_rows=30_000, n_customers=1_500, days=30, seed=7)
    console.print(f"30,000 transactions over 30 days (about 1.5 % fraud) -> {path}")
    return path


def _fraud_spec(data: Path) -> dict[str, Any]:
    """examples/fraud/pipeline.yaml, on the generated data, with a demo-sized search."""
    import yaml

    if not EXAMPLE_SPEC.is_file():
        raise SystemExit(f"{EXAMPLE_SPEC} not found: run the demo from the repository root.")
    spec: dict[str, Any] = yaml.safe_load(EXAMPLE_SPEC.read_text())
    spec["data"]["source"] = str(data)
    spec["train"]["tune"]["n_trials"] = 6
    spec["evaluate"]["cross_validation"]["folds"] = 3
    return spec


@_step("5. Run the fraud pipeline (validate, tune, train, evaluate, register)")
def run_fraud_pipeline(ws: Any, data: Path) -> Any:
    from modelyard.pipeline import Reporter, StepOutcome, run

    class Printer(Reporter):
        def step_finished(self, step: str, outcome: StepOutcome) -> None:
            console.print(
                f"  {step:<10} {outcome.status:<8} {outcome.seconds:5.1f} s  {outcome.summary}"
            )

    result = run(_fraud_spec(data), workspace=ws, reporter=Printer())
    console.print(
        "held-out metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
    )
    if result.cv:
        auc = result.cv["roc_auc"]
        console.print(f"time-series CV roc_auc: {auc['mean']:.4f} +/- {auc['std']:.4f}")
    console.print(f"best params: {result.best_params}")
    console.print(f"register: {result.steps['register'].summary}")
    console.print("plots:")
    for plot in result.plots:
        console.print(f"  {plot}")
    return result


@_step("6. Run it again: unchanged steps come from the cache")
def rerun_fraud_pipeline(ws: Any, data: Path) -> None:
    from modelyard.pipeline import run

    result = run(_fraud_spec(data), workspace=ws)
    console.print(
        f"cached: {', '.join(result.cached_steps)}; {result.seconds:.2f} s in all; "
        f"register: {result.steps['register'].summary}"
    )


@_step("7. Load the fraud model by alias and score transactions")
def score_transactions(ws: Any, data: Path) -> None:
    import pandas as pd

    from modelyard.registry import RegistryClient

    model = RegistryClient(ws).load_model("models:/fraud-detector@staging")
    recent = pd.read_parquet(data).tail(3_000)  # from the held-out (latest) days
    rows = pd.concat([recent[recent.is_fraud == 1].head(3), recent[recent.is_fraud == 0].head(3)])
    proba = model.predict_proba(rows.drop(columns=["is_fraud"]))[:, 1]
    for (_, row), p in zip(rows.iterrows(), proba):
        console.print(
            f"  {row.transaction_id}  {row.amount:>8.2f}  {row.merchant_category:<13} "
            f"{row.channel:<6}  p(fraud) {p:.3f}  (actual: {'fraud' if row.is_fraud else 'ok'})"
        )


@_step("8. Serve the production model over HTTP and send a burst of live requests")
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
    data = generate_transactions(ws)
    run_fraud_pipeline(ws, data)
    rerun_fraud_pipeline(ws, data)
    score_transactions(ws, data)
    serve_live_requests(ws, tracked)
    console.rule("[bold]Summary")
    console.print(f"done in {time.perf_counter() - start:.1f} s. Look around with:")
    for cmd in (
        "modelyard runs list",
        "modelyard models versions breast-cancer",
        "modelyard models history breast-cancer",
        "modelyard serve models:/breast-cancer@production   (then open http://127.0.0.1:8080/docs)",
        "modelyard pipeline runs",
        "modelyard models versions fraud-detector",
        "modelyard pipeline run examples/fraud/pipeline.yaml   (after: modelyard datasets "
        "generate examples/fraud/data/transactions.parquet)",
        "modelyard audit",
    ):
        console.print(f"  .venv/bin/{cmd}")


if __name__ == "__main__":
    main()
