"""Steps 11-15, the loop that keeps the fraud model good in production: promote it, serve it
(features fetched online by entity id), watch it with a monitor, send live payments and their
true labels, let drift arrive, and watch the monitor alert, retrain, compare and promote —
while the server swaps to the new version by itself."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from modelyard.demo.common import (
    DRIFT_FROM,
    TRAIN_UNTIL,
    FraudProject,
    console,
    start_model_server,
    step,
    stop,
)

MODEL = "fraud-detector"
URI = f"models:/{MODEL}@production"
MONITOR = "fraud-production"
LAST_DAYS_FROM = "2026-02-07"
"""the drifted week: its first three days reach the old model, the rest the retrained one"""
REQUEST_COLUMNS = [
    "customer_id",
    "merchant_id",
    "event_ts",
    "amount",
    "merchant_category",
    "channel",
    "country",
    "device",
    "hour",
]
"""what a payment request carries: the raw payment and the entity ids (the server fetches the
customer's and the merchant's features from the online store by these ids)"""

# Drift is watched on what the payment says; the rolling features lag behind their windows in
# the first days of the history, so their reference is not what a steady stream looks like.
MONITOR_SPEC = """\
# The demo's monitor (see examples/fraud/monitor.yaml and docs/monitoring.md).
name: {name}
description: Drift, quality and latency of the production fraud model; retrain on drift.
model: {uri}
window: {{last: 1200}}
schedule: {{every: 1m}}
checks:
  drift:
    numeric: [ks, psi]
    categorical: chi2
    correction: holm
    features: [amount, merchant_category, channel, country, device, hour]
  performance: {{metrics: [roc_auc, precision, recall, f1], min_labels: 200}}
  service: {{}}
alerts:                    # fraud is rare: precision and recall defaults of 0.8 would always fire
  - roc_auc < 0.75
  - precision < 0.05
  - recall < 0.1
sinks:                     # the log sink (the default) would print every alert's JSON here
  - {{type: command, command: [{python}, {sink}, {alerts}]}}
retrain:
  on: [drift]
  pipeline: pipeline_retrain.yaml     # the fraud pipeline, with a stratified split
  data: {{source: data/training-rows.parquet}}   # its labelled entity rows: see _ingest
  metric: roc_auc
  min_improvement: 0.005
  promote_to: production
  cooldown: 1h
  evaluation: {{last: 1200, min_labels: 200}}
"""


ALERT_SINK = """\
# The demo's command sink: each alert event arrives as JSON on stdin; append it to a file.
import sys

with open(sys.argv[1], "a") as out:
    out.write(sys.stdin.read().strip() + "\\n")
"""


@dataclass
class Traffic:
    """What one batch of live payments did: answers by version, latencies, ids and labels."""

    sent: int = 0
    versions: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    feedback: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: Traffic) -> None:
        self.sent += other.sent
        for version, count in other.versions.items():
            self.versions[version] = self.versions.get(version, 0) + count
        self.latencies_ms += other.latencies_ms
        self.seconds += other.seconds
        self.feedback += other.feedback

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


@step("11. Promote the fraud model to production and serve it")
def promote_and_serve(ws: Any, project: FraudProject) -> Any:
    from modelyard.registry import RegistryClient

    registry = RegistryClient(ws)
    staged = registry.resolve(f"models:/{MODEL}@staging")
    registry.promote(MODEL, staged.version, "production", reason="demo: reviewed and approved")
    console.print(f"{MODEL} v{staged.version}: staging -> production")
    import json
    import sys

    sink = project.root / "alert_sink.py"
    sink.write_text(ALERT_SINK)
    project.monitor.write_text(
        MONITOR_SPEC.format(
            name=MONITOR,
            uri=URI,
            python=json.dumps(sys.executable),
            sink=json.dumps(str(sink)),
            alerts=json.dumps(str(project.alerts)),
        )
    )
    from modelyard.monitoring import apply_monitors

    for applied in apply_monitors(ws, project.monitor):
        console.print(f"monitor {applied.name} v{applied.version} {applied.status}: watches {URI}")
    return staged.version


@contextmanager
def model_server(ws: Any) -> Iterator[str]:
    """The model server for ``models:/fraud-detector@production`` in its own process."""
    server, base = start_model_server(ws.settings.home, URI, "--features-as-of", "event_ts")
    console.print(
        f"modelyard serve {URI} --features-as-of event_ts -> {base} (follows the alias as it "
        "moves; reads each payment's features as of its time)"
    )
    try:
        yield base
    finally:
        stop(server)


def _live(
    ws: Any, project: FraudProject, base: str, start: str, end: str | None, n: int
) -> Traffic:
    """``n`` payments of [start, end) of the generated stream scored live, in time order, as a
    payment processor would: every payment up to a moment is ingested (the feature views'
    source) and materialized online before the payments of that moment are scored. The server
    reads the features as of each payment's time (``--features-as-of event_ts``), so a month-old
    replay sees them as the model was trained on them. (With Redis, the streaming processor
    keeps the online store current instead.)"""
    import pandas as pd

    from modelyard.features import FeatureStore

    stream = pd.read_parquet(project.stream)
    t0 = pd.Timestamp(start)
    t1 = pd.Timestamp(end) if end else stream.event_ts.max() + pd.Timedelta(seconds=1)
    period = stream[(stream.event_ts >= t0) & (stream.event_ts < t1)]
    chosen = period.sample(min(n, len(period)), random_state=0).sort_values("event_ts")
    served = set(chosen.transaction_id)
    if project.served.is_file():
        served |= set(pd.read_parquet(project.served).transaction_id)
    pd.DataFrame({"transaction_id": sorted(served)}).to_parquet(project.served, index=False)
    store, traffic, since = FeatureStore(ws), Traffic(), t0
    for _, chunk in chosen.groupby(pd.RangeIndex(len(chosen)) // 40):
        now = chunk.event_ts.max()
        _ingest(project, stream[stream.event_ts <= now], served)
        store.materialize(since, now)
        traffic.add(_send(base, chunk))
        since = now
    _ingest(project, stream[stream.event_ts < t1], served)
    store.materialize(since, t1)
    return traffic


def _ingest(project: FraudProject, payments: Any, served: set[str]) -> None:
    """The payments known so far (the feature views' source) and, for retraining, those of
    them the server did not score."""
    payments.to_parquet(project.data, index=False)
    rows = payments[~payments.transaction_id.isin(served)]
    rows.to_parquet(project.training_rows, index=False)


def _send(base: str, payments: Any, concurrency: int = 8) -> Traffic:
    """One-row requests from ``concurrency`` threads; each answer's id is kept with the
    payment's true label (sent as feedback later, as a chargeback would arrive)."""
    import httpx

    url = f"{base}/v1/models/{MODEL}/predict"
    rows = payments[REQUEST_COLUMNS].copy()
    rows["event_ts"] = rows.event_ts.dt.strftime("%Y-%m-%dT%H:%M:%S")
    records = rows.to_dict("records")
    labels = payments.is_fraud.tolist()
    traffic = Traffic(sent=len(records))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(limits=limits, timeout=30) as client:

        def one(i: int) -> tuple[float, dict[str, Any]]:
            start = time.perf_counter()
            answer = client.post(url, json={"instances": [records[i]]})
            answer.raise_for_status()
            return (time.perf_counter() - start) * 1000, answer.json()

        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(one, range(len(records))))
        traffic.seconds = time.perf_counter() - start
    for (ms, body), label in zip(results, labels):
        traffic.latencies_ms.append(ms)
        traffic.versions[body["version"]] = traffic.versions.get(body["version"], 0) + 1
        traffic.feedback.append({"prediction_id": body["prediction_ids"][0], "label": int(label)})
    return traffic


def _feedback(base: str, traffic: Traffic) -> None:
    import httpx

    body = {"feedback": traffic.feedback, "model": MODEL}
    answer = httpx.post(f"{base}/v1/feedback", json=body, timeout=60)
    answer.raise_for_status()
    result = answer.json()
    console.print(
        f"POST /v1/feedback: {result['accepted']} true labels stored "
        f"({result['unknown']} unknown ids, {result['refused_count']} refused)"
    )


def _print_traffic(traffic: Traffic) -> None:
    versions = ", ".join(f"v{v}: {n}" for v, n in sorted(traffic.versions.items()))
    console.print(
        f"live payments: {traffic.sent} answered ({versions}); p50 {traffic.percentile(0.5):.1f} "
        f"ms, p99 {traffic.percentile(0.99):.1f} ms, {traffic.sent / traffic.seconds:,.0f} req/s "
        "from 8 client threads (features read online per request; benchmarks/serving.py "
        "measures the server alone)"
    )


def _print_check(outcome: Any) -> None:
    check = outcome.check
    if check is None:
        console.print(f"monitor run failed: {outcome.error}")
        return
    drift = check.drift or {}
    drifted = [f["feature"] for f in drift.get("features", []) if f.get("drifted")]
    auc, p95 = check.metric("roc_auc"), check.metric("latency_p95_ms")
    console.print(
        f"monitor {check.monitor}: {check.status} on {check.n_predictions} predictions "
        f"({check.n_labelled} labelled) of v{check.model_version}: roc_auc "
        f"{_num(auc)}, latency p95 {_num(p95, 1)} ms, drifted features: "
        f"{', '.join(drifted) or 'none'}"
    )
    by_version = {
        m["version"]: m["value"]
        for m in check.metrics
        if m["metric"] == "roc_auc" and m.get("version") is not None and m["value"] is not None
    }
    if len(by_version) > 1:
        console.print(
            "  roc_auc by version: "
            + ", ".join(f"v{v} {_num(value)}" for v, value in sorted(by_version.items()))
        )
    for change in outcome.changes:
        a = change.alert
        console.print(f"  alert {change.change}: [{a.severity}] {a.rule} (value {_num(a.value)})")


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


@step("12. Live traffic before the drift: payments scored, labels fed back, monitor quiet")
def quiet_period(ws: Any, project: FraudProject, base: str) -> None:
    from modelyard.monitoring import run_monitor

    traffic = _live(ws, project, base, TRAIN_UNTIL, DRIFT_FROM, 1200)
    _print_traffic(traffic)
    _feedback(base, traffic)
    _print_check(run_monitor(ws, MONITOR))


@step("13. Drift arrives: bigger amounts, new categories, a new fraud pattern")
def drifted_period(ws: Any, project: FraudProject, base: str) -> Any:
    from modelyard.monitoring import run_monitor

    traffic = _live(ws, project, base, DRIFT_FROM, LAST_DAYS_FROM, 1200)
    _print_traffic(traffic)
    _feedback(base, traffic)
    console.print("monitor run: checks, alerts, and the retrain policy on an open drift alert")
    outcome = run_monitor(ws, MONITOR)
    _print_check(outcome)
    record = outcome.retrain
    if record is None:
        console.print("no retrain was started")
        return None
    console.print(
        f"retrain {record.retrain_id} ({record.trigger}): pipeline run {record.run_id} "
        f"registered v{record.challenger_version}; on the same {record.n_rows} labelled live "
        f"payments {record.metric} champion v{record.champion_version} "
        f"{_num(record.champion_value)} vs challenger {_num(record.challenger_value)} -> "
        f"{record.status}"
    )
    console.print(f"  why: {record.reason}")
    return record


@step("14. The server follows the registry: the new champion answers the next days")
def new_champion_answers(ws: Any, project: FraudProject, base: str, record: Any) -> None:
    from modelyard.monitoring import run_monitor
    from modelyard.registry import RegistryClient

    champion = RegistryClient(ws).resolve(URI).version
    console.print(f"{URI} is v{champion} now; the server polls the registry and swaps by itself")
    traffic = _live(ws, project, base, LAST_DAYS_FROM, None, 1200)
    _print_traffic(traffic)
    _feedback(base, traffic)
    _print_check(run_monitor(ws, MONITOR, retrain=False))
    console.print(
        "(drift against v2's reference can hold on: most of its training payments are from "
        "before the drift; the alert stays open while it holds, and the retrain cooldown keeps "
        "one drift from starting a retrain at every check)"
    )


@step("15. Lineage and reports")
def lineage_and_reports(ws: Any, project: FraudProject, record: Any) -> None:
    from modelyard.monitoring import write_monitor_report

    report = write_monitor_report(ws, MONITOR, project.root / f"{MONITOR}-report.html")
    console.print(f"monitor report (one HTML file, opens offline): {report}")
    if record is None:
        return
    from modelyard.entities import LineageNode

    retrain = LineageNode("retrain", str(record.retrain_id))
    for edge in ws.metadata.audit.get_lineage(retrain, "upstream"):
        if edge.source.kind == "alert":
            console.print(
                f"  alert {edge.source.id} --{edge.relation}--> retrain {record.retrain_id}"
            )
    for edge in ws.metadata.audit.get_lineage(retrain, "downstream"):
        console.print(
            f"  {edge.source.kind} {edge.source.id} --{edge.relation}--> "
            f"{edge.target.kind} {edge.target.id}"
        )
    if project.alerts.is_file():
        events = project.alerts.read_text().splitlines()
        console.print(
            f"{len(events)} alert event(s) delivered to the command sink: {project.alerts}"
        )
